package etcdstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storetest"
	"github.com/hafs/hafs/test/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestMembersKilled runs read-modify-write increments from several
// clients while the leader is killed, then another member, and each is
// restarted: every increment that was acknowledged is in the counter, and
// none is there twice, although commits were in flight at every kill.
func TestMembersKilled(t *testing.T) {
	c := etcd.Start(t, 3)
	s := open(t, c)
	defer s.Close()
	ctx := context.Background()
	var acked, failed atomic.Int64
	var errs sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := storetest.Increment(ctx, s, []byte("counter"))
				if err != nil {
					failed.Add(1)
					errs.Store(err.Error(), err)
					continue
				}
				acked.Add(1)
			}
		})
	}
	waitAcked := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for acked.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d increments acknowledged, want %d", acked.Load(), n)
			}
			time.Sleep(10 * time.Millisecond) // polling the workload's progress
		}
	}
	waitAcked(50)
	for round := range 2 {
		lead, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		victim := lead
		if round == 1 {
			victim = (lead + 1) % 3 // a follower this time
		}
		c.Members[victim].Kill()
		waitAcked(acked.Load() + 50) // the survivors elect and go on
		if err := c.Restart(victim); err != nil {
			t.Fatal(err)
		}
		waitAcked(acked.Load() + 50)
	}
	close(stop)
	wg.Wait()
	got := storetest.Get(t, s, "counter")
	n := storetest.DecodeCounter(got)
	errs.Range(func(k, v any) bool {
		if !errors.Is(v.(error), fdbstore.ErrMaybeCommitted) {
			t.Errorf("increment failed: %v", k)
		}
		return true
	})
	landed, stopped := s.Settled()
	t.Logf("%d increments acknowledged, %d failed, counter %d; lost answers: %d landed, %d stopped",
		acked.Load(), failed.Load(), n, landed, stopped)
	if n < acked.Load() || n > acked.Load()+failed.Load() {
		t.Fatalf("counter %d after %d acknowledged increments (%d failed with unknown outcome)", n, acked.Load(), failed.Load())
	}
}

// TestReadErrorNeverCommits: a read that fails (here on a compacted
// revision; equally a timed-out request or a lagging member) fails the
// transaction even if the caller drops the error, so no write computed
// without it lands; the rerun reads the value another client committed.
func TestReadErrorNeverCommits(t *testing.T) {
	ctx := context.Background()
	s := open(t, cluster)
	defer s.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	set := func(v string) {
		t.Helper()
		if err := s.Transact(ctx, func(tx fdbstore.Tx) error { tx.Set([]byte("counter"), []byte(v)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("500")
	attempts := 0
	err = s.Transact(ctx, func(tx fdbstore.Tx) error {
		attempts++
		if _, err := tx.Get([]byte("fence")); err != nil { // pins the revision
			return err
		}
		if attempts == 1 {
			set("756")
			r, err := cli.Get(ctx, "any")
			if err != nil {
				return err
			}
			if _, err := cli.Compact(ctx, r.Header.Revision); err != nil {
				return err
			}
		}
		v, _ := tx.Get([]byte("counter")) // the error dropped, on purpose
		tx.Set([]byte("counter"), append(v, '+'))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.Get(t, s, "counter")
	if string(got) != "756+" || attempts < 2 {
		t.Fatalf("counter %q after %d attempts, want 756+ after a rerun", got, attempts)
	}
}
