package s3tier

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"syscall"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// Read-ahead: a run of sequential reads of one inode grows the window it
// prefetches, from minWindow doubling to maxWindow; a random read resets it.
const (
	minWindow = 1 << 20
	maxWindow = 64 << 20
)

// readState tracks one inode's access pattern for read-ahead.
type readState struct {
	next        int64 // where a sequential read would start
	window      int64
	fetched     int64 // read-ahead has cached up to here
	prefetching bool
}

// span is a half-open byte range [lo, hi).
type span struct{ lo, hi int64 }

// Read returns up to n bytes of ino at off (fewer at end of file). This
// client's own buffered writes to ino are flushed first, so a read sees
// every write that returned.
func (t *Tier) Read(ctx context.Context, ino uint64, off int64, n int) ([]byte, error) {
	buf := make([]byte, n)
	got, err := t.ReadInto(ctx, ino, off, buf)
	if err != nil {
		return nil, err
	}
	return buf[:got], nil
}

// ReadInto is Read into dst, which may hold anything: the FUSE layer
// passes the kernel's request buffer, so a read of cached data allocates
// nothing. It returns how many bytes of dst it filled.
func (t *Tier) ReadInto(ctx context.Context, ino uint64, off int64, dst []byte) (int, error) {
	if n, ok := t.readSeeded(ino, off, dst); ok {
		return n, nil
	}
	if t.smallOf(ino) != nil {
		if err := t.flushSmall(ctx, ino, false); err != nil {
			return 0, err
		}
	}
	if t.obj == nil {
		b, err := t.m.Read(ctx, ino, off, len(dst))
		return copy(dst, b), err
	}
	if t.writerOf(ino, false) != nil {
		if err := t.flush(ctx, ino, false); err != nil {
			return 0, err
		}
	}
	p := t.cachedPlan(ino, off, len(dst), dst)
	if p != nil {
		err := t.paintAhead(ctx, p, p.Base, t.aheadFor(ino, off))
		if err == nil {
			t.readAhead(ctx, ino, off, int64(len(p.Base)), p.Attr.Size)
			return len(p.Base), nil
		}
		// Objects of a stale layout may be gone (another client truncated
		// or compacted): read the layout again.
		t.Invalidate(ino)
	}
	for attempt := 0; ; attempt++ {
		p, err := t.planRead(ctx, ino, off, len(dst), true)
		if err != nil {
			return 0, err
		}
		if len(p.Base) == 0 || p.Chunks == nil {
			return copy(dst, p.Base), nil
		}
		err = t.paintAhead(ctx, p, p.Base, t.aheadFor(ino, off))
		if err == nil {
			t.readAhead(ctx, ino, off, int64(len(p.Base)), p.Attr.Size)
			return copy(dst, p.Base), nil
		}
		// Another client may have compacted or truncated the file between
		// the plan and the fetch, and its objects be gone: plan once more
		// (also when a site that is down might still have held them).
		if attempt == 1 || !errors.Is(err, routing.ErrNotFound) && !errors.Is(err, routing.ErrPartlyMissing) {
			return 0, err
		}
		t.Invalidate(ino)
	}
}

// aheadFor returns how far past a read at off of ino it is worth fetching:
// the read-ahead window on a sequential stream, nothing on random reads.
func (t *Tier) aheadFor(ino uint64, off int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.readers[ino]
	if rs == nil || rs.window == 0 {
		return 0
	}
	if near := max(rs.window, minWindow); off < rs.next-near || off > rs.next+near {
		return 0
	}
	return rs.window
}

// fileLayout is what this client knows of a sliced file's chunk lists, kept
// between reads so that a read of cached data costs no transaction. It is
// dropped when the file is opened (close-to-open), a lock on it is granted,
// and whenever this client changes the file (Invalidate).
type fileLayout struct {
	size   int64
	chunks map[int64][]meta.SliceRef // loaded chunks; an empty list is a loaded empty chunk
}

// maxLayouts bounds the layouts kept; past it they are all forgotten.
const maxLayouts = 4096

// Invalidate forgets what this client knows of ino's layout.
func (t *Tier) Invalidate(ino uint64) {
	t.mu.Lock()
	delete(t.layouts, ino)
	t.dropInlineLocked(ino)
	t.layoutGen++
	t.mu.Unlock()
}

// cachedPlan builds a read plan from the cached layout, or returns nil when
// it does not cover the range. Ranges over the inline part always read the
// store, where that part lives. With base set, the plan's Base is its
// first bytes, zeroed (painting leaves holes as they are); with base nil
// the plan has no Base (read-ahead only warms the cache).
func (t *Tier) cachedPlan(ino uint64, off int64, n int, base []byte) *meta.ReadPlan {
	if off < t.layout.InlineMax {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.layouts[ino]
	if l == nil {
		return nil
	}
	end := min(l.size, off+int64(n))
	if off >= end {
		return &meta.ReadPlan{Attr: &meta.Attr{Size: uint64(l.size)}, Off: off}
	}
	cs := t.layout.ChunkSize
	chunks := map[int64][]meta.SliceRef{}
	for idx := off / cs; idx*cs < end; idx++ {
		refs, ok := l.chunks[idx]
		if !ok {
			return nil
		}
		chunks[idx] = refs
	}
	p := &meta.ReadPlan{Attr: &meta.Attr{Size: uint64(l.size), Flags: meta.AttrSliced}, Off: off, Len: end - off, Chunks: chunks}
	if base != nil {
		p.Base = base[:end-off]
		clear(p.Base)
	}
	return p
}

// planRead reads a plan from the store and remembers the layout it shows,
// unless an invalidation happened meanwhile. With base unset the plan has
// no Base (read-ahead only warms the cache).
func (t *Tier) planRead(ctx context.Context, ino uint64, off int64, n int, base bool) (*meta.ReadPlan, error) {
	t.mu.Lock()
	gen := t.layoutGen
	t.mu.Unlock()
	plan := t.m.PlanLayout
	if base {
		plan = t.m.PlanRead
	}
	p, err := plan(ctx, ino, off, n)
	if err != nil || !p.Attr.Sliced() || p.Len == 0 {
		return p, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.layoutGen != gen {
		return p, nil
	}
	l := t.layouts[ino]
	if l == nil || l.size != int64(p.Attr.Size) {
		if len(t.layouts) >= maxLayouts {
			clear(t.layouts)
		}
		l = &fileLayout{size: int64(p.Attr.Size), chunks: map[int64][]meta.SliceRef{}}
		t.layouts[ino] = l
	}
	cs := t.layout.ChunkSize
	for idx := off / cs; idx*cs < off+p.Len; idx++ {
		refs := p.Chunks[idx]
		if refs == nil {
			refs = []meta.SliceRef{}
		}
		l.chunks[idx] = refs
	}
	return p, nil
}

// paint fills out (the plan's range, holding the inline base) with the
// slices of each chunk, newest first: a byte takes the newest slice that
// covers it, and only those bytes are fetched.
func (t *Tier) paint(ctx context.Context, p *meta.ReadPlan, out []byte) error {
	return t.paintAhead(ctx, p, out, 0)
}

// paintAhead is paint that, on a sequential stream, fetches up to ahead
// bytes past what it needs from each slice it must read anyway: one larger
// GET instead of many small ones.
func (t *Tier) paintAhead(ctx context.Context, p *meta.ReadPlan, out []byte, ahead int64) error {
	jobs := t.pieces(p, out, p.Off+int64(len(out)))
	for i := range jobs {
		jobs[i].ahead = ahead
	}
	return t.runFetches(ctx, jobs)
}

// warm makes sure the pages that [p.Off, end) shows are in the cache,
// fetching only the missing ones and copying nothing (read-ahead).
func (t *Tier) warm(ctx context.Context, p *meta.ReadPlan, end int64) error {
	return t.runFetches(ctx, t.pieces(p, nil, end))
}

// pieces lists, for the range [p.Off, end) of the plan, the parts of
// slices that show, newest slice first per byte. With out set, holes are
// zeroed in it and each job copies into its region; with out nil the jobs
// only warm the cache.
func (t *Tier) pieces(p *meta.ReadPlan, out []byte, end int64) []fetchJob {
	cs := t.layout.ChunkSize
	off := p.Off
	var jobs []fetchJob
	for idx := off / cs; idx*cs < end; idx++ {
		refs := p.Chunks[idx]
		if len(refs) == 0 {
			continue
		}
		base := idx * cs
		uncovered := []span{{max(off, base) - base, min(end, base+cs) - base}}
		for i := len(refs) - 1; i >= 0 && len(uncovered) > 0; i-- {
			r := refs[i]
			rs, re := int64(r.Pos), int64(r.Pos)+int64(r.Len)
			var rest []span
			for _, u := range uncovered {
				a, b := max(u.lo, rs), min(u.hi, re)
				if a >= b {
					rest = append(rest, u)
					continue
				}
				if u.lo < a {
					rest = append(rest, span{u.lo, a})
				}
				if b < u.hi {
					rest = append(rest, span{b, u.hi})
				}
				if out == nil {
					if r.ID != 0 {
						jobs = append(jobs, fetchJob{r: r, from: a - rs, n: b - a})
					}
					continue
				}
				dst := out[base+a-off : base+b-off]
				if r.ID == 0 {
					clear(dst)
					continue
				}
				jobs = append(jobs, fetchJob{r: r, from: a - rs, n: b - a, dst: dst})
			}
			uncovered = rest
		}
	}
	return jobs
}

// fetchJob copies n bytes of one slice from offset from into its own
// region dst of a read buffer, or with dst nil only caches them.
type fetchJob struct {
	r       meta.SliceRef
	from, n int64
	dst     []byte
	ahead   int64 // bytes past from+n worth fetching along
}

// fetchParallel bounds the object reads one read runs at once.
const fetchParallel = 8

// runFetches runs jobs, several at once when there are several: their
// destinations never overlap.
func (t *Tier) runFetches(ctx context.Context, jobs []fetchJob) error {
	return inParallel(len(jobs), fetchParallel, func(i int) error { return t.readSlice(ctx, jobs[i]) })
}

// readSlice copies n bytes of slice r from offset from into dst (or, with
// dst nil, only makes sure they are cached), through the page cache.
// Missing pages are fetched with one ranged GET per run and each is
// verified against its CRC32C before it is used or cached.
func (t *Tier) readSlice(ctx context.Context, j fetchJob) error {
	r, from, dst := j.r, j.from, j.dst
	ps := t.layout.PageSize
	to := from + j.n
	first, last := from/ps, (to-1)/ps
	limit := min(last+j.ahead/ps, (int64(r.Len)-1)/ps)
	// cached copies page pg out of the cache (with dst nil: finds it there).
	cached := func(pg int64) bool {
		k := pageKey{r.ID, pg}
		if dst == nil {
			return t.cache.has(k)
		}
		return t.cache.copyPage(k, dst, from, to)
	}
	for pg := first; pg <= last; {
		if cached(pg) {
			pg++
			continue
		}
		// Another read (read-ahead, most often) may be fetching this page:
		// wait for it rather than fetch it twice.
		if wait := t.loadingOf(pageKey{r.ID, pg}); wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return ctx.Err()
			}
			if cached(pg) {
				pg++
				continue
			}
		}
		if t.disk != nil && t.disk.hasObject(r.ID) {
			// This node wrote the slice: its object is on the local disk.
			run, done := t.claimRun(r.ID, pg, limit)
			data, pooled, ok := t.objectFromDisk(r, pg, run)
			if ok {
				if dst != nil {
					for p := pg; p <= min(run, last); p++ {
						copyRange(dst, from, to, data, pg*ps, p*ps, ps)
					}
				}
				t.cache.put(r.ID, pg, data, pooled)
			}
			done()
			if ok {
				pg = run + 1
				continue
			}
		}
		if data, ok := t.fromDisk(r, pg); ok {
			t.ctr.diskHits.Add(1)
			if dst != nil {
				copyRange(dst, from, to, data, pg*ps, pg*ps, ps)
			}
			t.cache.put(r.ID, pg, data, false)
			pg++
			continue
		}
		if t.disk != nil {
			t.ctr.diskMisses.Add(1)
		}
		run, done := t.claimRun(r.ID, pg, limit)
		data, pooled, err := t.fetchPages(ctx, r, pg, run)
		if err == nil {
			if dst != nil {
				for p := pg; p <= min(run, last); p++ {
					copyRange(dst, from, to, data, pg*ps, p*ps, ps)
				}
			}
			t.keep(r, pg, data, pooled)
		}
		done() // after keep: whoever waits on these pages finds them cached
		if err != nil {
			return err
		}
		pg = run + 1
	}
	return nil
}

// fromDisk returns page pg of slice r from the disk cache, verified; a
// page that fails its checksum is dropped from the disk and counted.
func (t *Tier) fromDisk(r meta.SliceRef, pg int64) ([]byte, bool) {
	if t.disk == nil {
		return nil, false
	}
	k := pageKey{r.ID, pg}
	data, ok := t.disk.get(k)
	if !ok {
		return nil, false
	}
	want := min(t.layout.PageSize, int64(r.Len)-pg*t.layout.PageSize)
	if int64(len(data)) != want || int(pg) >= len(r.CRCs) || crc32.Checksum(data, t.crc) != r.CRCs[pg] {
		t.crcErrors.Add(1)
		t.log.Error("checksum mismatch in the disk cache: dropped the page, reading it from the object store",
			"slice", r.ID, "page", pg)
		t.disk.drop(k)
		return nil, false
	}
	return data, true
}

// keep caches the verified pages of slice r that data holds from page
// first on, in memory and on the local disk; the memory cache owns data.
func (t *Tier) keep(r meta.SliceRef, first int64, data []byte, pooled bool) {
	if t.disk != nil {
		ps := t.layout.PageSize
		for lo := int64(0); lo < int64(len(data)); lo += ps {
			t.disk.put(pageKey{r.ID, first + lo/ps}, data[lo:min(lo+ps, int64(len(data)))])
		}
	}
	t.cache.put(r.ID, first, data, pooled)
}

// loadingOf returns the channel closed when the page being fetched by
// another read is in the cache (or its fetch failed), or nil.
func (t *Tier) loadingOf(k pageKey) chan struct{} {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	return t.loading[k]
}

// claimRun marks pages [pg, run] of slice id as being fetched by the
// caller, extending the run while pages are neither cached nor claimed (up
// to last), and returns its end and the function that releases the claim.
func (t *Tier) claimRun(id uint64, pg, last int64) (int64, func()) {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	ch := make(chan struct{})
	run := pg
	t.loading[pageKey{id, pg}] = ch
	for run+1 <= last {
		k := pageKey{id, run + 1}
		if _, busy := t.loading[k]; busy || t.cache.has(k) {
			break
		}
		run++
		t.loading[k] = ch
	}
	return run, func() {
		t.loadMu.Lock()
		for p := pg; p <= run; p++ {
			delete(t.loading, pageKey{id, p})
		}
		t.loadMu.Unlock()
		close(ch)
	}
}

// fetchPages reads pages [first, last] of slice r from the object store
// and verifies them. The data is in a buffer of the pool when pooled is
// set; the caller hands it on to the cache (keep).
func (t *Tier) fetchPages(ctx context.Context, r meta.SliceRef, first, last int64) (data []byte, pooled bool, err error) {
	ps := t.layout.PageSize
	lo, hi := first*ps, min((last+1)*ps, int64(r.Len))
	t.ctr.fetches.Add(1)
	// verify checks every page of a response; with several sites the
	// router reads a copy that fails it from the next site.
	verify := func(data []byte) error {
		if int64(len(data)) != hi-lo {
			t.crcErrors.Add(1)
			return fmt.Errorf("slice %d: object too short (%d bytes of %d): %w", r.ID, len(data), hi-lo, syscall.EIO)
		}
		for pg := first; pg <= last; pg++ {
			page := data[pg*ps-lo : min((pg+1)*ps, int64(r.Len))-lo]
			if int(pg) >= len(r.CRCs) || crc32.Checksum(page, t.crc) != r.CRCs[pg] {
				t.crcErrors.Add(1)
				return fmt.Errorf("slice %d page %d: checksum mismatch: %w", r.ID, pg, syscall.EIO)
			}
		}
		return nil
	}
	buf := t.bufs.get(int(hi - lo))
	if v, ok := t.obj.(routing.VerifyingStore); ok {
		data, err = v.GetVerifiedInto(ctx, ObjectKey(r.ID), lo, buf, verify)
	} else if data, err = routing.GetInto(ctx, t.obj, ObjectKey(r.ID), lo, buf); err == nil {
		err = verify(data)
	}
	// The store may answer from a buffer of its own; ours is then free at
	// once (no reader holds it: a read into it has returned).
	pooled = err == nil && len(data) > 0 && &data[0] == &buf[0]
	if !pooled {
		t.bufs.put(buf)
	}
	t.ctr.fetchBytes.Add(int64(len(data)))
	if err != nil {
		if errors.Is(err, syscall.EIO) {
			t.log.Error("bad slice object (checksum or length): answering EIO, not the bad data",
				"slice", r.ID, "object", ObjectKey(r.ID), "err", err)
			return nil, false, fmt.Errorf("read slice %d: %w", r.ID, syscall.EIO)
		}
		return nil, false, fmt.Errorf("read slice %d: %w", r.ID, err)
	}
	return data[:hi-lo], pooled, nil
}

// readAhead notes a read of [off, off+n) and, on a sequential run, keeps
// the pages of the window after it fetched, in the background, staying
// half a window ahead so the reader rarely waits.
func (t *Tier) readAhead(ctx context.Context, ino uint64, off, n int64, size uint64) {
	t.mu.Lock()
	rs := t.readers[ino]
	if rs == nil {
		if len(t.readers) > 4096 {
			clear(t.readers) // forget old streams rather than grow
		}
		rs = &readState{}
		t.readers[ino] = rs
	}
	// The kernel's own read-ahead sends several reads at once and they
	// arrive in any order: a read near the stream's head continues it.
	near := max(rs.window, minWindow)
	seq := rs.next > 0 && off >= rs.next-near && off <= rs.next+near
	rs.next = max(rs.next, off+n)
	if !seq {
		rs.window, rs.next, rs.fetched = 0, off+n, 0
		t.mu.Unlock()
		return
	}
	rs.window = min(max(2*rs.window, minWindow), maxWindow)
	from := max(rs.next, rs.fetched)
	to := min(rs.next+rs.window, int64(size))
	if rs.prefetching || from >= to || rs.fetched-rs.next >= rs.window/2 {
		t.mu.Unlock()
		return
	}
	rs.prefetching = true
	t.mu.Unlock()
	go func() {
		defer func() {
			t.mu.Lock()
			rs.prefetching = false
			t.mu.Unlock()
		}()
		// The reader's values (the file's path, which routing policy
		// reads), without its cancellation: the reader has moved on.
		ctx := context.WithoutCancel(ctx)
		// Keep going until a whole window ahead of the reader, so the
		// next batch starts while the reader still has half a window.
		for {
			t.mu.Lock()
			from := max(rs.next, rs.fetched)
			to := min(rs.next+rs.window, int64(size))
			t.mu.Unlock()
			if from >= to {
				return
			}
			p := t.cachedPlan(ino, from, int(to-from), nil)
			if p == nil {
				var err error
				if p, err = t.planRead(ctx, ino, from, int(to-from), false); err != nil {
					return
				}
			}
			if p.Chunks == nil {
				return
			}
			// Errors are the foreground read's to report when it gets there.
			if t.warm(ctx, p, to) != nil {
				return
			}
			t.mu.Lock()
			rs.fetched = max(rs.fetched, to)
			t.mu.Unlock()
		}
	}()
}
