package routing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hafs/hafs/internal/directio"
	"golang.org/x/sys/unix"
)

// Dir is an ObjectStore on a local directory: a site of type file://DIR.
// It is what hafs-mkfs gives the embedded default store, so that a big
// file on one machine is a few block files on disk instead of thousands of
// 64 KiB rows in SQLite. The objects are the same immutable, checksummed
// slices as on S3, with the same gc, fsck and replication; a directory on
// a shared filesystem (NFS) can serve several machines.
//
// An object is written to a temporary file, synced, renamed into place and
// its directory synced: once Put returns it survives a crash, which the
// rule "upload before commit" needs. A crash mid-Put leaves only a file
// under tmp/, which OpenDir removes once it is old enough that no Put can
// still be writing it.
type Dir struct {
	root string // absolute, cleaned
	site Site

	mu   sync.Mutex
	made map[string]bool // parent directories known to exist, guarded by mu

	// files keeps the objects read last open: objects never change and
	// keys are never reused, so a descriptor stays good until Delete.
	files *directio.Files
}

// dirOpenFiles is how many object files a Dir keeps open: 1 GiB of
// 4 MiB blocks.
const dirOpenFiles = 256

// dirTempAge is how old a temporary file must be before OpenDir removes
// it: far longer than any Put, so a Put of another mount of the same
// directory is never cut short.
const dirTempAge = time.Hour

// OpenDir returns the directory site s (s.Endpoint is file:///DIR).
func OpenDir(s Site) (*Dir, error) {
	root, ok := DirOf(s)
	if !ok {
		return nil, fmt.Errorf("site %s: not a file:// site", s)
	}
	d := &Dir{root: root, site: s, made: map[string]bool{}, files: directio.NewFiles(dirOpenFiles)}
	d.removeOldTemps()
	return d, nil
}

// DirOf returns the directory of a file:// site.
func DirOf(s Site) (string, bool) {
	p, ok := strings.CutPrefix(s.Endpoint, "file://")
	if !ok || !filepath.IsAbs(p) {
		return "", false
	}
	return filepath.Clean(p), true
}

func (d *Dir) String() string { return d.site.String() }

// Close closes the object files kept open; d still works afterwards, each
// read on a descriptor of its own.
func (d *Dir) Close() error {
	d.files.Close()
	return nil
}

func (d *Dir) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.HasPrefix(key, "tmp/") {
		return "", fmt.Errorf("site %s: invalid object key %q", d, key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put implements ObjectStore.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	parent := filepath.Dir(p)
	if err := d.mkdir(parent); err != nil {
		return d.wrap("put", key, err)
	}
	tmpDir := filepath.Join(d.root, "tmp")
	if err := d.mkdir(tmpDir); err != nil {
		return d.wrap("put", key, err)
	}
	f, err := os.CreateTemp(tmpDir, "put-")
	if err != nil {
		return d.wrap("put", key, err)
	}
	tmp := f.Name()
	err = directio.WriteAt(f, data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return d.wrap("put", key, err)
	}
	return d.wrap("put", key, syncDir(parent))
}

// mkdir creates dir (and its parents, each synced into its own parent so
// the path survives a crash) once per process.
func (d *Dir) mkdir(dir string) error {
	d.mu.Lock()
	known := d.made[dir]
	d.mu.Unlock()
	if known {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := d.mkdir(filepath.Dir(dir)); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.made[dir] = true
	d.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get implements ObjectStore.
func (d *Dir) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 0 {
		size, err := d.Head(ctx, key)
		if err != nil {
			return nil, err
		}
		n = max(size-off, 0)
	}
	dst := make([]byte, n)
	got, err := d.GetInto(ctx, key, off, dst)
	if err != nil {
		return nil, err
	}
	return dst[:got], nil
}

// GetInto implements BufferedStore.
func (d *Dir) GetInto(ctx context.Context, key string, off int64, dst []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	got, err := d.files.ReadAt(p, dst, off)
	return got, d.wrap("get", key, err)
}

// Delete implements ObjectStore.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	d.files.Forget(p)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d.wrap("delete", key, err)
	}
	return nil
}

// Head implements ObjectStore.
func (d *Dir) Head(ctx context.Context, key string) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, d.wrap("head", key, err)
	}
	return st.Size(), nil
}

// List implements ObjectStore. Within a directory, entries are visited in
// the order of the keys they hold: a subdirectory's keys all start with
// its name and a slash, so it sorts as that.
func (d *Dir) List(ctx context.Context, prefix string, fn func(Object) error) error {
	return d.list(ctx, d.root, "", prefix, fn)
}

func (d *Dir) list(ctx context.Context, dir, rel, prefix string, fn func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && dir != d.root {
			return nil // removed while listing
		}
		return d.wrap("list", rel, err)
	}
	sortKey := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(sortKey(a), sortKey(b)) })
	for _, e := range ents {
		key := rel + e.Name()
		if rel == "" && key == "tmp" {
			continue
		}
		if e.IsDir() {
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := d.list(ctx, filepath.Join(dir, e.Name()), sub, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return d.wrap("list", key, err)
		}
		if err := fn(Object{Key: key, Size: info.Size(), Modified: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Health implements ObjectStore: the directory must exist and be
// writable.
func (d *Dir) Health(ctx context.Context) error {
	st, err := os.Stat(d.root)
	if err != nil {
		return d.wrap("health check", "", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("health check %s: not a directory: %w: %w", d, ErrUnavailable, ErrRefused)
	}
	return d.wrap("health check", "", unix.Access(d.root, unix.W_OK|unix.X_OK))
}

// Free returns the bytes free to this process on the directory's disk.
func (d *Dir) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(d.root, &st); err != nil {
		return 0, d.wrap("statfs", "", err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// EnsureBucket creates the directory if it does not exist.
func (d *Dir) EnsureBucket(ctx context.Context) error {
	return d.wrap("create directory", "", d.mkdir(d.root))
}

// removeOldTemps deletes what Puts cut short by a crash left behind.
func (d *Dir) removeOldTemps() {
	tmpDir := filepath.Join(d.root, "tmp")
	ents, err := os.ReadDir(tmpDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > dirTempAge {
			_ = os.Remove(filepath.Join(tmpDir, e.Name()))
		}
	}
}

// wrap maps the file system's errors onto the site errors the router
// understands: a missing file is ErrNotFound, a permission problem is a
// refusal, everything else (a full or failing disk) is an outage.
func (d *Dir) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	where := d.site.String() + key
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: %w", op, where, ErrNotFound)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EROFS):
		return fmt.Errorf("%s %s: %w: %w: %v", op, where, ErrUnavailable, ErrRefused, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w", op, where, err)
	}
	return fmt.Errorf("%s %s: %w: %v", op, where, ErrUnavailable, err)
}
