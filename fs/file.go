package fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
)

// handle is an open file. Writes go through to the store at once, so close
// has nothing to flush and another client's open sees them (close-to-open).
type handle struct {
	ino uint64
	// id is unique among this mount's open files, never reused: the owner
	// of the flocks taken through this open file.
	id uint64
	// path is where the file was opened, relative to the root: policy
	// rules choose the sites its reads go to by it.
	path string

	mu         sync.Mutex
	flockOwner uint64 // the open file's flock owner, once it took one
	hasFlock   bool
	read       bool // the access time was updated for this open file
	// attr is the inode as this open found it: its first read moves the
	// access time by it (relatime), with no transaction of its own.
	attr *meta.Attr
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	ctx = meta.WithAccess(detach(ctx), openAccess(flags))
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		if e := n.root.writable(); e != 0 {
			return nil, 0, e
		}
	}
	// A read-only open reads a small file's body along (s3tier.SeedInline).
	inlineMax := 0
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		inlineMax = s3tier.InlineReadMax
	}
	a, body, e := n.root.openInode(ctx, n.ino, false, inlineMax > 0 && n.deferrable(flags), inlineMax)
	if e == syscall.ESTALE {
		n.root.noteRetry(n) // the kernel looks the name up and retries (reopen.go)
	} else {
		n.root.retried(n)
	}
	if e != 0 {
		return nil, 0, e
	}
	if a != nil {
		n.noteAttr(a)
	}
	// Close-to-open: what another client closed before this open must show,
	// in this client's layouts and in the kernel's caches (cache.go), and
	// a capability another client set (Getxattr).
	n.root.data.Invalidate(n.ino)
	n.forgetCap()
	if a != nil && body != nil {
		n.root.data.SeedInline(n.ino, a, body)
	}
	return &handle{ino: n.ino, id: n.root.handles.Add(1), path: n.Path(nil), attr: a}, n.openFlags(a), 0
}

func (n *node) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	ctx = detach(ctx)
	if h, ok := f.(*handle); ok && h.path != "" {
		ctx = routing.WithPath(ctx, h.path)
	}
	got, err := n.root.data.ReadInto(ctx, n.ino, off, dest)
	if err != nil && gone(err) {
		// Removed elsewhere before this open's deferred registration
		// (deferopen.go): what the open read is the file.
		if snap := n.root.snapshotOf(n.ino); snap != nil {
			got, err = copy(dest, snap.body[min(off, int64(len(snap.body))):]), nil
		}
	}
	if err != nil {
		return nil, n.root.errno("read", err)
	}
	if h, ok := f.(*handle); ok && !n.root.opts.ReadOnly {
		h.mu.Lock()
		first := !h.read
		h.read = true
		h.mu.Unlock()
		if first {
			n.root.noteRead(n.ino, h.attr, time.Now().UnixNano())
		}
	}
	return fuse.ReadResultData(dest[:got]), 0
}

func (n *node) Write(ctx context.Context, _ gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return 0, e
	}
	write := n.root.data.Write
	if n.lockUsed.Load() {
		// A file used with locks is how clients share state (a counter, a
		// log, a config under flock): there a small write that returned
		// has landed, and a fenced client's write fails at once.
		write = n.root.data.WriteThrough
	}
	if err := write(ctx, n.ino, off, data); err != nil {
		return 0, n.root.errno("write", err)
	}
	return uint32(len(data)), 0
}

// Flush runs on every close(2): buffered writes land (close-to-open), and
// POSIX says closing any descriptor of a file releases the closing
// process's locks on it. A write-back failure is reported here, as close(2)
// may.
func (n *node) Flush(ctx context.Context, _ gofs.FileHandle) syscall.Errno {
	ctx = detach(ctx)
	ferr := n.root.errno("flush", n.root.data.Flush(ctx, n.ino))
	if e := n.releasePosix(ctx, false); e != 0 {
		return e
	}
	return ferr
}

// Fsync makes every committed change durable, not just this file's: the
// store syncs as a whole, which also covers fdatasync and syncfs.
func (n *node) Fsync(ctx context.Context, _ gofs.FileHandle, _ uint32) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.errno("fsync", n.root.data.Flush(ctx, n.ino)); e != 0 {
		return e
	}
	return n.root.errno("fsync", n.root.m.Sync(ctx))
}

func (n *node) Release(ctx context.Context, f gofs.FileHandle) syscall.Errno {
	ctx = detach(ctx)
	h, ok := f.(*handle)
	if !ok {
		return 0
	}
	// A flock belongs to the open file: its last close releases it.
	h.mu.Lock()
	owner, flocked := h.flockOwner, h.hasFlock
	h.mu.Unlock()
	if flocked {
		o := locks.Owner{Session: n.root.m.SessionID(), ID: owner}
		if e := n.root.errno("release flock", n.root.locks.ReleaseOwner(ctx, n.ino, o, true)); e != 0 {
			return e
		}
	}
	// The last close here drops every POSIX lock of this client on the
	// file, before a new open here can take one; with no open file left,
	// no lock is left, and writes need not go through (see Write).
	_, e := n.root.closeInode(ctx, n.ino, func() syscall.Errno {
		n.lockUsed.Store(false)
		return n.releasePosix(ctx, true)
	})
	return e
}

func (n *node) Allocate(ctx context.Context, _ gofs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return e
	}
	if e := n.root.errno("fallocate", n.root.data.Flush(ctx, n.ino)); e != 0 {
		return e
	}
	defer n.root.data.Invalidate(n.ino)
	return n.root.errno("fallocate", n.root.m.Fallocate(ctx, n.ino, int64(off), int64(size), mode))
}

func (n *node) Lseek(ctx context.Context, _ gofs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	ctx = detach(ctx)
	switch whence {
	case 3, 4: // SEEK_DATA, SEEK_HOLE
		if err := n.root.data.Flush(ctx, n.ino); err != nil {
			return 0, n.root.errno("lseek", err)
		}
		res, err := n.root.m.Lseek(ctx, n.ino, int64(off), int(whence))
		if err != nil {
			return 0, n.root.errno("lseek", err)
		}
		return uint64(res), 0
	}
	return 0, syscall.EINVAL
}

// dirHandle lists a directory in cookie order, a page at a time. Each page
// comes with its entries' inodes (meta.ReadDirPlus), so the lookup that
// READDIRPLUS makes of every name is answered from the page.
type dirHandle struct {
	n     *node
	after uint64 // cookie of the last entry returned
	buf   []meta.DirEntry
	last  meta.DirEntry // the entry returned last, for Lookup
	done  bool
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileLookuper     = (*dirHandle)(nil)
)

// Cookies 1 and 2 are "." and ".."; stored entries start at 3.
const firstCookie = 3

const readdirPage = 512

// OpendirHandle does not let the kernel keep listings (FOPEN_CACHE_DIR):
// a listing served from its cache skips READDIRPLUS, so the stat that
// `ls -l`, rsync or git makes of every entry afterwards became a lookup
// each, twice the transactions of listing again. Every listing reads the
// store, which also makes close-to-open of listings hold.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{n: n}, 0, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	ctx = detach(ctx)
	d.after, d.buf, d.done, d.last = off, nil, false, meta.DirEntry{}
	return 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	ctx = detach(ctx)
	d.last = meta.DirEntry{}
	switch d.after {
	case 0:
		d.after = 1
		return &fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: d.n.ino, Off: 1}, 0
	case 1:
		// ".." is the directory's parent, read with the first page.
		a, e := d.fill(ctx)
		if e != 0 {
			return nil, e
		}
		d.after = 2
		return &fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: a.Parent, Off: 2}, 0
	}
	if len(d.buf) == 0 {
		if d.done {
			return nil, 0
		}
		if _, e := d.fill(ctx); e != 0 {
			return nil, e
		}
		if len(d.buf) == 0 {
			return nil, 0
		}
	}
	e := d.buf[0]
	d.buf = d.buf[1:]
	d.after, d.last = e.Cookie, e
	return &fuse.DirEntry{Name: e.Name, Mode: e.Mode, Ino: e.Ino, Off: e.Cookie}, 0
}

// fill reads the page of entries after d.after (after "..", the first)
// and returns the directory's inode as that page's snapshot shows it.
func (d *dirHandle) fill(ctx context.Context) (*meta.Attr, syscall.Errno) {
	a, ents, err := d.n.root.m.ReadDirPlus(ctx, d.n.ino, max(d.after, firstCookie-1), readdirPage)
	if err != nil {
		return nil, d.n.root.errno("readdir", err)
	}
	d.buf, d.done = ents, len(ents) < readdirPage
	return a, 0
}

// Lookup answers READDIRPLUS's lookup of the name Readdirent returned last
// from the page's snapshot; any other name (".", "..", a retry after
// ESTALE) takes the node's own lookup.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if e := d.last; e.Attr != nil && e.Name == name && !d.n.root.retrying(d.n.ino, name) {
		return d.n.child(ctx, e.Attr, out), 0
	}
	return d.n.Lookup(ctx, name, out)
}
