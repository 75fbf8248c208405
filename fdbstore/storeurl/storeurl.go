// Package storeurl turns a store URL into an open fdbstore.Store. It is the
// one parser every HAFS binary uses, so a URL means the same everywhere:
//
//	sqlite:///var/lib/hafs/meta.db          embedded store (the default)
//	fdb:///etc/foundationdb/fdb.cluster     FoundationDB (builds with -tags fdb)
//	fdb://                                  FoundationDB, default cluster file
//	  ?prefix=NAME                          every key in the subspace NAME
//	etcd://HOST:PORT[,HOST:PORT...]/PREFIX  etcd; every key under PREFIX
//	  ?cacert=FILE&cert=FILE&key=FILE       TLS (https) to the members
//	  &max-txn-ops=N&max-request-bytes=N    the server's limits, if raised
//
// etcd credentials come from HAFS_ETCD_USER and HAFS_ETCD_PASSWORD, never
// from the URL, so they appear in no process list, log or mount table.
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	// Scheme is "sqlite", "fdb" or "etcd".
	Scheme string
	// Path is the database file (sqlite), the cluster file (fdb, may be
	// "") or the key prefix (etcd, starting with "/").
	Path string
	// Endpoints are etcd's member addresses.
	Endpoints []string
	// CACert, Cert and Key are etcd's TLS files, when given.
	CACert, Cert, Key string
	// Prefix names the FoundationDB subspace of the filesystem ("": the
	// whole user keyspace).
	Prefix string
	// MaxTxnOps and MaxRequestBytes are the etcd server's limits when
	// raised from etcd's defaults (0: the defaults).
	MaxTxnOps, MaxRequestBytes int
	// QuotaBackendBytes is the etcd server's --quota-backend-bytes when
	// not etcd's default (0: the default, 2 GiB): what statfs reports.
	QuotaBackendBytes int64
	// ProbeInterval is how often an etcd client asks each member whether
	// it answers (0: etcdstore's default); keep it well under the session
	// expiry, a twentieth or less.
	ProbeInterval time.Duration
}

// String returns the URL form of s.
func (s Spec) String() string {
	if s.Scheme == "fdb" && s.Prefix != "" {
		return s.Scheme + "://" + s.Path + "?" + url.Values{"prefix": {s.Prefix}}.Encode()
	}
	if s.Scheme != "etcd" {
		return s.Scheme + "://" + s.Path
	}
	q := url.Values{}
	for k, v := range map[string]string{"cacert": s.CACert, "cert": s.Cert, "key": s.Key} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]int{"max-txn-ops": s.MaxTxnOps, "max-request-bytes": s.MaxRequestBytes} {
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	}
	if s.QuotaBackendBytes != 0 {
		q.Set("quota-backend-bytes", strconv.FormatInt(s.QuotaBackendBytes, 10))
	}
	if s.ProbeInterval != 0 {
		q.Set("probe-interval", s.ProbeInterval.String())
	}
	out := "etcd://" + strings.Join(s.Endpoints, ",") + s.Path
	if len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out
}

// Parse checks a store URL without opening anything.
func Parse(raw string) (Spec, error) {
	if raw == "" {
		raw = Default
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Spec{}, fmt.Errorf("store URL %q: %w", raw, err)
	}
	if u.Scheme == "etcd" {
		return parseEtcd(raw, u)
	}
	if u.Opaque != "" {
		return Spec{}, fmt.Errorf("store URL %q: want %s:///absolute/path", raw, u.Scheme)
	}
	if u.Scheme == "fdb" {
		return parseFDB(raw, u)
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
	case "":
		return Spec{}, fmt.Errorf("store URL %q: missing scheme; want sqlite:///path, fdb:///cluster-file or etcd://host:port/prefix", raw)
	default:
		return Spec{}, fmt.Errorf("store URL %q: unknown scheme %q; want sqlite, fdb or etcd", raw, u.Scheme)
	}
}

// parseFDB checks fdb:///absolute/path/to/fdb.cluster[?prefix=NAME].
func parseFDB(raw string, u *url.URL) (Spec, error) {
	if u.Host != "" || u.User != nil || u.Fragment != "" || (u.Path != "" && !filepath.IsAbs(u.Path)) {
		return Spec{}, fmt.Errorf("store URL %q: want fdb:///absolute/path/to/fdb.cluster[?prefix=NAME]", raw)
	}
	q := u.Query()
	for k := range q {
		if k != "prefix" {
			return Spec{}, fmt.Errorf("store URL %q: unknown parameter %q; want prefix", raw, k)
		}
	}
	if q.Has("prefix") && q.Get("prefix") == "" {
		return Spec{}, fmt.Errorf("store URL %q: empty prefix; leave it out to use the whole keyspace", raw)
	}
	return Spec{Scheme: "fdb", Path: u.Path, Prefix: q.Get("prefix")}, nil
}

// Open parses raw and opens the store it names.
func Open(ctx context.Context, raw string, opts Options) (fdbstore.Store, error) {
	spec, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	switch spec.Scheme {
	case "etcd":
		return openEtcd(ctx, spec, opts.Options)
	case "fdb":
		if !fdbBuilt {
			return openFDB(spec, opts.Options)
		}
		s, err := openFDB(spec, opts.Options)
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
