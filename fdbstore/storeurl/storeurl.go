// Package storeurl turns a store URL into an open fdbstore.Store. It is the
// one parser every HAFS binary uses, so a URL means the same everywhere:
//
//	sqlite:///var/lib/hafs/meta.db          embedded store (the default)
//	fdb:///etc/foundationdb/fdb.cluster     FoundationDB (builds with -tags fdb)
//	fdb://                                  FoundationDB, default cluster file
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

// Default is the store used when none is given: the embedded engine in the
// conventional state directory.
const Default = "sqlite:///var/lib/hafs/meta.db"

// Options shape how a store is opened.
type Options struct {
	fdbstore.Options
	// Create makes a missing embedded store (and its directory). Tools that
	// only read or join an existing filesystem leave it false, so a typo in
	// a path is an error rather than a new empty store.
	Create bool
}

// Spec is a parsed store URL.
type Spec struct {
	// Scheme is "sqlite" or "fdb".
	Scheme string
	// Path is the database file (sqlite) or cluster file (fdb, may be "").
	Path string
}

// String returns the URL form of s.
func (s Spec) String() string { return s.Scheme + "://" + s.Path }

// Parse checks a store URL without opening anything.
func Parse(raw string) (Spec, error) {
	if raw == "" {
		raw = Default
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Spec{}, fmt.Errorf("store URL %q: %w", raw, err)
	}
	if u.Opaque != "" {
		return Spec{}, fmt.Errorf("store URL %q: want %s:///absolute/path", raw, u.Scheme)
	}
	if u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Spec{}, fmt.Errorf("store URL %q: want SCHEME:///absolute/path (no host, query or fragment)", raw)
	}
	switch u.Scheme {
	case "sqlite":
		if !filepath.IsAbs(u.Path) || strings.HasSuffix(u.Path, "/") {
			return Spec{}, fmt.Errorf("store URL %q: want sqlite:///absolute/path/to/meta.db", raw)
		}
		return Spec{Scheme: "sqlite", Path: filepath.Clean(u.Path)}, nil
	case "fdb":
		if u.Path != "" && !filepath.IsAbs(u.Path) {
			return Spec{}, fmt.Errorf("store URL %q: want fdb:///absolute/path/to/fdb.cluster", raw)
		}
		return Spec{Scheme: "fdb", Path: u.Path}, nil
	case "":
		return Spec{}, fmt.Errorf("store URL %q: missing scheme; want sqlite:///path or fdb:///cluster-file", raw)
	default:
		return Spec{}, fmt.Errorf("store URL %q: unknown scheme %q; want sqlite or fdb", raw, u.Scheme)
	}
}

// Open parses raw and opens the store it names.
func Open(ctx context.Context, raw string, opts Options) (fdbstore.Store, error) {
	spec, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	switch spec.Scheme {
	case "fdb":
		if !fdbBuilt {
			return openFDB(spec.Path, opts.Options)
		}
		s, err := openFDB(spec.Path, opts.Options)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		return s, nil
	default:
		if opts.Create {
			if err := os.MkdirAll(filepath.Dir(spec.Path), 0o755); err != nil {
				return nil, fmt.Errorf("open store %s: %w", spec, err)
			}
		}
		s, err := sqlitestore.Open(ctx, spec.Path, sqlitestore.Options{Options: opts.Options, Create: opts.Create})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
