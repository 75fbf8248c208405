package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// TestBackgroundCheckpoint: commits no longer checkpoint on their own below
// the backstop, so the checkpointer must run as writes pile up; one of its
// checkpoints must catch up with the log so that the next commit starts
// it over; and what it moved must read back from a fresh store.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openAt(t, path)
	ctx := context.Background()
	set := func(i int) {
		t.Helper()
		err := s.Transact(ctx, func(tx fdbstore.Tx) error {
			tx.Set(fmt.Appendf(nil, "k%05d", i%5000), fmt.Appendf(nil, "value %d", i))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A page or so each: enough for 40 checkpoints. A few must have
	// succeeded however slow the disk's fsync.
	const commits = 20000
	for i := range commits {
		set(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Checkpoints() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d background checkpoints succeeded after %d commits, want at least 5", s.Checkpoints(), commits)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := s.CheckpointNow(); err != nil {
		t.Fatal(err)
	}
	set(commits)
	if n, err := s.LogFrames(); err != nil || n > 4 {
		t.Fatalf("after a checkpoint and one commit the log holds %d frames (%v), want the commit's alone: it did not start over", n, err)
	}

	s.Close()
	err := openAt(t, path).ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		v, err := tx.Get([]byte("k00000"))
		if err == nil && string(v) != fmt.Sprintf("value %d", commits) {
			err = fmt.Errorf("k00000 = %q, want the last commit's value", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
