package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// DataLayout says how the bodies of large files are cut for the object
// store. It is fixed at mkfs.
type DataLayout struct {
	// ChunkSize: a file is a sequence of chunks; each has its own list of
	// slices (one store value), so no list grows with the file.
	ChunkSize int64 `json:"chunk_size"`
	// BlockSize is the largest object: a slice is stored as objects of
	// BlockSize bytes, the last one shorter.
	BlockSize int64 `json:"block_size"`
	// PageSize is the checksum unit (CRC32C); ranged reads fetch whole
	// pages so that every byte read is verified.
	PageSize int64 `json:"page_size"`
	// InlineMax: files that never grew past it keep their body in the
	// store.
	InlineMax int64 `json:"inline_max"`
}

// Validate checks the layout's sizes fit together.
func (l *DataLayout) Validate() error {
	switch {
	case l.PageSize <= 0 || l.PageSize&(l.PageSize-1) != 0:
		return fmt.Errorf("page size %d: must be a power of two", l.PageSize)
	case l.BlockSize < l.PageSize || l.BlockSize%l.PageSize != 0 || l.BlockSize > 64<<20:
		return fmt.Errorf("block size %d: must be a multiple of the page size %d, at most 64 MiB", l.BlockSize, l.PageSize)
	case l.ChunkSize < l.BlockSize || l.ChunkSize%l.BlockSize != 0 || l.ChunkSize > 1<<30:
		return fmt.Errorf("chunk size %d: must be a multiple of the block size %d, at most 1 GiB", l.ChunkSize, l.BlockSize)
	case l.InlineMax < 0 || l.InlineMax > 1<<20:
		return fmt.Errorf("inline threshold %d: must be between 0 and 1 MiB", l.InlineMax)
	case l.ChunkSize/l.PageSize*4 > MaxChunkValue/4:
		// A chunk written whole carries a CRC per page in its slice list;
		// past a quarter of the list's limit there is no room left for the
		// overwrites it takes before compaction.
		return fmt.Errorf("page size %d: too small for chunk size %d (its checksums alone would take %d of a chunk's %d bytes); use a page size of at least %d",
			l.PageSize, l.ChunkSize, l.ChunkSize/l.PageSize*4, MaxChunkValue, l.ChunkSize*16/MaxChunkValue)
	}
	return nil
}

// SliceRef is one write's data within a chunk: Len bytes at Pos, stored as
// the objects of slice ID. Later refs in a chunk's list cover earlier ones.
// ID 0 is a hole: it reads as zeros (truncate, punch hole).
type SliceRef struct {
	ID   uint64
	Pos  uint32
	Len  uint32
	CRCs []uint32 // CRC32C of each page of the slice's data; nil for a hole
}

// MaxChunkValue bounds a chunk's encoded slice list well under the store's
// value limit; a commit that would pass it fails with ErrChunkFull and the
// writer compacts the chunk first.
const MaxChunkValue = 64 << 10

// ErrChunkFull reports a chunk whose slice list must be compacted before it
// can take another slice.
var ErrChunkFull = errors.New("chunk slice list full")

// ErrNoObjectStore reports a sliced operation on a filesystem without one.
var ErrNoObjectStore = errors.New("filesystem has no object store")

func encodeChunk(refs []SliceRef) []byte {
	var b []byte
	for _, r := range refs {
		b = binary.AppendUvarint(b, r.ID)
		b = binary.AppendUvarint(b, uint64(r.Pos))
		b = binary.AppendUvarint(b, uint64(r.Len))
		b = binary.AppendUvarint(b, uint64(len(r.CRCs)))
		for _, c := range r.CRCs {
			b = binary.LittleEndian.AppendUint32(b, c)
		}
	}
	return b
}

func decodeChunk(b []byte) ([]SliceRef, error) {
	var out []SliceRef
	bad := fmt.Errorf("%w: chunk record", fdbstore.ErrCorrupt)
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	for len(b) > 0 {
		var r SliceRef
		r.ID = next()
		pos, l, nc := next(), next(), next()
		if b == nil || pos > 1<<32-1 || l > 1<<32-1 || nc*4 > uint64(len(b)) {
			return nil, bad
		}
		r.Pos, r.Len = uint32(pos), uint32(l)
		if nc > 0 {
			r.CRCs = make([]uint32, nc)
			for i := range r.CRCs {
				r.CRCs[i] = binary.LittleEndian.Uint32(b[4*i:])
			}
			b = b[4*nc:]
		}
		out = append(out, r)
	}
	return out, nil
}

// Layout returns the data layout, or nil without an object store.
func (f *FS) Layout() *DataLayout { return f.sb.Data }

// sliceBatch is how many slice ids a client reserves at once.
const sliceBatch = 256

// NewSlice reserves a fresh slice id (never reused, so object names are
// unique) and records the intent to upload it, with its length, before any
// byte is sent: if this client dies before the slice is committed, session
// cleanup or gc finds the objects through the intent and deletes them.
func (f *FS) NewSlice(ctx context.Context, length int64) (uint64, error) {
	ctx = fdbstore.Growing(ctx)
	f.sliceMu.Lock()
	if f.sliceNext == f.sliceLimit {
		var start uint64
		err := f.transact(ctx, func(tx fdbstore.Tx) error {
			v, err := tx.Get(f.k.sliceCounter())
			if err != nil {
				return err
			}
			start = max(decU64(v), 1)
			tx.Set(f.k.sliceCounter(), u64(start+sliceBatch))
			return nil
		})
		if err != nil {
			f.sliceMu.Unlock()
			return 0, fmt.Errorf("allocate slice id: %w", err)
		}
		f.sliceNext, f.sliceLimit = start, start+sliceBatch
	}
	id := f.sliceNext
	f.sliceNext++
	f.sliceMu.Unlock()
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		tx.Set(f.k.intent(f.sess.id, id), binary.AppendUvarint(nil, uint64(length)))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record upload intent: %w", err)
	}
	return id, nil
}

// AbandonSlice gives up an upload that will not be committed: its objects
// (any that reached the store) go to the deletion queue. The intent row
// decides: the commit that makes a slice live clears it in the same
// transaction, so a slice whose intent is gone committed after all (a
// commit whose outcome the caller could not learn) and is left alone.
func (f *FS) AbandonSlice(ctx context.Context, id uint64, length int64) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.intent(f.sess.id, id))
		if err != nil || v == nil {
			return err
		}
		tx.Clear(f.k.intent(f.sess.id, id))
		tx.Set(f.k.delq(id), binary.AppendUvarint(nil, uint64(length)))
		return nil
	})
}

// ChunkWrite is one slice to add to chunk Index of a file.
type ChunkWrite struct {
	Index int64
	Slice SliceRef
}

// CommitSlices makes uploaded slices part of ino, in one transaction that
// also clears their upload intents, marks the file sliced and grows its
// size to at least end. The objects must all be uploaded already. It
// returns the largest encoded slice list it wrote, so the caller can
// compact a chunk before its list fills.
func (f *FS) CommitSlices(ctx context.Context, ino uint64, writes []ChunkWrite, end int64) (*Attr, int, error) {
	ctx = fdbstore.Growing(ctx)
	if f.sb.Data == nil {
		return nil, 0, ErrNoObjectStore
	}
	var a *Attr
	largest := 0
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		largest = 0
		var err error
		if a, err = f.getAttr(tx, ino); err != nil {
			return err
		}
		if !a.IsReg() {
			return syscall.EINVAL
		}
		lists := map[int64][]SliceRef{}
		for _, w := range writes {
			refs, ok := lists[w.Index]
			if !ok {
				if refs, err = f.chunkTx(tx, ino, w.Index); err != nil {
					return err
				}
			}
			lists[w.Index] = append(refs, w.Slice)
			tx.Clear(f.k.intent(f.sess.id, w.Slice.ID))
		}
		added := make([]SliceRef, len(writes))
		for i, w := range writes {
			added[i] = w.Slice
		}
		if err := f.enqueueReplication(tx, added); err != nil {
			return err
		}
		for idx, refs := range lists {
			v := encodeChunk(refs)
			if len(v) > MaxChunkValue || len(refs) > f.maxChunkRefs() {
				return fmt.Errorf("inode %d chunk %d: %w", ino, idx, ErrChunkFull)
			}
			largest = max(largest, len(v))
			tx.Set(f.k.chunk(ino, idx), v)
		}
		a.Flags |= AttrSliced
		if end > int64(a.Size) {
			tx.Add(f.k.stat("bytes"), end-int64(a.Size))
			a.Size = uint64(end)
		}
		var written uint64
		for _, w := range writes {
			if w.Slice.ID != 0 {
				written += uint64(w.Slice.Len)
			}
		}
		if err := f.setAlloc(tx, a, a.Alloc+written); err != nil {
			return err
		}
		t := now()
		a.Mtime, a.Ctime = t, t
		f.putAttr(tx, a)
		return nil
	})
	return a, largest, err
}

// ReplaceChunk swaps chunk idx's slice list for new slices (compaction),
// if the list is still old; the old slices' objects go to the deletion
// queue. It reports false, changing nothing, when the chunk changed since
// old was read; the caller then abandons the new slice.
//
// inline, when set, is the file's inline body over [0, len(inline)) as the
// compaction read it; the swap is also refused if that changed (a punch
// or truncate of the inline part adds no slice entry).
func (f *FS) ReplaceChunk(ctx context.Context, ino uint64, idx int64, old, repl []SliceRef, inline []byte) (bool, error) {
	replaced := false
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		replaced = false
		cur, err := tx.Get(f.k.chunk(ino, idx))
		if err != nil {
			return err
		}
		if string(cur) != string(encodeChunk(old)) {
			return nil
		}
		if inline != nil {
			a, err := f.getAttr(tx, ino)
			if err != nil {
				return err
			}
			now, err := f.readTx(tx, a, 0, len(inline))
			if err != nil {
				return err
			}
			if string(now) != string(inline) {
				return nil
			}
		}
		for _, r := range old {
			f.enqueueDelete(tx, r)
		}
		for _, r := range repl {
			tx.Clear(f.k.intent(f.sess.id, r.ID))
		}
		if err := f.enqueueReplication(tx, repl); err != nil {
			return err
		}
		tx.Set(f.k.chunk(ino, idx), encodeChunk(repl))
		replaced = true
		return nil
	})
	return replaced, err
}

func (f *FS) chunkTx(tx fdbstore.ReadTx, ino uint64, idx int64) ([]SliceRef, error) {
	v, err := tx.Get(f.k.chunk(ino, idx))
	if err != nil {
		return nil, err
	}
	refs, err := decodeChunk(v)
	if err != nil {
		return nil, fmt.Errorf("inode %d chunk %d: %w", ino, idx, err)
	}
	return refs, nil
}

// ReadPlan is what a read of a file needs from the store, read in one
// consistent snapshot.
type ReadPlan struct {
	Attr *Attr
	// Base is the file's inline body over the clipped range [Off,
	// Off+len(Base)), zeros where it has none; for an inline file it is
	// the answer.
	Off  int64
	Base []byte
	// Len is the clipped range's length: len(Base), or for PlanLayout,
	// which reads no base, what it would be.
	Len int64
	// Chunks holds, for a sliced file, the slice list of every chunk the
	// range touches (absent: no slices, read the base).
	Chunks map[int64][]SliceRef
}

// PlanRead reads what reading n bytes of ino at off needs, clipped to the
// file's size.
func (f *FS) PlanRead(ctx context.Context, ino uint64, off int64, n int) (*ReadPlan, error) {
	return f.plan(ctx, ino, off, n, true)
}

// PlanLayout is PlanRead without the base: the slice lists a read-ahead
// needs, without a buffer the size of its window.
func (f *FS) PlanLayout(ctx context.Context, ino uint64, off int64, n int) (*ReadPlan, error) {
	return f.plan(ctx, ino, off, n, false)
}

func (f *FS) plan(ctx context.Context, ino uint64, off int64, n int, base bool) (*ReadPlan, error) {
	var p *ReadPlan
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		a, err := f.getAttr(tx, ino)
		if err != nil {
			return err
		}
		p = &ReadPlan{Attr: a, Off: off}
		if base {
			if p.Base, err = f.readTx(tx, a, off, n); err != nil {
				return err
			}
			p.Len = int64(len(p.Base))
		} else if n > 0 && off < int64(a.Size) {
			p.Len = min(int64(a.Size), off+int64(n)) - off
		}
		if !a.Sliced() || p.Len == 0 || f.sb.Data == nil {
			return nil
		}
		cs := f.sb.Data.ChunkSize
		first, last := off/cs, (off+p.Len-1)/cs
		b, _ := f.k.chunksFrom(ino, first)
		e, _ := f.k.chunksFrom(ino, last+1)
		p.Chunks = map[int64][]SliceRef{}
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 3 {
				return fmt.Errorf("inode %d: %w: chunk key", ino, fdbstore.ErrCorrupt)
			}
			idx, _ := el[2].(int64)
			if p.Chunks[idx], err = decodeChunk(kv.Value); err != nil {
				return fmt.Errorf("inode %d chunk %d: %w", ino, idx, err)
			}
		}
		return nil
	})
	return p, err
}

// maxChunkRefs bounds a chunk's slice list by count, where the store bounds
// the operations of one transaction: dropping or compacting a chunk queues
// a deletion per slice, which must fit in one. Past it CommitSlices says
// ErrChunkFull and the data path compacts first.
func (f *FS) maxChunkRefs() int {
	// Compaction replaces the list with up to a chunk's worth of blocks,
	// each clearing an intent and queuing copies to up to two other sites.
	room := 3 * int(f.sb.Data.ChunkSize/f.sb.Data.BlockSize)
	return max(f.page(1<<30, 1)-room, 8)
}

// chunkPageMax bounds the chunk records one truncate transaction removes;
// beyond it the truncate clears the tail in earlier transactions.
const chunkPageMax = 256

// refPageMax bounds the slice references one such transaction queues for
// deletion (each a small row), whatever the chunks hold: a file cut by
// many small writes has thousands per chunk.
const refPageMax = 20_000

// truncateChunks drops the object data past size of a sliced file: chunks
// wholly past it lose their records (objects queued for deletion) and the
// chunk holding the new end gets a hole over its tail, so the bytes never
// reappear if the file grows again. It handles at most chunkPageMax chunk
// records and reports whether more remain.
func (f *FS) truncateChunks(tx fdbstore.Tx, a *Attr, size uint64) (more bool, err error) {
	cs := f.sb.Data.ChunkSize
	keep := (int64(size) + cs - 1) / cs // chunks [0, keep) stay
	if more, err := f.dropChunks(tx, a.Ino, keep); err != nil || more {
		return more, err
	}
	if rem := int64(size) % cs; rem != 0 {
		if err := f.holeChunk(tx, a.Ino, int64(size)/cs, rem, cs); err != nil {
			return false, err
		}
	}
	return false, nil
}

// dropChunks removes the chunk records of ino from chunk from on, last
// first, queuing their slices' objects for deletion: at most chunkPageMax
// records and, past the first, refPageMax slice references, so one
// transaction stays small. It reports whether records remain.
func (f *FS) dropChunks(tx fdbstore.Tx, ino uint64, from int64) (bool, error) {
	b, e := f.k.chunksFrom(ino, from)
	n, queued := 0, 0
	chunks, refMax := f.page(chunkPageMax, 1), f.page(refPageMax, 1)
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Reverse: true, Limit: chunks + 1}) {
		if err != nil {
			return false, err
		}
		refs, err := decodeChunk(kv.Value)
		if err != nil {
			return false, fmt.Errorf("inode %d: %w", ino, err)
		}
		if n == chunks || n > 0 && n+queued+len(refs) > refMax {
			return true, nil
		}
		queued += len(refs)
		for _, r := range refs {
			f.enqueueDelete(tx, r)
		}
		tx.Clear(kv.Key)
		n++
	}
	return false, nil
}

// holeChunk overlays zeros on [from, to) of chunk idx, if it has slices
// reaching into that range. A hole over the whole chunk drops its record.
func (f *FS) holeChunk(tx fdbstore.Tx, ino uint64, idx, from, to int64) error {
	refs, err := f.chunkTx(tx, ino, idx)
	if err != nil || len(refs) == 0 {
		return err
	}
	if from == 0 && to == f.sb.Data.ChunkSize {
		for _, r := range refs {
			f.enqueueDelete(tx, r)
		}
		tx.Clear(f.k.chunk(ino, idx))
		return nil
	}
	reaches := false
	for _, r := range refs {
		if r.ID != 0 && int64(r.Pos)+int64(r.Len) > from && int64(r.Pos) < to {
			reaches = true
		}
	}
	if !reaches {
		return nil
	}
	refs = append(refs, SliceRef{Pos: uint32(from), Len: uint32(to - from)})
	v := encodeChunk(refs)
	if len(v) > MaxChunkValue {
		return fmt.Errorf("inode %d chunk %d: %w", ino, idx, ErrChunkFull)
	}
	tx.Set(f.k.chunk(ino, idx), v)
	return nil
}

// punchChunks overlays zeros on [off, end) of a sliced file.
func (f *FS) punchChunks(tx fdbstore.Tx, a *Attr, off, end int64) error {
	cs := f.sb.Data.ChunkSize
	for idx := off / cs; idx*cs < end; idx++ {
		lo, hi := max(off-idx*cs, 0), min(end-idx*cs, cs)
		if err := f.holeChunk(tx, a.Ino, idx, lo, hi); err != nil {
			return err
		}
	}
	return nil
}
