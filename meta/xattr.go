package meta

import (
	"context"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// Extended attribute limits, as Linux's VFS sets them.
const (
	MaxXattrName  = 255
	MaxXattrValue = 64 << 10
)

// Setxattr flags, as setxattr(2) defines them.
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// GetXattr returns the value of attribute name of ino (ENODATA if unset).
func (f *FS) GetXattr(ctx context.Context, ino uint64, name string) ([]byte, error) {
	if len(name) > MaxXattrName {
		return nil, syscall.ERANGE
	}
	var v []byte
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		if err := f.permitXattr(ctx, a, name, MayRead); err != nil {
			return err
		}
		if v, err = tx.Get(f.k.xattr(ino, name)); err == nil && v == nil {
			err = syscall.ENODATA
		}
		return err
	})
	return v, err
}

// SetXattr sets attribute name of ino, honouring XATTR_CREATE/REPLACE.
func (f *FS) SetXattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) error {
	ctx = fdbstore.Growing(ctx)
	switch {
	case name == "" || len(name) > MaxXattrName:
		return syscall.ERANGE
	case len(value) > MaxXattrValue:
		return syscall.E2BIG
	case flags&^(XattrCreate|XattrReplace) != 0:
		return syscall.EINVAL
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		if err := f.permitXattr(ctx, a, name, MayWrite); err != nil {
			return err
		}
		old, err := tx.Get(f.k.xattr(ino, name))
		if err != nil {
			return err
		}
		if old != nil && flags&XattrCreate != 0 {
			return syscall.EEXIST
		}
		if old == nil && flags&XattrReplace != 0 {
			return syscall.ENODATA
		}
		tx.Set(f.k.xattr(ino, name), value)
		a.Ctime = now()
		f.putAttr(tx, a)
		return nil
	})
}

// RemoveXattr removes attribute name of ino (ENODATA if unset).
func (f *FS) RemoveXattr(ctx context.Context, ino uint64, name string) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		if err := f.permitXattr(ctx, a, name, MayWrite); err != nil {
			return err
		}
		if v, err := tx.Get(f.k.xattr(ino, name)); err != nil {
			return err
		} else if v == nil {
			return syscall.ENODATA
		}
		tx.Clear(f.k.xattr(ino, name))
		a.Ctime = now()
		f.putAttr(tx, a)
		return nil
	})
}

// ListXattr returns the names of ino's attributes.
func (f *FS) ListXattr(ctx context.Context, ino uint64) ([]string, error) {
	var names []string
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		names = names[:0]
		if _, err := f.getAttr(tx, ino); err != nil {
			return err
		}
		b, e := f.k.xattrRange(ino)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 3 {
				return syscall.EIO
			}
			n, _ := el[2].(string)
			names = append(names, n)
		}
		return nil
	})
	return names, err
}
