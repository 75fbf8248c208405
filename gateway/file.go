package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// webdavFile is what the webdav handler opens.
type webdavFile = webdav.File

// errIncomplete aborts a PUT whose body did not arrive whole.
var errIncomplete = errors.New("request body incomplete: nothing stored")

// tempName is where a truncating open writes until Close renames it.
type tempName struct {
	dir    uint64
	name   string
	target string
}

// file is an open file or collection. Reads and writes go straight to the
// data path at the file's offset; writes are buffered there per inode and
// committed by Close (or by Stat, which must report what was written).
type file struct {
	fs   *davFS
	ctx  context.Context
	name string // cleaned path from the root
	a    *meta.Attr
	ino  uint64

	pos, size  int64
	writable   bool
	registered bool      // counted in the open table (release at Close)
	temp       *tempName // set for a truncating open (see createTemp)
	werr       error     // the first write error: the file is not committed
	closed     bool

	// listing state of a collection
	after uint64
	done  bool

	// rbuf holds bytes read ahead of pos: rbuf[roff:] are the file's bytes
	// from pos on. Taken from the pool, given back at Close.
	rbuf []byte
	roff int
}

var (
	_ webdav.File            = (*file)(nil)
	_ webdav.DeadPropsHolder = (*file)(nil)
)

// readCtx tags reads with the file's path from the filesystem's root, as
// a mount does, for the routing policy.
func (f *file) readCtx() context.Context {
	return routing.WithPath(f.ctx, strings.TrimPrefix(path.Join(f.fs.rootPath, f.name), "/"))
}

// Read reads at the file offset, up to the size the file had at open (or
// what this handle wrote).
func (f *file) Read(p []byte) (int, error) {
	if f.a.IsDir() {
		return 0, pathErr("read", f.name, syscall.EISDIR)
	}
	if err := f.register(); err != nil {
		return 0, err
	}
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if rest := f.size - f.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	if f.roff < len(f.rbuf) {
		n := copy(p, f.rbuf[f.roff:])
		f.roff += n
		f.pos += int64(n)
		return n, nil
	}
	if len(p) < ioSize && f.readAhead() {
		return f.Read(p)
	}
	n, err := f.fs.data.ReadInto(f.readCtx(), f.ino, f.pos, p)
	f.pos += int64(n)
	if err != nil {
		return n, fmt.Errorf("read %s: %w", f.name, err)
	}
	if n == 0 {
		return 0, io.EOF // shrunk by another client since open
	}
	return n, nil
}

// readAhead fills the read buffer from pos, and reports whether it holds
// bytes now.
func (f *file) readAhead() bool {
	if cap(f.rbuf) == 0 {
		b := f.fs.bufs.get()
		if b == nil {
			return false
		}
		f.rbuf = b[:0]
	}
	want := min(int64(cap(f.rbuf)), f.size-f.pos)
	n, err := f.fs.data.ReadInto(f.readCtx(), f.ino, f.pos, f.rbuf[:want])
	if err != nil || n == 0 {
		f.rbuf, f.roff = f.rbuf[:0], 0
		return false // the direct read reports it
	}
	f.rbuf, f.roff = f.rbuf[:n], 0
	return true
}

// Seek moves the file offset.
func (f *file) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.pos
	case io.SeekEnd:
		off += f.size
	default:
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	if off < 0 {
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	// Keep the read-ahead buffer when the new offset lies in it (a GET
	// sniffs the first bytes for the content type, then seeks back).
	if start := f.pos - int64(f.roff); off >= start && off < start+int64(len(f.rbuf)) {
		f.roff = int(off - start)
	} else {
		f.rbuf, f.roff = f.rbuf[:0], 0
	}
	f.pos = off
	return off, nil
}

// Write writes at the file offset through the data path, which bounds the
// memory it buffers: a long body streams to the store or the object store.
func (f *file) Write(p []byte) (int, error) {
	if !f.writable {
		return 0, pathErr("write", f.name, syscall.EBADF)
	}
	if f.werr != nil {
		return 0, f.werr
	}
	if err := f.fs.data.Write(f.ctx, f.ino, f.pos, p); err != nil {
		return 0, f.failWrite(err)
	}
	f.pos += int64(len(p))
	f.size = max(f.size, f.pos)
	return len(p), nil
}

// failWrite records a write's failure for the rest of the request; a lack
// of space (capacity, inode limit, full store) is answered 507.
func (f *file) failWrite(err error) error {
	f.werr = fmt.Errorf("write %s: %w", f.name, err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		if st := stateOf(f.ctx); st != nil {
			st.noSpace = true
		}
	}
	return f.werr
}

// ReadFrom writes what r yields at the file offset in pieces of ioSize
// (io.Copy of a PUT body would otherwise hand Write 32 KiB at a time).
func (f *file) ReadFrom(r io.Reader) (int64, error) {
	buf := f.fs.bufs.get()
	if buf == nil {
		buf = make([]byte, 32<<10) // pool exhausted: net/http's own size
	} else {
		defer f.fs.bufs.put(buf)
	}
	var total int64
	for {
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Stat reports the file's attributes. A written file is flushed first, so
// the modification time (and the ETag made of it) is final.
func (f *file) Stat() (os.FileInfo, error) {
	if f.writable && f.werr == nil {
		if err := f.fs.data.Flush(f.ctx, f.ino); err != nil {
			f.werr = fmt.Errorf("write %s: %w", f.name, err)
			return nil, f.werr
		}
		a, err := f.fs.m.GetAttr(f.ctx, f.ino)
		if err != nil {
			return nil, pathErr("stat", f.name, err)
		}
		f.a = a
	}
	return newInfo(f.a, infoName(f.name)), nil
}

// Readdir lists a collection in the store's entry order, hiding symlinks
// (never followed) and unfinished PUTs.
func (f *file) Readdir(count int) ([]fs.FileInfo, error) {
	if !f.a.IsDir() {
		return nil, pathErr("readdir", f.name, syscall.ENOTDIR)
	}
	var out []fs.FileInfo
	var leftovers []string
	defer func() { f.fs.sweepTemps(context.WithoutCancel(f.ctx), f.ino, leftovers) }()
	for !f.done && (count <= 0 || len(out) < count) {
		ents, err := f.fs.m.ReadDir(f.ctx, f.ino, max(f.after, 2), readdirPage)
		if err != nil {
			return out, pathErr("readdir", f.name, err)
		}
		f.done = len(ents) < readdirPage
		for i, e := range ents {
			if count > 0 && len(out) == count {
				f.done = false
				break
			}
			f.after = ents[i].Cookie
			if hiddenName(e.Name) {
				leftovers = append(leftovers, e.Name)
				continue
			}
			if e.Mode&syscall.S_IFMT == syscall.S_IFLNK {
				continue
			}
			a, err := f.fs.m.GetAttr(f.ctx, e.Ino)
			if errors.Is(err, syscall.ENOENT) {
				continue // removed since the listing read it
			}
			if err != nil {
				return out, pathErr("readdir", f.name, err)
			}
			out = append(out, newInfo(a, e.Name))
		}
	}
	if count > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// Close ends the open. A truncating open's file replaces its target only
// if every write landed and the request's whole body arrived; otherwise it
// is removed and the target stays as it was.
func (f *file) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if cap(f.rbuf) > 0 {
		f.fs.bufs.put(f.rbuf[:cap(f.rbuf)])
		f.rbuf = nil
	}
	// The request may be cut off: cleaning up must still happen.
	ctx := context.WithoutCancel(f.ctx)
	var err error
	if f.writable {
		if f.werr == nil {
			if ferr := f.fs.data.Flush(ctx, f.ino); ferr != nil {
				f.failWrite(ferr)
			}
		}
		err = f.werr
	}
	if f.temp != nil {
		err = f.finishTemp(ctx, err)
	}
	if f.registered {
		if rerr := f.fs.opens.release(ctx, f.ino); err == nil && rerr != nil {
			err = pathErr("close", f.name, rerr)
		}
	}
	return err
}

// finishTemp renames the written temporary file over its target, or
// removes it when the write failed or the body was cut off.
func (f *file) finishTemp(ctx context.Context, err error) error {
	t := f.temp
	if err == nil {
		if st := stateOf(f.ctx); st != nil && st.body != nil && !st.body.complete() {
			err = errIncomplete
		}
	}
	if err == nil {
		if rerr := f.fs.m.Rename(ctx, t.dir, t.name, t.dir, t.target, 0); rerr != nil {
			err = pathErr("rename", f.name, rerr)
		}
	}
	if err != nil {
		if uerr := f.fs.m.Unlink(ctx, t.dir, t.name); uerr != nil && !errors.Is(uerr, syscall.ENOENT) {
			err = errors.Join(err, fmt.Errorf("remove unfinished %s: %w", t.name, uerr))
		}
	}
	// Created open (meta.NewNode.Open): the last close reaps it if unlinked.
	if cerr := f.fs.m.Close(ctx, f.ino); err == nil && cerr != nil {
		err = pathErr("close", f.name, cerr)
	}
	return err
}
