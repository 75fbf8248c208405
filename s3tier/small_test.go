package s3tier

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

// countingMeta counts the inline writes that reach the store and can make
// them fail.
type countingMeta struct {
	Metadata
	writes atomic.Int64
	fail   atomic.Pointer[error]
}

func (c *countingMeta) Write(ctx context.Context, ino uint64, off int64, data []byte) (*meta.Attr, error) {
	c.writes.Add(1)
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	return c.Metadata.Write(ctx, ino, off, data)
}

// newInlineEnv makes a filesystem without an object store and a tier on
// it whose store writes are counted; other opens another client.
func newInlineEnv(t *testing.T) (tier *Tier, cm *countingMeta, ino uint64, other func() *meta.FS) {
	t.Helper()
	ctx := context.Background()
	path := teststore.URL(t)
	if _, err := meta.MkfsWith(ctx, teststore.Open(t, path), "t", meta.MkfsOptions{}); err != nil {
		t.Fatal(err)
	}
	open := func() *meta.FS {
		m, err := meta.Open(ctx, teststore.Open(t, path), "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.StartSession(ctx, meta.SessionInfo{Hostname: "h"}, nil); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := open()
	cm = &countingMeta{Metadata: m}
	tier, err := New(cm, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	a, err := m.Create(ctx, meta.RootIno, "f", meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	return tier, cm, a.Ino, open
}

// TestSmallWritesBatched: contiguous small writes (tar's 10 KiB records)
// reach the store in one transaction at the flush; until then this client
// reports their end as the size and reads them back, and another client
// sees the file only once it is flushed (close-to-open).
func TestSmallWritesBatched(t *testing.T) {
	tier, cm, ino, other := newInlineEnv(t)
	ctx := context.Background()
	want := bytes.Repeat([]byte("0123456789"), 1024*5) // 50 KiB in 10 KiB records
	for off := 0; off < len(want); off += 10 << 10 {
		if err := tier.Write(ctx, ino, int64(off), want[off:off+10<<10]); err != nil {
			t.Fatal(err)
		}
	}
	if n := cm.writes.Load(); n != 0 {
		t.Errorf("%d store writes before the flush, want 0", n)
	}
	if end := tier.PendingEnd(ino); end != int64(len(want)) {
		t.Errorf("PendingEnd = %d, want %d", end, len(want))
	}
	m2 := other()
	if got, err := m2.Read(ctx, ino, 0, len(want)); err != nil || len(got) != 0 {
		t.Errorf("another client read %d bytes (%v) of a file not flushed yet, want 0", len(got), err)
	}
	if err := tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	if n := cm.writes.Load(); n != 1 {
		t.Errorf("%d store writes for five contiguous records, want 1", n)
	}
	if end := tier.PendingEnd(ino); end != -1 {
		t.Errorf("PendingEnd after the flush = %d, want -1", end)
	}
	if got, err := m2.Read(ctx, ino, 0, len(want)+10); err != nil || !bytes.Equal(got, want) {
		t.Errorf("another client after the flush: %d bytes, %v; want the %d written", len(got), err, len(want))
	}

	// A read by this client commits first; a write elsewhere in the file
	// commits what was held before it is held itself.
	if err := tier.Write(ctx, ino, 0, []byte("ab")); err != nil {
		t.Fatal(err)
	}
	if got, err := tier.Read(ctx, ino, 0, 4); err != nil || string(got) != "ab23" {
		t.Errorf("read after a held write: %q, %v; want \"ab23\"", got, err)
	}
	before := cm.writes.Load()
	for _, off := range []int64{100, 300} {
		if err := tier.Write(ctx, ino, off, []byte("xy")); err != nil {
			t.Fatal(err)
		}
	}
	if n := cm.writes.Load() - before; n != 1 {
		t.Errorf("two writes at different places: %d store writes before the flush, want 1 (the first, committed by the second)", n)
	}
	if err := tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	got, err := m2.Read(ctx, ino, 0, len(want))
	if err != nil || string(got[100:102]) != "xy" || string(got[300:302]) != "xy" {
		t.Errorf("another client does not see both writes: %v", err)
	}
}

// TestSmallWriteFailureReported: a held write whose commit fails is
// reported by the next write and by the flush (close or fsync), once, and
// nothing of it lands.
func TestSmallWriteFailureReported(t *testing.T) {
	tier, cm, ino, other := newInlineEnv(t)
	ctx := context.Background()
	if err := tier.Write(ctx, ino, 0, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("store refuses")
	cm.fail.Store(&boom)
	if err := tier.Write(ctx, ino, 1000, []byte("x")); !errors.Is(err, boom) {
		t.Errorf("write after a failed commit: %v, want the failure", err)
	}
	cm.fail.Store(nil)
	if err := tier.Flush(ctx, ino); !errors.Is(err, boom) {
		t.Errorf("flush after a failed commit: %v, want the failure", err)
	}
	if err := tier.Flush(ctx, ino); err != nil {
		t.Errorf("second flush: %v, want the failure reported once", err)
	}
	if got, err := other().Read(ctx, ino, 0, 10); err != nil || len(got) != 0 {
		t.Errorf("the failed write landed: %q, %v", got, err)
	}
}
