package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/hafs/hafs/meta"
)

// tempPrefix names the hidden files a PUT writes before it renames them
// over their target. The gateway neither lists nor serves such names.
const tempPrefix = ".hafs-put-"

// readdirPage is how many entries one listing transaction reads.
const readdirPage = 512

// davFS is the webdav.FileSystem over the subtree rooted at rootIno. Names
// are resolved one component at a time from that root, and a symlink is
// never followed: nothing outside the root can be reached.
type davFS struct {
	m       Metadata
	data    Bodies
	rootIno uint64
	// rootPath is the served root from the filesystem's root ("/pub"):
	// routing policy rules match paths from there.
	rootPath string
	opens    *openTable
	bufs     *bufPool
}

// resolved is a name looked up from the root: its directory and last
// component, and its attributes (nil when it does not exist; then dir is
// still set if the directory exists).
type resolved struct {
	path string // cleaned, starting with "/"
	dir  uint64 // 0 when the name is the root or its directory is missing
	base string
	a    *meta.Attr
}

// pathErr wraps err as the os package reports errors, so that the webdav
// handler's os.IsNotExist and os.IsExist see through it. Errors that do not
// come from the filesystem's namespace (a fenced session, a store failure)
// stay as they are: they must fail the request, not be skipped.
func pathErr(op, name string, err error) error {
	var e syscall.Errno
	if errors.As(err, &e) && e != syscall.EIO {
		return &os.PathError{Op: op, Path: name, Err: e}
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// cleanPath makes name absolute and clean; webdav names are URL paths.
func cleanPath(name string) string { return path.Clean("/" + name) }

// resolve looks name up from the root, refusing to pass through symlinks.
func (d *davFS) resolve(ctx context.Context, op, name string) (resolved, error) {
	r := resolved{path: cleanPath(name)}
	if r.path == "/" {
		a, err := d.m.GetAttr(ctx, d.rootIno)
		if err != nil {
			return r, pathErr(op, r.path, err)
		}
		r.a = a
		return r, nil
	}
	parts := strings.Split(r.path[1:], "/")
	cur := d.rootIno
	for i, p := range parts {
		a, err := d.m.Lookup(ctx, cur, p)
		last := i == len(parts)-1
		if last {
			r.dir, r.base = cur, p
			if errors.Is(err, syscall.ENOENT) {
				return r, nil
			}
			if err != nil {
				return r, pathErr(op, r.path, err)
			}
			r.a = a
			return r, nil
		}
		if err != nil {
			return resolved{path: r.path}, pathErr(op, r.path, err)
		}
		switch a.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			cur = a.Ino
		case syscall.S_IFLNK:
			// Following it could lead out of the served root.
			return resolved{path: r.path}, pathErr(op, r.path, syscall.EACCES)
		default:
			return resolved{path: r.path}, pathErr(op, r.path, syscall.ENOTDIR)
		}
	}
	panic("unreachable")
}

// existing is resolve for a name that must exist and not be a symlink.
func (d *davFS) existing(ctx context.Context, op, name string) (resolved, error) {
	r, err := d.resolve(ctx, op, name)
	if err != nil {
		return r, err
	}
	if r.a == nil {
		return r, pathErr(op, r.path, syscall.ENOENT)
	}
	if r.a.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		return r, pathErr(op, r.path, syscall.EACCES)
	}
	return r, nil
}

// Mkdir makes a collection.
func (d *davFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	r, err := d.resolve(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	if r.dir == 0 {
		return pathErr("mkdir", r.path, syscall.EEXIST) // the root
	}
	if r.a != nil {
		return pathErr("mkdir", r.path, syscall.EEXIST)
	}
	_, err = d.m.Create(ctx, r.dir, r.base, meta.NewNode{Mode: syscall.S_IFDIR | 0o755})
	if err != nil {
		return pathErr("mkdir", r.path, err)
	}
	return nil
}

// RemoveAll deletes a file or a whole collection.
func (d *davFS) RemoveAll(ctx context.Context, name string) error {
	r, err := d.resolve(ctx, "remove", name)
	if err != nil {
		return err
	}
	switch {
	case r.dir == 0:
		return pathErr("remove", r.path, syscall.EPERM) // the served root stays
	case r.a == nil:
		return nil
	case r.a.IsDir():
		if err := d.removeTree(ctx, r.a.Ino, r.path); err != nil {
			return err
		}
		err = d.m.Rmdir(ctx, r.dir, r.base)
	default:
		err = d.m.Unlink(ctx, r.dir, r.base)
	}
	if err != nil {
		return pathErr("remove", r.path, err)
	}
	return nil
}

// removeTree empties directory dir, a page of entries at a time.
func (d *davFS) removeTree(ctx context.Context, dir uint64, name string) error {
	for {
		ents, err := d.m.ReadDir(ctx, dir, 2, readdirPage)
		if err != nil {
			return pathErr("remove", name, err)
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			p := path.Join(name, e.Name)
			if e.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				if err := d.removeTree(ctx, e.Ino, p); err != nil {
					return err
				}
				err = d.m.Rmdir(ctx, dir, e.Name)
			} else {
				err = d.m.Unlink(ctx, dir, e.Name)
			}
			if err != nil && !errors.Is(err, syscall.ENOENT) {
				return pathErr("remove", p, err)
			}
		}
	}
}

// Rename moves a name; the webdav handler has removed an existing target
// already when the request allows overwriting.
func (d *davFS) Rename(ctx context.Context, oldName, newName string) error {
	src, err := d.existing(ctx, "rename", oldName)
	if err != nil {
		return err
	}
	dst, err := d.resolve(ctx, "rename", newName)
	if err != nil {
		return err
	}
	if src.dir == 0 || dst.dir == 0 {
		return pathErr("rename", src.path, syscall.EPERM)
	}
	if err := d.m.Rename(ctx, src.dir, src.base, dst.dir, dst.base, 0); err != nil {
		return pathErr("rename", src.path, err)
	}
	return nil
}

// Stat returns a name's attributes.
func (d *davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	r, err := d.existing(ctx, "stat", name)
	if err != nil {
		return nil, err
	}
	return newInfo(r.a, infoName(r.path)), nil
}

func infoName(p string) string {
	if p == "/" {
		return "/"
	}
	return path.Base(p)
}

// OpenFile opens a name. A create with truncation (PUT, the target of a
// COPY) writes a new hidden file that Close renames over the name only if
// the whole body arrived: nothing half-written is ever visible.
func (d *davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdavFile, error) {
	r, err := d.resolve(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	if r.a != nil && r.a.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		return nil, pathErr("open", r.path, syscall.EACCES)
	}
	create := flag&os.O_CREATE != 0
	switch {
	case r.a == nil && !create:
		return nil, pathErr("open", r.path, syscall.ENOENT)
	case r.a == nil && r.dir == 0:
		return nil, pathErr("open", r.path, syscall.ENOENT)
	case r.a != nil && create && flag&os.O_EXCL != 0:
		return nil, pathErr("open", r.path, syscall.EEXIST)
	case r.a != nil && r.a.IsDir():
		if create {
			return nil, pathErr("open", r.path, syscall.EISDIR)
		}
		return &file{fs: d, ctx: ctx, name: r.path, a: r.a, ino: r.a.Ino}, nil
	case create && flag&os.O_TRUNC != 0 || r.a == nil:
		return d.createTemp(ctx, r, perm)
	}
	return d.openExisting(ctx, r, flag&(os.O_WRONLY|os.O_RDWR) != 0)
}

// openExisting opens an existing regular file. A writer is registered as
// an opener at once; a reader only at its first read (register), since
// the webdav handler opens files just to find their properties.
func (d *davFS) openExisting(ctx context.Context, r resolved, write bool) (webdavFile, error) {
	f := &file{fs: d, ctx: ctx, name: r.path, a: r.a, ino: r.a.Ino, size: int64(r.a.Size), writable: write}
	if write {
		if err := f.register(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// register records the file as open here, so an unlink elsewhere keeps
// it until Close, and takes its current attributes.
func (f *file) register() error {
	if f.registered {
		return nil
	}
	a, err := f.fs.opens.acquire(f.ctx, f.ino)
	if errors.Is(err, syscall.ESTALE) {
		err = syscall.ENOENT // removed since the lookup
	}
	if err != nil {
		return pathErr("open", f.name, err)
	}
	f.registered, f.a, f.size = true, a, int64(a.Size)
	// Close-to-open: what another client closed before this open shows.
	f.fs.data.Invalidate(a.Ino)
	return nil
}

// createTemp creates the hidden file a truncating open writes into.
func (d *davFS) createTemp(ctx context.Context, r resolved, perm os.FileMode) (webdavFile, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := tempNameFor(d.m.SessionID(), hex.EncodeToString(rnd[:]))
	mode := uint32(perm.Perm()) & 0o644
	if mode == 0 {
		mode = 0o644
	}
	a, err := d.m.Create(ctx, r.dir, tmp, meta.NewNode{Mode: syscall.S_IFREG | mode, Open: true})
	if err != nil {
		return nil, pathErr("create", r.path, err)
	}
	return &file{fs: d, ctx: ctx, name: r.path, a: a, ino: a.Ino, writable: true,
		temp: &tempName{dir: r.dir, name: tmp, target: r.base}}, nil
}
