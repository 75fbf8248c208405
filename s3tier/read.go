package s3tier

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync"
	"syscall"

	"github.com/hafs/hafs/fdbstore/meta"
)

// Read-ahead: a run of sequential reads of one inode grows the window it
// prefetches, from minWindow doubling to maxWindow; a random read resets it.
const (
	minWindow = 1 << 20
	maxWindow = 32 << 20
)

// readState tracks one inode's access pattern for read-ahead.
type readState struct {
	next        int64 // where a sequential read would start
	window      int64
	prefetching bool
}

// span is a half-open byte range [lo, hi).
type span struct{ lo, hi int64 }

// Read returns up to n bytes of ino at off (fewer at end of file). This
// client's own buffered writes to ino are flushed first, so a read sees
// every write that returned.
func (t *Tier) Read(ctx context.Context, ino uint64, off int64, n int) ([]byte, error) {
	if t.obj == nil {
		return t.m.Read(ctx, ino, off, n)
	}
	if t.writerOf(ino, false) != nil {
		if err := t.Flush(ctx, ino); err != nil {
			return nil, err
		}
	}
	p, err := t.m.PlanRead(ctx, ino, off, n)
	if err != nil {
		return nil, err
	}
	if len(p.Base) == 0 || p.Chunks == nil {
		return p.Base, nil
	}
	if err := t.paint(ctx, p, p.Base); err != nil {
		return nil, err
	}
	t.readAhead(ino, off, int64(len(p.Base)), p.Attr.Size)
	return p.Base, nil
}

// paint fills out (the plan's range, holding the inline base) with the
// slices of each chunk, newest first: a byte takes the newest slice that
// covers it, and only those bytes are fetched.
func (t *Tier) paint(ctx context.Context, p *meta.ReadPlan, out []byte) error {
	cs := t.layout.ChunkSize
	off, end := p.Off, p.Off+int64(len(out))
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
				dst := out[base+a-off : base+b-off]
				if r.ID == 0 {
					clear(dst)
					continue
				}
				jobs = append(jobs, fetchJob{r, a - rs, dst})
			}
			uncovered = rest
		}
	}
	return t.runFetches(ctx, jobs)
}

// fetchJob copies part of one slice into its own region of a read buffer.
type fetchJob struct {
	r    meta.SliceRef
	from int64
	dst  []byte
}

// fetchParallel bounds the object reads one read runs at once.
const fetchParallel = 8

// runFetches runs jobs, several at once when there are several: their
// destinations never overlap.
func (t *Tier) runFetches(ctx context.Context, jobs []fetchJob) error {
	if len(jobs) == 1 {
		return t.readSlice(ctx, jobs[0].r, jobs[0].from, jobs[0].dst)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		sem  = make(chan struct{}, fetchParallel)
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := t.readSlice(ctx, j.r, j.from, j.dst); err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ferr
}

// readSlice copies len(dst) bytes of slice r from offset from into dst,
// through the page cache. Missing pages are fetched with one ranged GET per
// run and each is verified against its CRC32C before it is used or cached.
func (t *Tier) readSlice(ctx context.Context, r meta.SliceRef, from int64, dst []byte) error {
	ps := t.layout.PageSize
	to := from + int64(len(dst))
	first, last := from/ps, (to-1)/ps
	pages := make([][]byte, last-first+1)
	for pg := first; pg <= last; {
		if data, ok := t.cache.get(pageKey{r.ID, pg}); ok {
			pages[pg-first] = data
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
			if data, ok := t.cache.get(pageKey{r.ID, pg}); ok {
				pages[pg-first] = data
				pg++
				continue
			}
		}
		if data, ok := t.fromDisk(r, pg); ok {
			pages[pg-first] = data
			pg++
			continue
		}
		run, done := t.claimRun(r.ID, pg, last)
		got, err := t.fetchPages(ctx, r, pg, run)
		done()
		if err != nil {
			return err
		}
		copy(pages[pg-first:], got)
		pg = run + 1
	}
	for i, data := range pages {
		pg := first + int64(i)
		lo, hi := max(from, pg*ps), min(to, pg*ps+int64(len(data)))
		if hi > lo {
			copy(dst[lo-from:hi-from], data[lo-pg*ps:hi-pg*ps])
		}
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
	t.cache.put(k, data)
	return data, true
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

// fetchPages reads pages [first, last] of slice r from the object store,
// verifies and caches them.
func (t *Tier) fetchPages(ctx context.Context, r meta.SliceRef, first, last int64) ([][]byte, error) {
	ps := t.layout.PageSize
	lo, hi := first*ps, min((last+1)*ps, int64(r.Len))
	data, err := t.obj.Get(ctx, ObjectKey(r.ID), lo, hi-lo)
	if err != nil {
		return nil, fmt.Errorf("read slice %d: %w", r.ID, err)
	}
	if int64(len(data)) != hi-lo {
		t.crcErrors.Add(1)
		t.log.Error("slice object is shorter than recorded: answering EIO", "slice", r.ID,
			"object", ObjectKey(r.ID), "want", hi-lo, "got", len(data))
		return nil, fmt.Errorf("slice %d: object too short: %w", r.ID, syscall.EIO)
	}
	out := make([][]byte, 0, last-first+1)
	for pg := first; pg <= last; pg++ {
		page := data[pg*ps-lo : min((pg+1)*ps, int64(r.Len))-lo]
		if int(pg) >= len(r.CRCs) || crc32.Checksum(page, t.crc) != r.CRCs[pg] {
			t.crcErrors.Add(1)
			t.log.Error("checksum mismatch in a slice object: answering EIO, not the bad data",
				"slice", r.ID, "object", ObjectKey(r.ID), "page", pg)
			return nil, fmt.Errorf("slice %d page %d: checksum mismatch: %w", r.ID, pg, syscall.EIO)
		}
		t.cache.put(pageKey{r.ID, pg}, page)
		if t.disk != nil {
			t.disk.put(pageKey{r.ID, pg}, page)
		}
		out = append(out, page)
	}
	return out, nil
}

// readAhead notes a read of [off, off+n) and, on a sequential run,
// prefetches the window after it in the background.
func (t *Tier) readAhead(ino uint64, off, n int64, size uint64) {
	t.mu.Lock()
	rs := t.readers[ino]
	if rs == nil {
		if len(t.readers) > 4096 {
			clear(t.readers) // forget old streams rather than grow
		}
		rs = &readState{}
		t.readers[ino] = rs
	}
	seq := off == rs.next
	rs.next = off + n
	if !seq {
		rs.window = 0
		t.mu.Unlock()
		return
	}
	rs.window = min(max(2*rs.window, minWindow), maxWindow)
	from, window := off+n, rs.window
	if rs.prefetching || from >= int64(size) {
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
		ctx := context.Background()
		p, err := t.m.PlanRead(ctx, ino, from, int(window))
		if err != nil || p.Chunks == nil {
			return
		}
		// Errors are the foreground read's to report when it gets there.
		_ = t.paint(ctx, p, p.Base)
	}()
}
