package meta

import (
	"context"

	"github.com/hafs/hafs/fdbstore"
)

// transact runs fn in a read-write transaction that first reads this
// client's session key: once the key is gone (eviction, expiry) no
// transaction of this client can commit again. This is the fence.
func (f *FS) transact(ctx context.Context, fn func(tx fdbstore.Tx) error) error {
	if f.sess.fenced.Load() {
		return ErrFenced
	}
	f.txWrites.Add(1)
	var last *recordingTx // the attempt that committed, when one did
	err := f.store.Transact(ctx, func(tx fdbstore.Tx) error {
		last = &recordingTx{Tx: tx}
		if err := f.Fence(tx); err != nil {
			return err
		}
		return fn(last)
	})
	if err == nil && last != nil {
		f.recent.note(last.dirs)
	}
	return err
}

// readTransact runs fn read-only; a fenced client reads nothing either, so
// that it cannot act on what it reads.
func (f *FS) readTransact(ctx context.Context, fn func(tx fdbstore.ReadTx) error) error {
	if f.sess.fenced.Load() {
		return ErrFenced
	}
	f.txReads.Add(1)
	return f.store.ReadTransact(ctx, fn)
}

// Fence fails with ErrFenced when this client's session key is gone. Every
// read-write transaction of the client calls it first (other packages'
// transactions too, through this method).
func (f *FS) Fence(tx fdbstore.Tx) error {
	if f.sess.key == nil {
		return nil
	}
	v, err := tx.Get(f.sess.key)
	if err != nil {
		return err
	}
	if v == nil {
		f.setFenced()
		return ErrFenced
	}
	return nil
}

func (f *FS) setFenced() {
	f.sess.fenced.Store(true)
	f.sess.once.Do(func() {
		if f.sess.log != nil {
			f.sess.log.Error("this client was evicted or its session expired: every operation now fails with EIO; unmount and mount again",
				"session", f.sess.id)
		}
	})
}

// Fenced reports whether this client has been fenced.
func (f *FS) Fenced() bool { return f.sess.fenced.Load() }

// Sync makes every transaction this client committed so far durable
// against power loss (fsync).
func (f *FS) Sync(ctx context.Context) error { return f.store.Sync(ctx) }

// txReserve is how many operations a transaction keeps for what every one
// does besides its work (the fence, an inode, counters, a watch).
const txReserve = 16

// page returns how many items of n one transaction may take when each
// costs perItem reads or writes, on this store: n itself on stores without
// an operation bound (SQLite, FoundationDB), fewer on etcd.
func (f *FS) page(n, perItem int) int { return f.lim.Batch(n, perItem, txReserve) }

// inPages calls fn on consecutive parts of items, each at most size long:
// for removals that are idempotent, so a part that committed before a
// later one failed is harmless.
func inPages[T any](items []T, size int, fn func([]T) error) error {
	for len(items) > 0 {
		n := min(size, len(items))
		if err := fn(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}
