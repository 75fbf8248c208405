package meta

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

// enqueueDelete queues the objects of slice r for deletion (holes have none).
func (f *FS) enqueueDelete(tx fdbstore.Tx, r SliceRef) {
	if r.ID != 0 {
		tx.Set(f.k.delq(r.ID), binary.AppendUvarint(nil, uint64(r.Len)))
	}
}

// Deletion is one slice whose objects are queued for deletion.
type Deletion struct {
	Slice uint64
	Len   int64
}

// PendingDeletions returns up to limit queued deletions.
func (f *FS) PendingDeletions(ctx context.Context, limit int) ([]Deletion, error) {
	ctx = fdbstore.Background(ctx) // the purger's: no application waits on it
	var out []Deletion
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		out = out[:0]
		b, e := f.k.delqRange()
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: limit}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 2 {
				return fmt.Errorf("%w: deletion queue key", fdbstore.ErrCorrupt)
			}
			id, _ := el[1].(int64)
			l, _ := binary.Uvarint(kv.Value)
			out = append(out, Deletion{Slice: uint64(id), Len: int64(l)})
		}
		return nil
	})
	return out, err
}

// DoneDeletions removes deletions whose objects are gone from the queue.
func (f *FS) DoneDeletions(ctx context.Context, done []Deletion) error {
	return inPages(done, f.page(len(done), 1), func(part []Deletion) error {
		return f.transact(ctx, func(tx fdbstore.Tx) error {
			for _, d := range part {
				tx.Clear(f.k.delq(d.Slice))
			}
			return nil
		})
	})
}

// PurgeStep moves the chunk records of deleted sliced files to the
// deletion queue, a page per call, and reports whether work remains.
func (f *FS) PurgeStep(ctx context.Context) (bool, error) {
	ctx = fdbstore.Background(ctx) // no application waits on it
	more := false
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		more = false
		b, e := f.k.purgeRange()
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 1}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 2 {
				return fmt.Errorf("%w: purge key", fdbstore.ErrCorrupt)
			}
			ino, _ := el[1].(int64)
			left, err := f.dropChunks(tx, uint64(ino), 0)
			if err != nil {
				return err
			}
			if !left {
				tx.Clear(kv.Key)
			}
			more = true
		}
		return nil
	})
	return more, err
}

// abandonIntents queues the objects of a dead session's unfinished uploads
// for deletion.
func (f *FS) abandonIntents(tx fdbstore.Tx, session string) error {
	b, e := f.k.intentRange(session)
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return err
		}
		el, err := f.k.unpack(kv.Key)
		if err != nil || len(el) != 3 {
			return fmt.Errorf("%w: intent key", fdbstore.ErrCorrupt)
		}
		id, _ := el[2].(int64)
		tx.Set(f.k.delq(uint64(id)), kv.Value)
		tx.Clear(kv.Key)
	}
	return nil
}
