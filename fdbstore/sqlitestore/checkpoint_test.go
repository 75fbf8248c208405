package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

// TestBackgroundCheckpoint: commits no longer checkpoint on their own below
// the backstop, so the checkpointer must keep the log short even under
// back-to-back commits (each of its first passes ends behind the last
// commit, and only a pass that caught up lets the log start over), and
// what it moved must read back from a fresh store.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const commits = 20000
	for i := range commits {
		err := s.Transact(ctx, func(tx fdbstore.Tx) error {
			tx.Set(fmt.Appendf(nil, "k%05d", i%5000), fmt.Appendf(nil, "value %d", i))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Checkpoints() < commits/500/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d background checkpoints after %d commits, want at least %d", s.Checkpoints(), commits, commits/500/2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Under the backstop's 1000 pages, which a log that only the writer's
	// own checkpoints start over reaches; the checkpointer starts at 500.
	if limit := int64(1000 * (4096 + 24)); fi.Size() >= limit {
		t.Errorf("write-ahead log is %d bytes after %d commits, want at most %d: it does not start over", fi.Size(), commits, limit)
	}
	// What was checkpointed reads back, here and in a fresh store.
	s.Close()
	s2, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		v, err := tx.Get([]byte("k04999"))
		if err == nil && string(v) != fmt.Sprintf("value %d", commits-1) {
			err = fmt.Errorf("k04999 = %q, want the last commit's value", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
