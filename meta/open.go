package meta

import (
	"context"
	"errors"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

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
	a, _, err := f.OpenInline(ctx, ino, 0)
	return a, err
}

// OpenInline is Open that also returns the file's body when the store
// holds all of it inline and it is at most max bytes: the read that
// usually follows an open of a small file then needs no transaction.
func (f *FS) OpenInline(ctx context.Context, ino uint64, max int) (*Attr, []byte, error) {
	var a *Attr
	var body []byte
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		var err error
		if a, err = f.openable(tx, ino); err != nil {
			return err
		}
		if err := f.permitOpen(ctx, a); err != nil {
			return err
		}
		if body, err = f.inlineBody(tx, a, max); err != nil {
			return err
		}
		f.markOpen(tx, ino)
		return nil
	})
	return a, body, err
}

// registerCost is what one registration may spend of a transaction: the
// read of the inode and its two open records.
const registerCost = 3

// RegisterOpens records this client as an opener of each of inos, as Open
// does, in as few transactions as the store takes: for opens that read
// their inode already (CheckOpenInline) and were registered later, in a
// batch. An inode that is gone by then (its last name removed by another
// client, with nobody holding it open) cannot be registered; it is
// returned in gone. Registering is idempotent: after an error, calling
// again with the same inodes is safe whatever the failed call committed.
func (f *FS) RegisterOpens(ctx context.Context, inos []uint64) (gone []uint64, err error) {
	err = inPages(inos, f.page(len(inos), registerCost), func(part []uint64) error {
		var missing []uint64
		err := f.transact(ctx, func(tx fdbstore.Tx) error {
			missing = missing[:0]
			for _, ino := range part {
				_, err := f.getAttr(tx, ino)
				if errors.Is(err, syscall.ENOENT) {
					missing = append(missing, ino)
					continue
				}
				if err != nil {
					return err
				}
				f.markOpen(tx, ino)
			}
			return nil
		})
		if err == nil {
			gone = append(gone, missing...)
		}
		return err
	})
	return gone, err
}

// inlineBody returns the body of a when it is all inline and at most max
// bytes, or nil.
func (f *FS) inlineBody(tx fdbstore.ReadTx, a *Attr, max int) ([]byte, error) {
	if max <= 0 || a.Sliced() || a.Size > uint64(max) || a.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, nil
	}
	body, err := f.readTx(tx, a, 0, int(a.Size))
	if body == nil && err == nil {
		body = []byte{}
	}
	return body, err
}

// openable returns ino's attributes if an open through a name may reach
// it: it exists and has a link. Otherwise the name that led to it is one
// another client removed since: ESTALE.
func (f *FS) openable(tx fdbstore.ReadTx, ino uint64) (*Attr, error) {
	a, err := f.getAttr(tx, ino)
	if errors.Is(err, syscall.ENOENT) || err == nil && a.Nlink == 0 {
		return nil, syscall.ESTALE
	}
	return a, err
}

// CheckOpen is Open's check without its registration, for a client that is
// registered as an opener of ino already: the inode's attributes, or
// ESTALE as Open would return it.
func (f *FS) CheckOpen(ctx context.Context, ino uint64) (*Attr, error) {
	a, _, err := f.CheckOpenInline(ctx, ino, 0)
	return a, err
}

// CheckOpenInline is CheckOpen that also returns a small inline body, as
// OpenInline does.
func (f *FS) CheckOpenInline(ctx context.Context, ino uint64, max int) (*Attr, []byte, error) {
	var a *Attr
	var body []byte
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		if a, err = f.openable(tx, ino); err != nil {
			return err
		}
		if err := f.permitOpen(ctx, a); err != nil {
			return err
		}
		body, err = f.inlineBody(tx, a, max)
		return err
	})
	return a, body, err
}

// OpenByName looks name up in dir and, if it leads to inode want, registers
// this client as an opener of it in the same transaction, as Open would;
// opened reports whether it did. From then on the inode stays, even if it
// loses its last link, until this client's Close: an open that follows
// reaches it whatever happened to the name meanwhile. The caller holds
// whatever orders its registrations of want (fs holds the inode's open
// state), which is why it names want before the transaction.
func (f *FS) OpenByName(ctx context.Context, dir uint64, name string, want uint64) (a *Attr, opened bool, err error) {
	if len(name) > MaxNameLen {
		return nil, false, syscall.ENAMETOOLONG
	}
	err = f.transact(ctx, func(tx fdbstore.Tx) error {
		opened = false
		var err error
		if _, a, err = f.lookupTx(tx, dir, name); err != nil {
			return err
		}
		if err := f.permitOpen(ctx, a); err != nil {
			return err
		}
		if a.Ino == want {
			f.markOpen(tx, want)
			opened = true
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return a, opened, nil
}

// Close is this client's last close of ino: it drops the client's open
// record and, if the inode has lost its last link and no other client has
// it open, removes it.
func (f *FS) Close(ctx context.Context, ino uint64) error {
	_, err := f.CloseMany(ctx, []uint64{ino})
	return err
}

// closeCost is what one close may spend of a transaction: its two open
// records, and the reap of an inode that lost its last link (the inode,
// its orphan row, blocks, xattrs and purge row, and the reads of the
// inode and of its open records).
const closeCost = 8

// CloseMany is Close of several inodes, as many in one transaction as the
// store takes (etcd's are small). On an error, closed says how many of
// inos, from the first, are closed nonetheless.
func (f *FS) CloseMany(ctx context.Context, inos []uint64) (closed int, err error) {
	err = inPages(inos, f.page(len(inos), closeCost), func(part []uint64) error {
		err := f.transact(ctx, func(tx fdbstore.Tx) error {
			for _, ino := range part {
				tx.Clear(f.k.open(ino, f.sess.id))
				tx.Clear(f.k.sessOpen(f.sess.id, ino))
				if _, err := f.reapIfOrphan(tx, ino); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			closed += len(part)
		}
		return err
	})
	return closed, err
}

// reapIfOrphan deletes ino if it has no links and no client has it open,
// and reports whether it did. Call it after clearing an open record in the
// same transaction.
func (f *FS) reapIfOrphan(tx fdbstore.Tx, ino uint64) (bool, error) {
	a, err := f.getAttr(tx, ino)
	if errors.Is(err, syscall.ENOENT) {
		return false, nil
	}
	if err != nil || a.Nlink > 0 {
		return false, err
	}
	open, err := f.openByAny(tx, ino)
	if err != nil || open {
		return false, err
	}
	if err := f.deleteInode(tx, a); err != nil {
		return false, err
	}
	return true, nil
}
