package cliutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
)

// PrimarySite is the name hafs-mkfs --bucket gives the bucket it records.
const PrimarySite = "primary"

// OpenRouter opens the object store sites of filesystem m behind one
// router, or returns nil when m keeps every body in the metadata store.
func OpenRouter(ctx context.Context, m *meta.FS, log *slog.Logger) (*routing.Router, error) {
	if m.Layout() == nil {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	return routing.NewRouter(ctx, m, routing.RouterOptions{
		ObjectKey: s3tier.ObjectKey, ParseKey: s3tier.ParseObjectKey, Logger: log})
}

// DataPath returns filesystem m's data path and, when it has an object
// store, the router over its sites (every primary checked to answer); the
// caller runs the router's background work.
func DataPath(ctx context.Context, m *meta.FS, opts s3tier.Options, log *slog.Logger) (*s3tier.Tier, *routing.Router, error) {
	r, err := OpenRouter(ctx, m, log)
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = log
	if r == nil {
		t, err := s3tier.New(m, nil, opts)
		return t, nil, err
	}
	if err := r.Health(ctx); err != nil {
		// A site that refuses us, or whose bucket is gone, is a mistake to
		// fix before mounting. One that does not answer is an outage: in a
		// cluster nodes restart during outages, so the mount goes on;
		// reads fail over to the other sites and writes fail with EIO
		// until the primary is back.
		if errors.Is(err, routing.ErrRefused) || errors.Is(err, routing.ErrNotFound) {
			return nil, nil, fmt.Errorf("object store: %w", err)
		}
		log.Warn("mounting while a primary site is down: reads go to the other sites, writes fail with EIO until it is back", "err", err)
	}
	if err := r.Acknowledge(ctx); err != nil {
		return nil, nil, fmt.Errorf("object store: %w", err)
	}
	// A primary that is a local directory makes df report its disk.
	for _, si := range r.Sites() {
		if d, ok := si.Store.(*routing.Dir); ok && si.Role == routing.RolePrimary {
			m.SetBodyDisk(d.Free)
			break
		}
	}
	opts.CacheDir = resolveCacheDir(opts.CacheDir, m, r, log)
	t, err := s3tier.New(m, r, opts)
	return t, r, err
}

// AutoCacheDir is the --cache-dir that picks the disk cache's place.
const AutoCacheDir = "auto"

// resolveCacheDir turns AutoCacheDir into a directory of this machine's
// cache for filesystem m (by its UUID, so two filesystems never share one:
// /var/cache/hafs/UUID for root, $XDG_CACHE_HOME/hafs/UUID when that is set
// or for other users, ~/.cache/hafs/UUID without it),
// or into "" (no disk cache) when m's primary site is a local directory:
// its bodies are on a local disk already. A place that cannot be made only
// costs the cache, not the mount.
func resolveCacheDir(dir string, m *meta.FS, r *routing.Router, log *slog.Logger) string {
	if dir != AutoCacheDir {
		return dir
	}
	for _, si := range r.Sites() {
		if _, local := si.Store.(*routing.Dir); local && si.Role == routing.RolePrimary {
			return ""
		}
	}
	base := "/var/cache/hafs"
	if os.Geteuid() != 0 || os.Getenv("XDG_CACHE_HOME") != "" {
		home, err := os.UserCacheDir() // $XDG_CACHE_HOME, or ~/.cache
		if err != nil {
			log.Warn("no disk cache: no cache directory for this user", "err", err)
			return ""
		}
		base = filepath.Join(home, "hafs")
	}
	dir = filepath.Join(base, m.Superblock().UUID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Warn("no disk cache: cannot make its directory (set --cache-dir)", "dir", dir, "err", err)
		return ""
	}
	return dir
}
