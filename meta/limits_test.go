package meta_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

// These cases fill what one transaction must handle as far as the data
// path lets it grow, on whatever store HAFS_TEST_STORE names: on etcd, with
// its 128 operations per transaction, each once failed as too large.

func limitsFS(t *testing.T, l *meta.DataLayout, sites map[string][]byte) *meta.FS {
	t.Helper()
	ctx := context.Background()
	s := teststore.Open(t, teststore.URL(t))
	if _, err := meta.MkfsWith(ctx, s, "t", meta.MkfsOptions{Data: l, Sites: sites}); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: "limits"}, nil); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLimitsCompactFullChunk fills a chunk until CommitSlices says it is
// full, then compacts it into a chunk's worth of blocks.
func TestLimitsCompactFullChunk(t *testing.T) {
	ctx := context.Background()
	l := &meta.DataLayout{ChunkSize: 64 << 20, BlockSize: 4 << 20, PageSize: 64 << 10}
	m := limitsFS(t, l, map[string][]byte{"a": []byte(`{"role":"primary"}`), "b": []byte(`{"role":"burst"}`)})
	a, err := m.Create(ctx, meta.RootIno, "f", meta.NewNode{Mode: syscall.S_IFREG | 0o644})
	if err != nil {
		t.Fatal(err)
	}
	var old []meta.SliceRef
	for i := 0; i < 2000; i++ {
		r := meta.SliceRef{ID: uint64(1000 + i), Pos: uint32(i * 4096), Len: 4096, CRCs: []uint32{0}}
		if _, _, err := m.CommitSlices(ctx, a.Ino, []meta.ChunkWrite{{Index: 0, Slice: r}}, 64<<20); err != nil {
			break
		}
		old = append(old, r)
	}
	var repl []meta.SliceRef
	for i := range 16 {
		repl = append(repl, meta.SliceRef{ID: uint64(5000 + i), Pos: uint32(i << 22), Len: 4 << 20, CRCs: make([]uint32, 64)})
	}
	if ok, err := m.ReplaceChunk(ctx, a.Ino, 0, old, repl, nil); err != nil || !ok {
		t.Fatalf("compacting a full chunk of %d slices into %d: %v, %v", len(old), len(repl), ok, err)
	}
}

// TestLimitsBackfillManyChunks backfills a replica over more chunks than
// one transaction can read.
func TestLimitsBackfillManyChunks(t *testing.T) {
	ctx := context.Background()
	l := &meta.DataLayout{ChunkSize: 4096, BlockSize: 4096, PageSize: 4096}
	m := limitsFS(t, l, map[string][]byte{"a": []byte(`{"role":"primary"}`)})
	a, err := m.Create(ctx, meta.RootIno, "f", meta.NewNode{Mode: syscall.S_IFREG | 0o644})
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 300
	for i := range chunks {
		r := meta.SliceRef{ID: uint64(1000 + i), Len: 4096, CRCs: []uint32{0}}
		if _, _, err := m.CommitSlices(ctx, a.Ino, []meta.ChunkWrite{{Index: int64(i), Slice: r}}, int64(i+1)*4096); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddSite(ctx, "b", []byte(`{"role":"burst"}`)); err != nil {
		t.Fatal(err)
	}
	for step := 0; ; step++ {
		st, err := m.Backfill(ctx, "b")
		if err != nil {
			t.Fatalf("backfill step %d: %v", step, err)
		}
		if st == meta.BackfillDone {
			break
		}
		if step > chunks {
			t.Fatal("backfill does not finish")
		}
	}
	bl, err := m.Backlogs(ctx)
	if err != nil || bl["b"].Jobs != chunks {
		t.Fatalf("backfill queued %d jobs (%v), want %d", bl["b"].Jobs, err, chunks)
	}
}

// TestLimitsEndSessionManyOpens ends a session that holds many files open.
func TestLimitsEndSessionManyOpens(t *testing.T) {
	ctx := context.Background()
	m := limitsFS(t, nil, nil)
	for i := range 150 {
		a, err := m.Create(ctx, meta.RootIno, fmt.Sprintf("f%d", i), meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Open(ctx, a.Ino); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.EndSession(ctx); err != nil {
		t.Fatalf("ending a session with 150 open files: %v", err)
	}
	check(t, client(t, m, "checker"))
}
