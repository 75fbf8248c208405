package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// File data lives in the store in fixed-size blocks keyed by index; a
// missing block is a hole and reads as zeros. The S3 tier replaces this
// body store for large files; the interface fs uses (Read, Write, SetAttr
// size, Fallocate, Lseek) stays the same.

func (f *FS) bs() int64 { return int64(f.sb.BlockSize) }

// blockIndex decodes the block index from a block key.
func (f *FS) blockIndex(key []byte) (int64, error) {
	el, err := f.k.unpack(key)
	if err != nil || len(el) != 3 {
		return 0, fmt.Errorf("%w: block key", fdbstore.ErrCorrupt)
	}
	i, _ := el[2].(int64)
	return i, nil
}

// Read returns up to n bytes of ino from off; fewer at end of file.
func (f *FS) Read(ctx context.Context, ino uint64, off int64, n int) ([]byte, error) {
	var out []byte
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		out, err = f.readTx(tx, a, off, n)
		return err
	})
	return out, err
}

func (f *FS) readTx(tx fdbstore.ReadTx, a *Attr, off int64, n int) ([]byte, error) {
	size := int64(a.Size)
	if off >= size || n <= 0 {
		return nil, nil
	}
	end := min(size, off+int64(n))
	out := make([]byte, end-off)
	bs := f.bs()
	first, last := off/bs, (end-1)/bs
	if first == last {
		// One block (a small file's whole body): a point read is cheaper
		// than a range, by half on the embedded store.
		v, err := tx.Get(f.k.block(a.Ino, first))
		if err != nil {
			return nil, err
		}
		start := first * bs
		if lo, hi := off, min(start+int64(len(v)), end); lo < hi {
			copy(out, v[lo-start:hi-start])
		}
		return out, nil
	}
	b, _ := f.k.blocksFrom(a.Ino, first)
	e, _ := f.k.blocksFrom(a.Ino, last+1)
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return nil, err
		}
		idx, err := f.blockIndex(kv.Key)
		if err != nil {
			return nil, err
		}
		start := idx * bs
		// Copy the overlap of [start, start+len) and [off, end).
		lo, hi := max(start, off), min(start+int64(len(kv.Value)), end)
		if lo < hi {
			copy(out[lo-off:hi-off], kv.Value[lo-start:hi-start])
		}
	}
	return out, nil
}

// Write stores data at off in ino and returns the new attributes. A large
// write is split into transactions of at most maxWriteTx bytes, each one
// whole: a crash leaves a prefix of the write, never a torn block.
func (f *FS) Write(ctx context.Context, ino uint64, off int64, data []byte) (*Attr, error) {
	ctx = fdbstore.Growing(ctx)
	if off < 0 {
		return nil, syscall.EINVAL
	}
	if len(data) == 0 {
		return f.GetAttr(ctx, ino)
	}
	var a *Attr
	for done := 0; done < len(data); {
		part := data[done:min(len(data), done+maxWriteTx)]
		pos := off + int64(done)
		err := f.transact(ctx, func(tx fdbstore.Tx) error {
			var err error
			if a, err = f.getAttr(tx, ino); err != nil {
				return err
			}
			if l := f.sb.Data; l != nil && (a.Sliced() || pos+int64(len(part)) > l.InlineMax) {
				return ErrNeedSlices
			}
			if err := f.writeTx(tx, a, pos, part); err != nil {
				return err
			}
			t := now()
			a.Mtime, a.Ctime = t, t
			f.putAttr(tx, a)
			return nil
		})
		if err != nil {
			return nil, err
		}
		done += len(part)
	}
	return a, nil
}

// writeTx overlays data at off onto a's blocks, grows its size and counts
// the bytes it added to the blocks (see space.go).
func (f *FS) writeTx(tx fdbstore.Tx, a *Attr, off int64, data []byte) error {
	bs := f.bs()
	var added int64
	for len(data) > 0 {
		idx, in := off/bs, off%bs
		n := min(int64(len(data)), bs-in)
		key := f.k.block(a.Ino, idx)
		var blk []byte
		if in == 0 && n == bs {
			blk = data[:n]
			added += n
		} else {
			old, err := tx.Get(key)
			if err != nil {
				return err
			}
			// Blocks past the old end of file carry no stale bytes: a
			// truncate trims the last block, so old holds only live data.
			blk = make([]byte, max(int64(len(old)), in+n))
			copy(blk, old)
			copy(blk[in:], data[:n])
			added += int64(len(blk) - len(old))
		}
		tx.Set(key, blk)
		data = data[n:]
		off += n
	}
	if uint64(off) > a.Size {
		tx.Add(f.k.stat("bytes"), off-int64(a.Size))
		a.Size = uint64(off)
	}
	return f.setAlloc(tx, a, a.Alloc+uint64(added))
}

// truncate sets a's size, dropping blocks past the new end and trimming
// the last one, so bytes beyond the size never reappear when it grows. A
// sliced file also drops (or hides under a hole) its slices past the end;
// errTruncateMore says there were too many chunks for one transaction.
func (f *FS) truncate(tx fdbstore.Tx, a *Attr, size uint64) error {
	bs := uint64(f.bs())
	if size < a.Size {
		keep := (size + bs - 1) / bs
		tx.ClearRange(f.k.blocksFrom(a.Ino, int64(keep)))
		if rem := size % bs; rem != 0 {
			f.trimBlock(tx, a.Ino, int64(size/bs), int(rem))
		}
		if a.Sliced() && f.sb.Data != nil {
			more, err := f.truncateChunks(tx, a, size)
			if err != nil {
				return err
			}
			if more {
				return errTruncateMore
			}
		}
	}
	tx.Add(f.k.stat("bytes"), int64(size)-int64(a.Size))
	a.Size = size
	return f.setAlloc(tx, a, a.Alloc)
}

// ErrNeedSlices refuses an inline write to a file that is (or would grow)
// past the inline threshold of a filesystem with an object store: the data
// must go to slices (s3tier). Checked in the writing transaction, so a file
// another client has just sliced never gets inline data hidden under its
// slices.
var ErrNeedSlices = errors.New("write must go to the object store")

// errTruncateMore asks SetAttr to clear a sliced file's tail chunks in
// transactions of their own before the truncate itself.
var errTruncateMore = errors.New("truncate: more chunks than one transaction takes")

// trimChunksPast clears a page of chunk records of ino past size (see
// dropChunks). The bytes it removes lie past the size the truncate that
// called it is about to commit.
func (f *FS) trimChunksPast(ctx context.Context, ino uint64, size uint64) error {
	cs := f.sb.Data.ChunkSize
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		_, err := f.dropChunks(tx, ino, (int64(size)+cs-1)/cs)
		return err
	})
}

// trimBlock cuts block idx of ino to n bytes, if it is longer.
func (f *FS) trimBlock(tx fdbstore.Tx, ino uint64, idx int64, n int) {
	key := f.k.block(ino, idx)
	old, err := tx.Get(key)
	if err != nil || len(old) <= n {
		if err != nil {
			tx.Set(key, nil) // unreachable on a healthy store; fail safe: zeros
		}
		return
	}
	tx.Set(key, old[:n])
}

// Fallocate modes, as fallocate(2) defines them.
const (
	FallocKeepSize  = 0x01
	FallocPunchHole = 0x02
)

// Fallocate implements fallocate(2) modes 0, KEEP_SIZE and PUNCH_HOLE.
// Blocks are allocated lazily in the store, so mode 0 extends the size and
// reserves the range: it counts as allocated (up to the size), checked
// against the capacity (or the embedded store's free disk), so ENOSPC
// comes now rather than from a later write. KEEP_SIZE past the end of file
// reserves nothing (a file's Alloc never passes its size). The other modes
// are EOPNOTSUPP.
func (f *FS) Fallocate(ctx context.Context, ino uint64, off, length int64, mode uint32) error {
	if off < 0 || length <= 0 {
		return syscall.EINVAL
	}
	if mode&^(FallocKeepSize|FallocPunchHole) != 0 {
		return syscall.EOPNOTSUPP
	}
	if mode&FallocPunchHole != 0 && mode&FallocKeepSize == 0 {
		return syscall.EINVAL
	}
	if mode&FallocPunchHole == 0 {
		ctx = fdbstore.Growing(ctx)
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		if !a.IsReg() {
			return syscall.ENODEV
		}
		t := now()
		if mode&FallocPunchHole != 0 {
			end := min(off+length, int64(a.Size))
			f.punch(tx, a, off, end)
			if a.Sliced() && f.sb.Data != nil && off < end {
				if err := f.punchChunks(tx, a, off, end); err != nil {
					return err
				}
			}
		} else if err := f.reserve(tx, a, off, length, mode); err != nil {
			return err
		}
		a.Mtime, a.Ctime = t, t
		f.putAttr(tx, a)
		return nil
	})
}

// punch zeroes [off, end): whole blocks are removed, edges zeroed in place.
func (f *FS) punch(tx fdbstore.Tx, a *Attr, off, end int64) {
	bs := f.bs()
	// The partial blocks at either edge are zeroed in place; every whole
	// block between goes in one ClearRange, a single small mutation
	// however large the hole.
	partial := func(off, end int64) {
		idx, in := off/bs, off%bs
		key := f.k.block(a.Ino, idx)
		if old, err := tx.Get(key); err == nil && int64(len(old)) > in {
			blk := append([]byte(nil), old...)
			clear(blk[in:min(int64(len(blk)), in+end-off)])
			tx.Set(key, blk)
		}
	}
	firstWhole := (off + bs - 1) / bs
	lastWhole := end / bs // exclusive
	if firstWhole >= lastWhole {
		// No whole block: at most two partial pieces.
		for off < end {
			n := min(end-off, bs-off%bs)
			partial(off, off+n)
			off += n
		}
		return
	}
	if off < firstWhole*bs {
		partial(off, firstWhole*bs)
	}
	b, _ := f.k.blocksFrom(a.Ino, firstWhole)
	e, _ := f.k.blocksFrom(a.Ino, lastWhole)
	tx.ClearRange(b, e)
	if lastWhole*bs < end {
		partial(lastWhole*bs, end)
	}
}

// Lseek implements SEEK_DATA (3) and SEEK_HOLE (4) over the block map.
func (f *FS) Lseek(ctx context.Context, ino uint64, off int64, whence int) (int64, error) {
	var res int64
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		size, bs := int64(a.Size), f.bs()
		if off < 0 || off >= size {
			return syscall.ENXIO
		}
		if a.Sliced() {
			// Slices do not track holes: all of it is data, as POSIX allows.
			res = off
			if whence == 4 {
				res = size
			}
			return nil
		}
		b, e := f.k.blocksFrom(ino, off/bs)
		want := off / bs // the next block index if there is no hole
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			idx, err := f.blockIndex(kv.Key)
			if err != nil {
				return err
			}
			if whence == 3 { // SEEK_DATA: the first block at or after off
				res = max(off, idx*bs)
				if res >= size {
					return syscall.ENXIO
				}
				return nil
			}
			if idx != want { // SEEK_HOLE: the first gap
				break
			}
			want++
		}
		if whence == 3 {
			return syscall.ENXIO
		}
		res = min(size, max(off, want*bs))
		return nil
	})
	return res, err
}

// reserve is fallocate's allocating modes: the size grows to off+length
// (unless KEEP_SIZE) and the range counts as allocated.
func (f *FS) reserve(tx fdbstore.Tx, a *Attr, off, length int64, mode uint32) error {
	if end := uint64(off) + uint64(length); mode&FallocKeepSize == 0 && end > a.Size {
		tx.Add(f.k.stat("bytes"), int64(end-a.Size))
		a.Size = end
	}
	want := min(a.Alloc+uint64(length), a.Size)
	if want > a.Alloc {
		if err := f.checkSpace(tx, int64(want-a.Alloc), true); err != nil {
			return err
		}
	}
	return f.setAlloc(tx, a, want)
}
