package meta_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/meta"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

func newFS(t *testing.T, faults float64) *meta.FS {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var st fdbstore.Store = s
	if faults > 0 {
		st = faultstore.Wrap(s, faults, 7)
	}
	if _, err := meta.Mkfs(context.Background(), st, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(context.Background(), st, "t")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func check(t *testing.T, m *meta.FS) {
	t.Helper()
	rep, err := m.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Error("fsck:", p)
	}
}

func TestConcurrentCreates(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				_, err := m.Create(ctx, meta.RootIno, fmt.Sprintf("g%d-%d", g, i), meta.NewNode{Mode: syscall.S_IFREG | 0o644})
				if err != nil {
					t.Errorf("create g%d-%d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ents, err := m.ReadDir(ctx, meta.RootIno, 0, 0)
	if err != nil || len(ents) != 2400 {
		t.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	check(t, m)
}
