package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

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

// Rename moves name in dir to newName in newDir, with renameat2 flags. It
// runs a little past 80 lines: POSIX's checks (flags, types, emptiness,
// ancestry, sticky bits) read best in the order rename(2) states them, in
// the one transaction that must see them all.
func (f *FS) Rename(ctx context.Context, dir uint64, name string, newDir uint64, newName string,
	flags uint32) error {
	if err := checkName(newName); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		// Both directories and both entries in one round trip where the
		// store can, then both inodes in another.
		vs, err := fdbstore.GetMany(tx, [][]byte{f.k.inode(dir), f.k.inode(newDir), f.k.dent(dir, name), f.k.dent(newDir, newName)})
		if err != nil {
			return err
		}
		p, err := dirFrom(dir, vs[0])
		if err != nil {
			return err
		}
		np := p
		if newDir != dir {
			if np, err = dirFrom(newDir, vs[1]); err != nil {
				return err
			}
		}
		sd, src, td, dst, err := f.renameEnds(tx, vs[2], vs[3])
		if err != nil {
			return err
		}
		if dst != nil && dst.Ino == src.Ino {
			return nil // both names link the same inode: POSIX says do nothing
		}
		if err := f.permitRename(ctx, p, np, src, dst, newDir != dir); err != nil {
			return err
		}
		if err := quotaCross(p, np, src, dst, flags&RenameExchange != 0); err != nil {
			return err
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

// renameEnds decodes the entries of a rename's source and target (sv and
// tv as read; the target may be absent, dst then nil) and reads both
// inodes together.
func (f *FS) renameEnds(tx fdbstore.ReadTx, sv, tv []byte) (sd dent, src *Attr, td dent, dst *Attr, err error) {
	if sv == nil {
		return sd, nil, td, nil, syscall.ENOENT
	}
	if sd, err = decodeDent(sv); err != nil {
		return sd, nil, td, nil, err
	}
	keys := [][]byte{f.k.inode(sd.ino)}
	if tv != nil {
		if td, err = decodeDent(tv); err != nil {
			return sd, nil, td, nil, err
		}
		keys = append(keys, f.k.inode(td.ino))
	}
	vs, err := fdbstore.GetMany(tx, keys)
	if err != nil {
		return sd, nil, td, nil, err
	}
	if src, err = attrFrom(sd.ino, vs[0]); err != nil {
		return sd, nil, td, nil, err
	}
	if tv != nil {
		dst, err = attrFrom(td.ino, vs[1])
		if errors.Is(err, syscall.ENOENT) {
			dst, err = nil, nil // an entry whose inode is gone: as lookupTx, no target
		}
	}
	return sd, src, td, dst, err
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

// quotaCross refuses with EXDEV a rename that would move an inode into a
// directory of another quota (as XFS project quotas do; mv then copies),
// so that an inode's quota never changes under it.
func quotaCross(p, np, src, dst *Attr, exchange bool) error {
	if p.Ino == np.Ino {
		return nil
	}
	if src.Qid != np.childQid() || (exchange && dst.Qid != p.childQid()) {
		return syscall.EXDEV
	}
	return nil
}
