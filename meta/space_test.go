package meta_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
)

// TestSpaceAccounting: the allocated-bytes counter follows writes,
// truncates, fallocate and unlinks exactly (fsck agrees), a sparse file
// counts only what was written, and the configured limits refuse with
// ENOSPC without changing anything.
func TestSpaceAccounting(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	alloc := func() int64 {
		t.Helper()
		st, err := m.Statfs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Avail > st.Capacity {
			t.Fatalf("statfs: %d bytes free of %d", st.Avail, st.Capacity)
		}
		return st.Alloc
	}
	mk := func(name string) uint64 {
		t.Helper()
		a, err := m.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if err != nil {
			t.Fatal(err)
		}
		return a.Ino
	}
	size := func(ino, n uint64) {
		t.Helper()
		if _, err := m.SetAttr(ctx, ino, meta.SetAttrReq{Size: &n}); err != nil {
			t.Fatal(err)
		}
	}
	sparse := mk("sparse")
	size(sparse, 1<<40)
	size(sparse, 4<<60)
	if got := alloc(); got != 0 {
		t.Fatalf("after truncate -s 1T and 4E: %d bytes allocated, want 0", got)
	}
	if _, err := m.Write(ctx, sparse, 1<<30, make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	if got := alloc(); got != 100_000 {
		t.Fatalf("100000 bytes written into a sparse file: %d allocated", got)
	}
	dense := mk("dense")
	if _, err := m.Write(ctx, dense, 0, make([]byte, 300_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Write(ctx, dense, 1000, make([]byte, 5000)); err != nil { // a rewrite adds nothing
		t.Fatal(err)
	}
	if got := alloc(); got != 400_000 {
		t.Fatalf("after 300000 more bytes and a rewrite: %d allocated, want 400000", got)
	}
	size(dense, 1000)
	if a, _ := m.GetAttr(ctx, dense); a.Alloc != 1000 || a.Blocks() != 2 {
		t.Fatalf("dense file truncated to 1000: alloc %d, %d blocks", a.Alloc, a.Blocks())
	}
	check(t, m)

	// Capacity: a write or fallocate past it fails whole.
	if err := m.SetLimits(ctx, meta.Limits{Capacity: 200_000, Inodes: 4}); err != nil {
		t.Fatal(err)
	}
	before := alloc()
	if _, err := m.Write(ctx, dense, 1000, make([]byte, 150_000)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the capacity: %v, want ENOSPC", err)
	}
	if err := m.Fallocate(ctx, dense, 0, 2<<40, 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fallocate 2T past the capacity: %v, want ENOSPC", err)
	}
	if a, _ := m.GetAttr(ctx, dense); a.Size != 1000 || alloc() != before {
		t.Fatalf("refused write and fallocate changed the file: size %d, alloc %d (was %d)", a.Size, alloc(), before)
	}
	if err := m.Fallocate(ctx, dense, 0, 50_000, 0); err != nil {
		t.Fatalf("fallocate within the capacity: %v", err)
	}
	if a, _ := m.GetAttr(ctx, dense); a.Size != 50_000 || a.Alloc != 50_000 {
		t.Fatalf("after fallocate of 50000: size %d alloc %d", a.Size, a.Alloc)
	}
	// Inodes: root, sparse and dense are 3 of 4.
	mk("fourth")
	if _, err := m.Create(ctx, meta.RootIno, "fifth", meta.NewNode{Mode: syscall.S_IFREG | 0o644}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create past the inode limit: %v, want ENOSPC", err)
	}
	st, err := m.Statfs(ctx)
	if err != nil || st.Files != 4 || st.FilesFree != 0 || st.Capacity != 200_000 || st.Avail != 200_000-150_000 {
		t.Fatalf("statfs %+v, %v; want 4 files, none free, 50000 of 200000 bytes free", st, err)
	}
	// Unlinks free what they held, whatever the limits.
	for _, name := range []string{"sparse", "dense", "fourth"} {
		if err := m.Unlink(ctx, meta.RootIno, name); err != nil {
			t.Fatal(err)
		}
	}
	if got := alloc(); got != 0 {
		t.Fatalf("every file removed: %d bytes allocated", got)
	}
	check(t, m)
	if err := m.SetLimits(ctx, meta.Limits{Capacity: -1}); err == nil {
		t.Fatal("a negative capacity was accepted")
	}
}
