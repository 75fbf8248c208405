package s3tier

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafs/hafs/meta"
)

// Small writes.
//
// A file body kept in the store costs a transaction per write(2), and
// programs write small files in small pieces: GNU tar in 10 KiB records,
// so untarring a source tree was several transactions per file, each
// synced. Contiguous writes to a file are held here instead and committed
// in one transaction at the points where the slices of large files land:
// close (so close-to-open consistency holds), fsync, a lock change, a
// truncate, a read by this client, a write elsewhere in the file, a full
// buffer, or FlushAge. Until then this client reports the buffered end as
// the file's size (PendingEnd), and a failed commit is reported by the next
// write and by close and fsync, as for a slice that failed to upload.
//
// The bytes held count against the same budget as the slice buffers, so
// many open files cannot hold unbounded memory: when the budget is spent a
// write goes to the store at once.

// smallMaxNoObjects is the most held per file when the filesystem has no
// object store (its bodies are rows of the store of any size). With an
// object store the inline threshold bounds it: past it the file is sliced.
const smallMaxNoObjects = 256 << 10

// smallBuf is one inode's contiguous small writes not yet committed.
type smallBuf struct {
	mu    sync.Mutex
	off   int64
	buf   []byte
	since time.Time // when buf got its first byte
	err   error     // a failed commit, for the next Flush
	end   atomic.Int64
}

func (t *Tier) smallLimit() int64 {
	if t.layout != nil {
		return t.layout.InlineMax
	}
	return smallMaxNoObjects
}

func (t *Tier) smallOf(ino uint64) *smallBuf {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.small[ino]
}

// lockSmall returns ino's buffer with its mutex held, making it if needed.
// A flush may drop an idle buffer from the map while we wait for its
// mutex; bytes put in a dropped buffer would reach nobody, so then we
// start over.
func (t *Tier) lockSmall(ino uint64) *smallBuf {
	for {
		t.mu.Lock()
		b := t.small[ino]
		if b == nil {
			b = &smallBuf{}
			b.end.Store(-1)
			t.small[ino] = b
		}
		t.mu.Unlock()
		b.mu.Lock()
		t.mu.Lock()
		current := t.small[ino] == b
		t.mu.Unlock()
		if current {
			return b
		}
		b.mu.Unlock()
	}
}

// writeSmall holds data for ino if it can. When it cannot (the write is
// too large, goes past the inline threshold, or the budget is spent) it
// returns false with nothing of ino left held here, and the caller writes
// data itself.
func (t *Tier) writeSmall(ctx context.Context, ino uint64, off int64, data []byte) (bool, error) {
	n := int64(len(data))
	limit := t.smallLimit()
	if t.m.Fenced() {
		return true, meta.ErrFenced
	}
	b := t.lockSmall(ino)
	defer b.mu.Unlock()
	if b.err != nil {
		// A held write already failed: the file's bytes are not what the
		// application wrote, so nothing more is taken until a flush has
		// reported it.
		return true, b.err
	}
	if !t.mayBeInline(ino) {
		// Sliced since the caller looked (a concurrent write): the slices
		// must take every byte from now on.
		return false, t.commitSmallLocked(ctx, ino, b)
	}
	if len(b.buf) > 0 && (off != b.off+int64(len(b.buf)) || int64(len(b.buf))+n > limit) {
		if err := t.commitSmallLocked(ctx, ino, b); err != nil {
			return true, err
		}
	}
	sliced := t.layout != nil && off+n > t.layout.InlineMax
	if n > limit || sliced || !t.budget.tryAcquire(n) {
		if err := t.commitSmallLocked(ctx, ino, b); err != nil {
			return true, err
		}
		return false, nil
	}
	if len(b.buf) == 0 {
		b.off, b.since = off, time.Now()
		b.buf = make([]byte, 0, min(limit, max(4*n, 16<<10)))
	}
	b.buf = append(b.buf, data...)
	b.end.Store(b.off + int64(len(b.buf)))
	return true, nil
}

// commitSmallLocked commits what b holds in one transaction. A file that
// turns out to be sliced (another client sliced it, or it grew past the
// inline threshold) takes the bytes on the sliced path instead.
func (t *Tier) commitSmallLocked(ctx context.Context, ino uint64, b *smallBuf) error {
	if len(b.buf) == 0 {
		return nil
	}
	data, off := b.buf, b.off
	b.buf = nil
	defer func() {
		t.budget.release(int64(len(data)))
		b.end.Store(-1)
	}()
	_, err := t.m.Write(ctx, ino, off, data)
	if errors.Is(err, meta.ErrNeedSlices) && t.obj != nil {
		t.sliced.Store(ino, struct{}{})
		err = t.writeSliced(ctx, ino, off, data)
	}
	if err != nil {
		t.log.Error("small write failed; the application sees it at its next write, close or fsync", "ino", ino,
			"off", off, "len", len(data), "err", err)
		if b.err == nil {
			b.err = err
		}
	}
	return err
}

// flushSmall commits ino's held bytes and returns the first failure since
// the last report; with report unset (a read by this client) the failure
// stays for close and fsync to see.
func (t *Tier) flushSmall(ctx context.Context, ino uint64, report bool) error {
	b := t.smallOf(ino)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	_ = t.commitSmallLocked(ctx, ino, b) // its failure is in b.err
	err := b.err
	if report {
		b.err = nil
	}
	idle := b.err == nil
	b.mu.Unlock()
	if idle {
		t.mu.Lock()
		if t.small[ino] == b && b.mu.TryLock() {
			if len(b.buf) == 0 && b.err == nil {
				delete(t.small, ino)
			}
			b.mu.Unlock()
		}
		t.mu.Unlock()
	}
	return err
}

// WriteThrough is Write without holding small writes: a write to a file
// that stays inline has committed when it returns. Large files' slices are
// buffered as by Write (they land at the next flush).
func (t *Tier) WriteThrough(ctx context.Context, ino uint64, off int64, data []byte) error {
	t.forgetSeeded(ino)
	if t.smallOf(ino) != nil {
		if err := t.flushSmall(ctx, ino, true); err != nil {
			return err
		}
	}
	return t.writeNow(ctx, ino, off, data)
}

// smallEnd is the end of ino's held bytes, or -1.
func (t *Tier) smallEnd(ino uint64) int64 {
	if b := t.smallOf(ino); b != nil {
		return b.end.Load()
	}
	return -1
}

// ageSmall commits buffers that have waited FlushAge, so bytes do not sit
// in memory while a writer pauses with its file open.
func (t *Tier) ageSmall() {
	t.mu.Lock()
	bs := make(map[uint64]*smallBuf, len(t.small))
	for ino, b := range t.small {
		bs[ino] = b
	}
	t.mu.Unlock()
	for ino, b := range bs {
		if !b.mu.TryLock() {
			continue
		}
		if len(b.buf) > 0 && time.Since(b.since) >= t.opts.FlushAge {
			_ = t.commitSmallLocked(context.Background(), ino, b)
		}
		b.mu.Unlock()
	}
}
