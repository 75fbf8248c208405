package s3tier

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// Options tune a Tier.
type Options struct {
	// CacheBytes is the memory page cache's budget (default 256 MiB).
	CacheBytes int64
	// CacheDir, when set, adds a local disk cache of pages there, of at
	// most DiskCacheBytes (default 10 GiB). It survives remounts.
	CacheDir       string
	DiskCacheBytes int64
	// BufferBytes bounds the write data held in memory, buffered or being
	// uploaded, across all files (default 256 MiB). A writer that would
	// pass it waits: back-pressure, never unbounded growth.
	BufferBytes int64
	// Uploads is how many slices upload at once (default 16).
	Uploads int
	// FlushAge sends a buffer that has waited this long (default 1 s).
	FlushAge time.Duration
	Logger   *slog.Logger
}

// Tier moves file bodies between the FUSE layer, the metadata store
// (inline bodies and slice lists) and the object store.
type Tier struct {
	m      Metadata
	obj    routing.ObjectStore // nil: every body stays in the store
	layout *meta.DataLayout
	opts   Options
	log    *slog.Logger
	cache  *pageCache
	bufs   bufPool    // the buffers object reads land in
	disk   *diskCache // nil without a cache directory
	crc    *crc32.Table

	uploads     chan struct{} // semaphore of concurrent uploads
	budget      *byteBudget
	mu          sync.Mutex
	writers     map[uint64]*writer
	small       map[uint64]*smallBuf // see small.go; guarded by mu
	readers     map[uint64]*readState
	sliced      sync.Map // inodes known to be sliced: skip the inline attempt
	loadMu      sync.Mutex
	loading     map[pageKey]chan struct{} // pages being fetched, see readSlice
	compacts    map[[2]int64]bool         // chunks being compacted in the background
	layouts     map[uint64]*fileLayout    // see Invalidate; guarded by mu
	layoutGen   uint64                    // bumped by every Invalidate; guarded by mu
	inlines     map[uint64]*inlineBody    // bodies read at open (inline.go); guarded by mu
	inlineBytes int64                     // their bytes; guarded by mu
	stop        chan struct{}
	stopOnce    sync.Once

	// CRCErrors counts pages whose checksum did not match.
	crcErrors atomic.Int64
	ctr       counters
}

// New returns the data path of filesystem m. obj may be nil when the
// filesystem has no object store (then m.Layout() is nil too).
func New(m Metadata, obj routing.ObjectStore, opts Options) (*Tier, error) {
	layout := m.Layout()
	if (layout == nil) != (obj == nil) {
		return nil, errors.New("s3tier: the filesystem's layout and object store must come together")
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 256 << 20
	}
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = 256 << 20
	}
	if opts.Uploads <= 0 {
		opts.Uploads = 16
	}
	if opts.FlushAge <= 0 {
		opts.FlushAge = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	pageSize := int64(1) // no object store: the cache stays empty
	if layout != nil {
		pageSize = layout.PageSize
	}
	t := &Tier{m: m, obj: obj, layout: layout, opts: opts, log: opts.Logger,
		crc:     crc32.MakeTable(crc32.Castagnoli),
		uploads: make(chan struct{}, opts.Uploads), writers: map[uint64]*writer{}, small: map[uint64]*smallBuf{},
		readers: map[uint64]*readState{}, loading: map[pageKey]chan struct{}{},
		compacts: map[[2]int64]bool{}, layouts: map[uint64]*fileLayout{}, inlines: map[uint64]*inlineBody{}, stop: make(chan struct{})}
	t.cache = newPageCache(opts.CacheBytes, pageSize, t.bufs.put)
	if layout != nil && opts.CacheDir != "" {
		if opts.DiskCacheBytes <= 0 {
			opts.DiskCacheBytes = 10 << 30
		}
		d, err := openDiskCache(opts.CacheDir, opts.DiskCacheBytes)
		if err != nil {
			return nil, err
		}
		t.disk = d
	}
	// A block may wait whole in a buffer while another uploads, so the
	// budget must hold at least two.
	budget := opts.BufferBytes
	if layout != nil {
		budget = max(budget, 2*layout.BlockSize)
	}
	t.budget = newByteBudget(budget)
	go t.ager()
	return t, nil
}

// Close stops the background work; callers flush every file first.
func (t *Tier) Close() { t.stopOnce.Do(func() { close(t.stop) }) }

// CRCErrors returns how many pages failed their checksum.
func (t *Tier) CRCErrors() int64 { return t.crcErrors.Load() }

// CacheStats returns the page cache's hits and misses.
func (t *Tier) CacheStats() (hits, misses int64) { return t.cache.stats() }

// writer is one inode's pending writes: a contiguous buffer not yet sent,
// and slices being uploaded and committed in the background.
type writer struct {
	ino uint64

	mu       sync.Mutex
	buf      []byte
	bufOff   int64
	since    time.Time // when buf got its first byte
	inflight sync.WaitGroup
	end      atomic.Int64 // highest end offset buffered or in flight
	err      error        // first failure of a background upload, for the next flush
	errMu    sync.Mutex
}

func (t *Tier) writerOf(ino uint64, create bool) *writer {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.writers[ino]
	if w == nil && create {
		w = &writer{ino: ino}
		w.end.Store(-1)
		t.writers[ino] = w
	}
	return w
}

// PendingEnd returns the end offset of data written to ino through this
// client but not yet committed, or -1: the size the kernel must be told
// until the data lands.
func (t *Tier) PendingEnd(ino uint64) int64 {
	end := t.smallEnd(ino)
	if w := t.writerOf(ino, false); w != nil {
		end = max(end, w.end.Load())
	}
	return end
}

// streamWrite is the size from which a write to an empty buffer is taken
// for the start of a sequential stream (FUSE sends up to 1 MiB at once).
const streamWrite = 128 << 10

// Write stores data at off in ino. Small writes to small files are held
// and committed together (small.go); data of large ones is buffered and
// sent in the background. Both reach other clients at the next flush.
func (t *Tier) Write(ctx context.Context, ino uint64, off int64, data []byte) error {
	t.forgetSeeded(ino)
	if t.mayBeInline(ino) {
		if done, err := t.writeSmall(ctx, ino, off, data); done {
			return err
		}
	}
	return t.writeNow(ctx, ino, off, data)
}

// writeNow writes data without holding it as a small write: to the store
// at once without an object store, else on the sliced path (which still
// commits a write to a small file inline at once).
func (t *Tier) writeNow(ctx context.Context, ino uint64, off int64, data []byte) error {
	if t.obj == nil {
		_, err := t.m.Write(ctx, ino, off, data)
		return err
	}
	return t.writeSliced(ctx, ino, off, data)
}

// mayBeInline reports whether ino's next write may keep its body in the
// store: always without an object store; else unless the file is known to
// be sliced or has slices on their way.
func (t *Tier) mayBeInline(ino uint64) bool {
	if t.obj == nil {
		return true
	}
	if _, known := t.sliced.Load(ino); known {
		return false
	}
	w := t.writerOf(ino, false)
	return w == nil || w.idle()
}

// writeSliced stores data at off in ino, in slices unless the file is
// small enough to stay inline (checked by the store's transaction).
func (t *Tier) writeSliced(ctx context.Context, ino uint64, off int64, data []byte) error {
	w := t.writerOf(ino, false)
	if _, known := t.sliced.Load(ino); !known && (w == nil || w.idle()) {
		_, err := t.m.Write(ctx, ino, off, data)
		if !errors.Is(err, meta.ErrNeedSlices) {
			return err
		}
		t.sliced.Store(ino, struct{}{}) // files never go back to inline
	}
	w = t.lockWriter(ino)
	defer w.mu.Unlock()
	if off != w.bufOff+int64(len(w.buf)) {
		// Not contiguous (with the buffer, or with what was sent last): it
		// may overlap what is in flight, and slices of one inode must land
		// in write order where they overlap.
		t.sendLocked(ctx, w)
		w.inflight.Wait()
	}
	if len(w.buf) == 0 {
		w.bufOff, w.since = off, time.Now()
	}
	for len(data) > 0 {
		// Cut at block size and chunk boundaries: a slice is one object
		// inside one chunk.
		pos := w.bufOff + int64(len(w.buf))
		room := min(t.layout.BlockSize-int64(len(w.buf)), t.layout.ChunkSize-pos%t.layout.ChunkSize)
		n := min(int64(len(data)), room)
		if !t.budget.tryAcquire(n) {
			// Send what we hold before waiting, so that writers waiting on
			// each other's buffers cannot deadlock: all held bytes are then
			// in uploads, which release them.
			t.sendLocked(ctx, w)
			t.budget.acquire(n)
		}
		w.buf = grow(w.buf, int(n), int(room))
		w.buf = append(w.buf, data[:n]...)
		data = data[n:]
		w.end.Store(max(w.end.Load(), w.bufOff+int64(len(w.buf))))
		if n == room {
			t.sendLocked(ctx, w)
			w.bufOff = pos + n
			w.since = time.Now()
		}
	}
	return nil
}

// grow returns buf with room for n more bytes, where it may hold room
// more at most (the slice's end). A large write into an empty buffer
// starts a stream and gets the whole room at once; otherwise the buffer
// doubles. append grows a large slice by a quarter at a time, which
// copied a 4 MiB block about five times over when the writes were small
// (io.Copy into a file writes 32 KiB at a time: 3.2 s of a 22 s profile
// of a 1 GiB copy went to growslice and its copies).
func grow(buf []byte, n, room int) []byte {
	need := len(buf) + n
	if need <= cap(buf) {
		return buf
	}
	limit := len(buf) + room
	c := max(2*cap(buf), need, minWriteBuf)
	if len(buf) == 0 && n >= streamWrite {
		c = limit
	}
	nb := make([]byte, len(buf), min(c, limit))
	copy(nb, buf)
	return nb
}

// minWriteBuf is the first capacity of a write buffer.
const minWriteBuf = 64 << 10

// lockWriter returns ino's writer with its mutex held. A Flush may drop an
// idle writer from the map while we wait for its mutex; data buffered in a
// dropped writer would reach nobody, so then we start over.
func (t *Tier) lockWriter(ino uint64) *writer {
	for {
		w := t.writerOf(ino, true)
		w.mu.Lock()
		t.mu.Lock()
		current := t.writers[ino] == w
		t.mu.Unlock()
		if current {
			return w
		}
		w.mu.Unlock()
	}
}

func (w *writer) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) == 0 && w.end.Load() < 0
}

func (w *writer) takeErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	err := w.err
	w.err = nil
	return err
}

func (w *writer) peekErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *writer) setErr(err error) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// sendLocked starts uploading w's buffer as one slice. It waits for an
// upload slot, which is the back-pressure on writers.
func (t *Tier) sendLocked(ctx context.Context, w *writer) {
	if len(w.buf) == 0 {
		return
	}
	data, off := w.buf, w.bufOff
	w.buf = nil
	w.bufOff += int64(len(data))
	w.inflight.Add(1)
	t.uploads <- struct{}{}
	go func() {
		defer func() {
			<-t.uploads
			t.budget.release(int64(len(data)))
			w.inflight.Done()
		}()
		// The upload outlives the request that filled the buffer.
		if err := t.upload(context.WithoutCancel(ctx), w.ino, off, data); err != nil {
			t.log.Error("write back failed; the application sees it at close or fsync", "ino", w.ino,
				"off", off, "len", len(data), "err", err)
			t.ctr.uploadErrors.Add(1)
			w.setErr(err)
		}
	}()
}

// upload stores one slice and commits it: intent, object, then the chunk
// list. A chunk too fragmented to take the slice is compacted first.
func (t *Tier) upload(ctx context.Context, ino uint64, off int64, data []byte) error {
	ref, err := t.putSlice(ctx, data)
	if err != nil {
		return err
	}
	ref.Pos = uint32(off % t.layout.ChunkSize)
	idx := off / t.layout.ChunkSize
	for attempt := 0; ; attempt++ {
		var listLen int
		_, listLen, err = t.m.CommitSlices(ctx, ino, []meta.ChunkWrite{{Index: idx, Slice: ref}}, off+int64(len(data)))
		if err == nil && listLen >= compactAt {
			t.compactLater(ino, idx)
		}
		if !errors.Is(err, meta.ErrChunkFull) || attempt == 3 {
			break
		}
		if cerr := t.compact(ctx, ino, idx); cerr != nil {
			err = cerr
			break
		}
	}
	t.Invalidate(ino)
	if err != nil {
		if aerr := t.m.AbandonSlice(ctx, ref.ID, int64(ref.Len)); aerr != nil {
			t.log.Warn("could not queue the objects of an abandoned slice; gc will find them", "slice", ref.ID, "err", aerr)
		}
		return fmt.Errorf("commit write of inode %d at %d: %w", ino, off, err)
	}
	return nil
}

// putSlice records the intent to upload, then uploads data as a new
// slice's object and returns its reference (Pos unset).
func (t *Tier) putSlice(ctx context.Context, data []byte) (meta.SliceRef, error) {
	id, err := t.m.NewSlice(ctx, int64(len(data)))
	if err != nil {
		return meta.SliceRef{}, err
	}
	ref := meta.SliceRef{ID: id, Len: uint32(len(data)), CRCs: t.pageCRCs(data)}
	t.ctr.uploads.Add(1)
	t.ctr.uploadBytes.Add(int64(len(data)))
	if err := t.obj.Put(ctx, ObjectKey(id), data); err != nil {
		if aerr := t.m.AbandonSlice(ctx, id, int64(len(data))); aerr != nil {
			t.log.Warn("could not queue the objects of an abandoned slice; gc will find them", "slice", id, "err", aerr)
		}
		return meta.SliceRef{}, fmt.Errorf("upload slice %d: %w", id, err)
	}
	if t.disk != nil {
		// What this node wrote it reads back from its own disk (see
		// diskCache); uploaded first, so the cache never holds an object
		// the store lacks.
		t.disk.put(pageKey{id, objectPage}, data)
	}
	return ref, nil
}

func (t *Tier) pageCRCs(data []byte) []uint32 {
	ps := t.layout.PageSize
	out := make([]uint32, 0, (int64(len(data))+ps-1)/ps)
	for p := int64(0); p < int64(len(data)); p += ps {
		out = append(out, crc32.Checksum(data[p:min(p+ps, int64(len(data)))], t.crc))
	}
	return out
}

// Flush sends ino's buffered data and waits until every slice of it has
// committed, and reports (once) the first write-back failure since the
// last Flush: it is what fsync and close call.
func (t *Tier) Flush(ctx context.Context, ino uint64) error { return t.flush(ctx, ino, true) }

// flush is Flush; with report unset (a read by this client) it returns a
// pending failure without clearing it, so fsync and close still see it.
func (t *Tier) flush(ctx context.Context, ino uint64, report bool) error {
	serr := t.flushSmall(ctx, ino, report)
	w := t.writerOf(ino, false)
	if w == nil {
		return serr
	}
	w.mu.Lock()
	t.sendLocked(ctx, w)
	w.inflight.Wait()
	var err error
	if report {
		err = w.takeErr()
	} else {
		err = w.peekErr()
	}
	w.end.Store(-1)
	keep := w.peekErr() != nil
	w.mu.Unlock()
	if serr != nil {
		err = errors.Join(serr, err)
	}
	if !keep {
		t.mu.Lock()
		if t.writers[ino] == w && w.tryIdle() {
			delete(t.writers, ino)
		}
		t.mu.Unlock()
	}
	return err
}

// tryIdle reports whether w has nothing pending, without blocking.
func (w *writer) tryIdle() bool {
	if !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	return len(w.buf) == 0 && w.end.Load() < 0
}

// ager sends buffers that have waited longer than FlushAge, so data does
// not sit in memory indefinitely when a writer pauses.
func (t *Tier) ager() {
	tick := time.NewTicker(t.opts.FlushAge / 2)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.ageSmall()
		t.mu.Lock()
		ws := make([]*writer, 0, len(t.writers))
		for _, w := range t.writers {
			ws = append(ws, w)
		}
		t.mu.Unlock()
		for _, w := range ws {
			if !w.mu.TryLock() {
				continue
			}
			if len(w.buf) > 0 && time.Since(w.since) >= t.opts.FlushAge {
				t.sendLocked(context.Background(), w)
			}
			w.mu.Unlock()
		}
	}
}

// byteBudget bounds the bytes held by writers.
type byteBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	free int64
}

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{free: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// tryAcquire takes n bytes of budget if they are free.
func (b *byteBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free < n {
		return false
	}
	b.free -= n
	return true
}

// acquire waits for n bytes of budget. The wait is not cancellable: the
// bytes it waits for are being uploaded and are released when that ends.
func (b *byteBudget) acquire(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n {
		b.cond.Wait()
	}
	b.free -= n
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}
