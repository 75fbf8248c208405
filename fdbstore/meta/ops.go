package meta

import (
	"context"
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
	p, err := f.getAttr(tx, dir)
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
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		_, a, err = f.lookupTx(tx, dir, name)
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
		p, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		if v, err := tx.Get(f.k.dent(dir, name)); err != nil {
			return err
		} else if v != nil {
			return syscall.EEXIST
		}
		t := now()
		a = &Attr{Ino: ino, Mode: n.Mode, Nlink: 1, Uid: n.Uid, Gid: n.Gid, Rdev: n.Rdev,
			Atime: t, Mtime: t, Ctime: t, Target: n.Target}
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
		if v, err := tx.Get(f.k.dent(dir, name)); err != nil {
			return err
		} else if v != nil {
			return syscall.EEXIST
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
	f.deleteInode(tx, a)
	return nil
}

// deleteInode removes an inode and everything hanging off it. Each clear is
// one range mutation, so the transaction stays small for any file size.
func (f *FS) deleteInode(tx fdbstore.Tx, a *Attr) {
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
}

// markOpen records that this client has ino open.
func (f *FS) markOpen(tx fdbstore.Tx, ino uint64) {
	tx.Set(f.k.open(ino, f.sess.id), nil)
	tx.Set(f.k.sessOpen(f.sess.id, ino), nil)
}

// openByAny reports whether any client has ino open.
func (f *FS) openByAny(tx fdbstore.ReadTx, ino uint64) (bool, error) {
	b, e := f.k.openRange(ino)
	for _, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 1}) {
		if err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// Open registers the first open of ino in this client, so that an unlink
// by any client keeps the inode until this client closes it. An inode that
// is gone, or has no links left, was reached through a name another client
// has since removed: ESTALE makes the kernel look the name up again.
func (f *FS) Open(ctx context.Context, ino uint64) (*Attr, error) {
	var a *Attr
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		var err error
		a, err = f.getAttr(tx, ino)
		if err == syscall.ENOENT || err == nil && a.Nlink == 0 {
			return syscall.ESTALE
		}
		if err != nil {
			return err
		}
		f.markOpen(tx, ino)
		return nil
	})
	return a, err
}

// Close is this client's last close of ino: it drops the client's open
// record and, if the inode has lost its last link and no other client has
// it open, removes it.
func (f *FS) Close(ctx context.Context, ino uint64) error {
	return f.CloseMany(ctx, []uint64{ino})
}

// CloseMany is Close of several inodes in one transaction.
func (f *FS) CloseMany(ctx context.Context, inos []uint64) error {
	if len(inos) == 0 {
		return nil
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		for _, ino := range inos {
			tx.Clear(f.k.open(ino, f.sess.id))
			tx.Clear(f.k.sessOpen(f.sess.id, ino))
			if _, err := f.reapIfOrphan(tx, ino); err != nil {
				return err
			}
		}
		return nil
	})
}

// reapIfOrphan deletes ino if it has no links and no client has it open,
// and reports whether it did. Call it after clearing an open record in the
// same transaction.
func (f *FS) reapIfOrphan(tx fdbstore.Tx, ino uint64) (bool, error) {
	a, err := f.getAttr(tx, ino)
	if err == syscall.ENOENT {
		return false, nil
	}
	if err != nil || a.Nlink > 0 {
		return false, err
	}
	open, err := f.openByAny(tx, ino)
	if err != nil || open {
		return false, err
	}
	f.deleteInode(tx, a)
	return true, nil
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

// Rename flags, as renameat2(2) defines them.
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
)

// isAncestor reports whether dir a is dir b or one of b's ancestors.
func (f *FS) isAncestor(tx fdbstore.ReadTx, a, b uint64) (bool, error) {
	for depth := 0; depth < 4096; depth++ {
		if a == b {
			return true, nil
		}
		if b == RootIno {
			return false, nil
		}
		at, err := f.getAttr(tx, b)
		if err != nil {
			return false, err
		}
		b = at.Parent
	}
	return false, fmt.Errorf("directory %d: parent chain too deep or cyclic", b)
}

// Rename moves name in dir to newName in newDir, with renameat2 flags.
func (f *FS) Rename(ctx context.Context, dir uint64, name string, newDir uint64, newName string,
	flags uint32) error {
	if err := checkName(newName); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		p, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		np := p
		if newDir != dir {
			if np, err = f.dirTx(tx, newDir); err != nil {
				return err
			}
		}
		sd, src, err := f.lookupTx(tx, dir, name)
		if err != nil {
			return err
		}
		td, dst, err := f.lookupTx(tx, newDir, newName)
		switch {
		case err == syscall.ENOENT:
			dst = nil
		case err != nil:
			return err
		}
		if dst != nil && dst.Ino == src.Ino {
			return nil // both names link the same inode: POSIX says do nothing
		}
		if flags&RenameExchange != 0 {
			if dst == nil {
				return syscall.ENOENT
			}
			return f.exchange(tx, p, np, name, newName, sd, td, src, dst)
		}
		if dst != nil && flags&RenameNoReplace != 0 {
			return syscall.EEXIST
		}
		if src.IsDir() && newDir != dir {
			if in, err := f.isAncestor(tx, src.Ino, newDir); err != nil {
				return err
			} else if in {
				return syscall.EINVAL
			}
		}
		t := now()
		if dst != nil {
			switch {
			case src.IsDir() && !dst.IsDir():
				return syscall.ENOTDIR
			case !src.IsDir() && dst.IsDir():
				return syscall.EISDIR
			case dst.IsDir():
				if ok, err := f.emptyDir(tx, dst.Ino); err != nil {
					return err
				} else if !ok {
					return syscall.ENOTEMPTY
				}
				np.Nlink--
			}
			f.removeEntry(tx, newDir, newName, td)
			if err := f.dropLink(tx, dst, t); err != nil {
				return err
			}
		}
		f.removeEntry(tx, dir, name, sd)
		f.addEntry(tx, np, newName, src.Ino, src.Mode)
		if src.IsDir() && newDir != dir {
			p.Nlink--
			np.Nlink++
			src.Parent = newDir
		}
		src.Ctime = t
		p.Mtime, p.Ctime = t, t
		np.Mtime, np.Ctime = t, t
		f.putAttr(tx, p)
		if np != p {
			f.putAttr(tx, np)
		}
		f.putAttr(tx, src)
		return nil
	})
}

// exchange swaps two names atomically (RENAME_EXCHANGE).
func (f *FS) exchange(tx fdbstore.Tx, p, np *Attr, name, newName string, sd, td dent, src, dst *Attr) error {
	if p.Ino != np.Ino {
		for _, c := range []struct {
			dir  *Attr
			into uint64
		}{{src, np.Ino}, {dst, p.Ino}} {
			if !c.dir.IsDir() {
				continue
			}
			if in, err := f.isAncestor(tx, c.dir.Ino, c.into); err != nil {
				return err
			} else if in {
				return syscall.EINVAL
			}
		}
	}
	t := now()
	f.removeEntry(tx, p.Ino, name, sd)
	f.removeEntry(tx, np.Ino, newName, td)
	f.addEntry(tx, np, newName, src.Ino, src.Mode)
	f.addEntry(tx, p, name, dst.Ino, dst.Mode)
	if p.Ino != np.Ino {
		if src.IsDir() {
			src.Parent = np.Ino
			p.Nlink--
			np.Nlink++
		}
		if dst.IsDir() {
			dst.Parent = p.Ino
			np.Nlink--
			p.Nlink++
		}
	}
	src.Ctime, dst.Ctime = t, t
	p.Mtime, p.Ctime = t, t
	np.Mtime, np.Ctime = t, t
	f.putAttr(tx, p)
	if np != p {
		f.putAttr(tx, np)
	}
	f.putAttr(tx, src)
	f.putAttr(tx, dst)
	return nil
}

// ReadDir returns up to limit entries of dir whose cookie is above after,
// in cookie order. Cookies only grow, so a listing resumed from any cookie
// never repeats an entry and never skips one that existed throughout.
func (f *FS) ReadDir(ctx context.Context, dir uint64, after uint64, limit int) ([]DirEntry, error) {
	var out []DirEntry
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		out = out[:0]
		if _, err := f.dirTx(tx, dir); err != nil {
			return err
		}
		b, e := f.k.dcookieFrom(dir, after+1)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: limit}) {
			if err != nil {
				return err
			}
			kel, err := tuple.Unpack(kv.Key[len(f.k.prefix):])
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
		return nil
	})
	return out, err
}

// SetAttrReq says which attributes SetAttr changes; nil fields stay.
type SetAttrReq struct {
	Mode         *uint32 // permission bits (and suid/sgid/sticky)
	Uid, Gid     *uint32
	Size         *uint64
	Atime, Mtime *int64 // nanoseconds since the epoch
}

// SetAttr changes attributes of ino: chmod, chown, truncate, utimens.
func (f *FS) SetAttr(ctx context.Context, ino uint64, r SetAttrReq) (*Attr, error) {
	for {
		a, err := f.setAttr(ctx, ino, r)
		if err != errTruncateMore {
			return a, err
		}
		if err := f.trimChunksPast(ctx, ino, *r.Size); err != nil {
			return nil, err
		}
	}
}

func (f *FS) setAttr(ctx context.Context, ino uint64, r SetAttrReq) (*Attr, error) {
	var a *Attr
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		var err error
		if a, err = f.getAttr(tx, ino); err != nil {
			return err
		}
		t := now()
		if r.Mode != nil {
			a.Mode = a.Mode&syscall.S_IFMT | *r.Mode&^syscall.S_IFMT
		}
		if r.Uid != nil {
			a.Uid = *r.Uid
		}
		if r.Gid != nil {
			a.Gid = *r.Gid
		}
		if r.Size != nil && *r.Size != a.Size {
			if a.IsDir() {
				return syscall.EISDIR
			}
			if !a.IsReg() {
				return syscall.EINVAL
			}
			if err := f.truncate(tx, a, *r.Size); err != nil {
				return err
			}
			a.Mtime = t
		}
		if r.Atime != nil {
			a.Atime = *r.Atime
		}
		if r.Mtime != nil {
			a.Mtime = *r.Mtime
		}
		a.Ctime = t
		f.putAttr(tx, a)
		return nil
	})
	return a, err
}
