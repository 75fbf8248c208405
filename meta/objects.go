package meta

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

// ObjectRefs calls fn for every slice the filesystem references (chunk
// records), every upload in flight (intents) and every slice queued for
// deletion, so gc can tell an unreferenced object from a live one. It reads
// in pages, each a consistent snapshot.
func (f *FS) ObjectRefs(ctx context.Context, fn func(id uint64, length int64, state string) error) error {
	// Intents before chunks: a slice that commits between the two passes
	// is seen in one of them.
	for _, kind := range []string{kindIntent, kindChunk, kindDelq} {
		b, e := f.k.kindRange(kind)
		err := f.scanRange(ctx, b, e, func(key, value []byte) error {
			el, err := f.k.unpack(key)
			if err != nil {
				return fmt.Errorf("%w: %s key", fdbstore.ErrCorrupt, kind)
			}
			if kind != kindChunk {
				id, _ := el[len(el)-1].(int64)
				l, _ := binary.Uvarint(value)
				return fn(uint64(id), int64(l), kind)
			}
			refs, err := decodeChunk(value)
			if err != nil {
				return err
			}
			for _, r := range refs {
				if r.ID != 0 {
					if err := fn(r.ID, int64(r.Len), "live"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DropSlice replaces the references to slice id in chunk idx of ino with
// a hole (fsck --repair of a slice whose objects are lost): the
// range reads as zeros instead of failing. It reports whether it changed
// anything.
func (f *FS) DropSlice(ctx context.Context, ino uint64, idx int64, id uint64) (bool, error) {
	changed := false
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		changed = false
		refs, err := f.chunkTx(tx, ino, idx)
		if err != nil {
			return err
		}
		for i, r := range refs {
			if r.ID == id {
				refs[i] = SliceRef{Pos: r.Pos, Len: r.Len}
				changed = true
			}
		}
		if changed {
			tx.Set(f.k.chunk(ino, idx), encodeChunk(refs))
		}
		return nil
	})
	return changed, err
}

// ChunkRefs calls fn for every slice reference of every chunk record, in
// pages, each a consistent snapshot (fsck).
func (f *FS) ChunkRefs(ctx context.Context, fn func(ino uint64, idx int64, r SliceRef) error) error {
	b, e := f.k.kindRange(kindChunk)
	return f.scanRange(ctx, b, e, func(key, value []byte) error {
		el, err := f.k.unpack(key)
		if err != nil || len(el) != 3 {
			return fmt.Errorf("%w: chunk key", fdbstore.ErrCorrupt)
		}
		ino, _ := el[1].(int64)
		idx, _ := el[2].(int64)
		refs, err := decodeChunk(value)
		if err != nil {
			return fmt.Errorf("inode %d chunk %d: %w", ino, idx, err)
		}
		for _, r := range refs {
			if err := fn(uint64(ino), idx, r); err != nil {
				return err
			}
		}
		return nil
	})
}
