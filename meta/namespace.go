package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// NewNode describes an inode to create.
type NewNode struct {
	Mode     uint32 // type and permission bits (umask already applied)
	Uid, Gid uint32
	Rdev     uint32
	Target   string // symlink target
	// Open registers the new file as open by this client (O_CREAT), in the
	// creating transaction.
	Open bool
}

// DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name   string
	Ino    uint64
	Mode   uint32 // file type bits only
	Cookie uint64 // position: a listing resumes after it
	Attr   *Attr  // the entry's inode, read in the same snapshot (ReadDirPlus only)
}

// dent is a directory entry's stored value.
type dent struct {
	ino    uint64
	cookie uint64
	mode   uint32
}

func encodeDent(d dent) []byte { return tuple.Pack(int64(d.ino), int64(d.cookie), int64(d.mode)) }

func decodeDent(b []byte) (dent, error) {
	el, err := tuple.Unpack(b)
	if err != nil || len(el) != 3 {
		return dent{}, fmt.Errorf("corrupt directory entry: %v", err)
	}
	i, _ := el[0].(int64)
	c, _ := el[1].(int64)
	m, _ := el[2].(int64)
	return dent{ino: uint64(i), cookie: uint64(c), mode: uint32(m)}, nil
}

func checkName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return syscall.ENAMETOOLONG
	case name == "" || name == "." || name == "..":
		return syscall.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}

// lookupTx finds name in dir: the entry and the child's attributes.
func (f *FS) lookupTx(tx fdbstore.ReadTx, dir uint64, name string) (dent, *Attr, error) {
	v, err := tx.Get(f.k.dent(dir, name))
	if err != nil {
		return dent{}, nil, err
	}
	if v == nil {
		return dent{}, nil, syscall.ENOENT
	}
	d, err := decodeDent(v)
	if err != nil {
		return dent{}, nil, err
	}
	a, err := f.getAttr(tx, d.ino)
	return d, a, err
}

// dirTx reads dir and checks that it is a live directory.
func (f *FS) dirTx(tx fdbstore.ReadTx, dir uint64) (*Attr, error) {
	v, err := tx.Get(f.k.inode(dir))
	if err != nil {
		return nil, err
	}
	return dirFrom(dir, v)
}

// dirFrom is dirTx on the record v of dir, already read.
func dirFrom(dir uint64, v []byte) (*Attr, error) {
	p, err := attrFrom(dir, v)
	if err != nil {
		return nil, err
	}
	if !p.IsDir() {
		return nil, syscall.ENOTDIR
	}
	if p.Nlink == 0 {
		return nil, syscall.ENOENT // removed while a process still had it as cwd
	}
	return p, nil
}

// Lookup finds name in directory dir.
func (f *FS) Lookup(ctx context.Context, dir uint64, name string) (*Attr, error) {
	if len(name) > MaxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	var a *Attr
	_, strict := f.caller(ctx)
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		if strict {
			p, err := f.dirTx(tx, dir)
			if err != nil {
				return err
			}
			if err := f.permit(ctx, p, MayExec); err != nil {
				return err
			}
		}
		var err error
		_, a, err = f.lookupTx(tx, dir, name)
		return err
	})
	return a, err
}

// LookupHint is Lookup for a caller that believes name leads to inode
// hint (a child it looked up before, an entry a listing returned): the
// entry and that inode are read together, one round trip on stores that
// batch reads. A wrong or stale hint costs one more read, never a wrong
// answer; 0 is no hint.
func (f *FS) LookupHint(ctx context.Context, dir uint64, name string, hint uint64) (*Attr, error) {
	if hint == 0 {
		return f.Lookup(ctx, dir, name)
	}
	if len(name) > MaxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	var a *Attr
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		vs, err := fdbstore.GetMany(tx, [][]byte{f.k.dent(dir, name), f.k.inode(hint)})
		if err != nil {
			return err
		}
		if vs[0] == nil {
			return syscall.ENOENT
		}
		d, err := decodeDent(vs[0])
		if err != nil {
			return err
		}
		if d.ino == hint {
			a, err = attrFrom(hint, vs[1])
		} else {
			a, err = f.getAttr(tx, d.ino)
		}
		return err
	})
	return a, err
}

// addEntry links ino into dir under name, giving it the next cookie.
func (f *FS) addEntry(tx fdbstore.Tx, dir *Attr, name string, ino uint64, mode uint32) {
	c := dir.NextCookie
	dir.NextCookie++
	tx.Set(f.k.dent(dir.Ino, name), encodeDent(dent{ino: ino, cookie: c, mode: mode & syscall.S_IFMT}))
	tx.Set(f.k.dcookie(dir.Ino, c), tuple.Pack(name, int64(ino), int64(mode&syscall.S_IFMT)))
}

func (f *FS) removeEntry(tx fdbstore.Tx, dir uint64, name string, d dent) {
	tx.Clear(f.k.dent(dir, name))
	tx.Clear(f.k.dcookie(dir, d.cookie))
}

// Create makes a new inode of any type (file, directory, symlink, device,
// fifo, socket) named name in dir.
func (f *FS) Create(ctx context.Context, dir uint64, name string, n NewNode) (*Attr, error) {
	ctx = fdbstore.Growing(ctx)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(n.Target) > MaxSymlinkLen {
		return nil, syscall.ENAMETOOLONG
	}
	ino, err := f.allocIno(ctx)
	if err != nil {
		return nil, err
	}
	var a *Attr
	err = f.transact(ctx, func(tx fdbstore.Tx) error {
		// Both in one round trip where the store can.
		vs, err := fdbstore.GetMany(tx, [][]byte{f.k.inode(dir), f.k.dent(dir, name)})
		if err != nil {
			return err
		}
		p, err := dirFrom(dir, vs[0])
		if err != nil {
			return err
		}
		if vs[1] != nil {
			return syscall.EEXIST
		}
		if err := f.permit(ctx, p, MayWrite|MayExec); err != nil {
			return err
		}
		if err := f.checkInodes(tx); err != nil {
			return err
		}
		if err := f.quotaAdd(tx, p.childQid(), 0, 1); err != nil {
			return err
		}
		t := now()
		a = &Attr{Ino: ino, Mode: n.Mode, Nlink: 1, Uid: n.Uid, Gid: n.Gid, Rdev: n.Rdev,
			Atime: t, Mtime: t, Ctime: t, Target: n.Target, Qid: p.childQid()}
		if a.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			a.Size = uint64(len(n.Target))
		}
		// BSD group semantics for setgid directories, as Linux does them.
		if p.Mode&syscall.S_ISGID != 0 {
			a.Gid = p.Gid
			if a.IsDir() {
				a.Mode |= syscall.S_ISGID
			}
		}
		if a.IsDir() {
			a.Nlink, a.Parent, a.NextCookie = 2, dir, 3
			p.Nlink++
		}
		f.addEntry(tx, p, name, ino, a.Mode)
		if n.Open {
			f.markOpen(tx, ino)
		}
		p.Mtime, p.Ctime = t, t
		f.putAttr(tx, p)
		f.putAttr(tx, a)
		tx.Add(f.k.stat("inodes"), 1)
		tx.Add(f.k.stat("bytes"), int64(a.Size))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Link adds name in dir as a new hard link to ino.
func (f *FS) Link(ctx context.Context, ino, dir uint64, name string) (*Attr, error) {
	ctx = fdbstore.Growing(ctx)
	if err := checkName(name); err != nil {
		return nil, err
	}
	var a *Attr
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		p, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		if a, err = f.getAttr(tx, ino); err != nil {
			return err
		}
		if a.IsDir() {
			return syscall.EPERM
		}
		if a.Nlink == 0 {
			return syscall.ENOENT
		}
		if a.Qid != p.childQid() {
			return syscall.EXDEV // another quota's: as XFS project quotas
		}
		if v, err := tx.Get(f.k.dent(dir, name)); err != nil {
			return err
		} else if v != nil {
			return syscall.EEXIST
		}
		if err := f.permit(ctx, p, MayWrite|MayExec); err != nil {
			return err
		}
		t := now()
		a.Nlink++
		a.Ctime = t
		f.addEntry(tx, p, name, ino, a.Mode)
		p.Mtime, p.Ctime = t, t
		f.putAttr(tx, p)
		f.putAttr(tx, a)
		return nil
	})
	return a, err
}

// dropLink removes one link of a (already unlinked from its directory):
// the inode goes when no link remains and no client has it open; while a
// client does, it stays as an orphan (nlink 0) until that client's last
// close or its session's cleanup.
func (f *FS) dropLink(tx fdbstore.Tx, a *Attr, t int64) error {
	a.Nlink--
	if a.IsDir() {
		a.Nlink = 0 // a removed directory has no "." either
	}
	a.Ctime = t
	if a.Nlink > 0 {
		f.putAttr(tx, a)
		return nil
	}
	open, err := f.openByAny(tx, a.Ino)
	if err != nil {
		return err
	}
	if open {
		f.putAttr(tx, a)
		tx.Set(f.k.orphan(a.Ino), nil)
		return nil
	}
	return f.deleteInode(tx, a)
}

// deleteInode removes an inode and everything hanging off it. Each clear is
// one range mutation, so the transaction stays small for any file size.
// Its quotas give back what it counted.
func (f *FS) deleteInode(tx fdbstore.Tx, a *Attr) error {
	tx.Clear(f.k.inode(a.Ino))
	tx.Clear(f.k.orphan(a.Ino))
	tx.ClearRange(f.k.blocksFrom(a.Ino, 0))
	tx.ClearRange(f.k.xattrRange(a.Ino))
	if a.Sliced() {
		// Its chunk records may be many: the purge worker moves them to the
		// deletion queue a page at a time (PurgeStep).
		tx.Set(f.k.purge(a.Ino), nil)
	}
	tx.Add(f.k.stat("inodes"), -1)
	tx.Add(f.k.stat("bytes"), -int64(a.Size))
	tx.Add(f.k.stat("alloc"), -int64(a.Alloc))
	qr, err := f.quotaMove(tx, a.Qid, -int64(a.Alloc), -1)
	if err != nil {
		return err
	}
	if a.Flags&AttrQuotaDir != 0 {
		if err := f.quotaDirGone(tx, a); err != nil {
			return err
		}
	}
	return f.quotaReap(tx, a.Qid, qr)
}

// Unlink removes name (not a directory) from dir.
func (f *FS) Unlink(ctx context.Context, dir uint64, name string) error {
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		p, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		d, a, err := f.lookupTx(tx, dir, name)
		if err != nil {
			return err
		}
		if a.IsDir() {
			return syscall.EISDIR
		}
		if err := f.permitRemove(ctx, p, a); err != nil {
			return err
		}
		t := now()
		f.removeEntry(tx, dir, name, d)
		p.Mtime, p.Ctime = t, t
		f.putAttr(tx, p)
		if err := f.dropLink(tx, a, t); err != nil {
			return err
		}
		return nil
	})
}

// emptyDir reports whether directory ino has no entries.
func (f *FS) emptyDir(tx fdbstore.ReadTx, ino uint64) (bool, error) {
	b, e := f.k.dentRange(ino)
	for _, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 1}) {
		if err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// Rmdir removes the empty directory name from dir.
func (f *FS) Rmdir(ctx context.Context, dir uint64, name string) error {
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		p, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		d, a, err := f.lookupTx(tx, dir, name)
		if err != nil {
			return err
		}
		if !a.IsDir() {
			return syscall.ENOTDIR
		}
		if err := f.permitRemove(ctx, p, a); err != nil {
			return err
		}
		if ok, err := f.emptyDir(tx, a.Ino); err != nil {
			return err
		} else if !ok {
			return syscall.ENOTEMPTY
		}
		t := now()
		f.removeEntry(tx, dir, name, d)
		p.Nlink--
		p.Mtime, p.Ctime = t, t
		f.putAttr(tx, p)
		return f.dropLink(tx, a, t)
	})
}

// ReadDir returns up to limit entries of dir whose cookie is above after,
// in cookie order. Cookies only grow, so a listing resumed from any cookie
// never repeats an entry and never skips one that existed throughout.
func (f *FS) ReadDir(ctx context.Context, dir uint64, after uint64, limit int) ([]DirEntry, error) {
	_, ents, err := f.readDir(ctx, dir, after, limit, false)
	return ents, err
}

// ReadDirPlus is ReadDir with each entry's inode read in the same
// transaction: a listing answers READDIRPLUS from one snapshot instead of
// the kernel's lookup of every name, each a transaction of its own. It
// also returns the directory's own inode from that snapshot, which names
// "..": a listing that read it apart cost a transaction more.
func (f *FS) ReadDirPlus(ctx context.Context, dir uint64, after uint64, limit int) (*Attr, []DirEntry, error) {
	return f.readDir(ctx, dir, after, limit, true)
}

func (f *FS) readDir(ctx context.Context, dir uint64, after uint64, limit int, plus bool) (*Attr, []DirEntry, error) {
	var out []DirEntry
	var d *Attr
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		out = out[:0]
		var err error
		if d, err = f.dirTx(tx, dir); err != nil {
			return err
		}
		b, e := f.k.dcookieFrom(dir, after+1)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: limit}) {
			if err != nil {
				return err
			}
			kel, err := f.k.unpack(kv.Key)
			if err != nil || len(kel) != 3 {
				return fmt.Errorf("directory %d: corrupt readdir key", dir)
			}
			vel, err := tuple.Unpack(kv.Value)
			if err != nil || len(vel) != 3 {
				return fmt.Errorf("directory %d: corrupt readdir entry", dir)
			}
			c, _ := kel[2].(int64)
			name, _ := vel[0].(string)
			ino, _ := vel[1].(int64)
			mode, _ := vel[2].(int64)
			out = append(out, DirEntry{Name: name, Ino: uint64(ino), Mode: uint32(mode), Cookie: uint64(c)})
		}
		if plus {
			for i := range out {
				a, err := f.getAttr(tx, out[i].Ino)
				if errors.Is(err, syscall.ENOENT) {
					continue // fsck's to report; the name's lookup fails as before
				}
				if err != nil {
					return fmt.Errorf("directory %d, entry %q: %w", dir, out[i].Name, err)
				}
				out[i].Attr = a
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return d, out, nil
}
