package locks

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/test/teststore"
)

// openShared opens n handles on one fresh store (HAFS_TEST_STORE chooses
// which), as n processes would.
func openShared(t *testing.T, n int) []fdbstore.Store { return teststore.OpenShared(t, n) }

func TestMain(m *testing.M) { os.Exit(teststore.Main(m)) }

var prefix = []byte("\x02fs\x00")

func wlock(sess string, id uint64, start, end uint64) Lock {
	return Lock{Owner: Owner{sess, id}, Pid: uint32(id), Kind: Write, Start: start, End: end}
}

func TestManagerTryLockAndTest(t *testing.T) {
	ctx := context.Background()
	st := openShared(t, 2)
	a, b := New(Config{Store: st[0], Prefix: prefix}), New(Config{Store: st[1], Prefix: prefix})
	if err := a.TryLock(ctx, 7, wlock("a", 1, 0, 99)); err != nil {
		t.Fatal(err)
	}
	if err := b.TryLock(ctx, 7, wlock("b", 1, 50, 50)); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("conflicting TryLock: %v, want EAGAIN", err)
	}
	if err := b.TryLock(ctx, 8, wlock("b", 1, 50, 50)); err != nil {
		t.Fatalf("lock on another inode: %v", err)
	}
	held, found, err := b.Test(ctx, 7, wlock("b", 1, 10, 10))
	if err != nil || !found || held.Owner != (Owner{"a", 1}) || held.End != 99 || held.Pid != 1 {
		t.Fatalf("Test = %+v %v %v, want a's lock", held, found, err)
	}
	counts := func() (int, int) {
		var na, nb int
		err := st[0].ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
			var err error
			if na, err = a.CountSession(tx, "a"); err != nil {
				return err
			}
			nb, err = a.CountSession(tx, "b")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return na, nb
	}
	if na, nb := counts(); na != 1 || nb != 1 {
		t.Fatalf("counts a=%d b=%d, want 1 1", na, nb)
	}
	// Releasing a's session in a cleanup transaction frees the range and
	// leaves b's lock alone.
	var n int
	err = st[1].Transact(ctx, func(tx fdbstore.Tx) error {
		var err error
		n, err = b.ReleaseSessionTx(tx, "a")
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("ReleaseSessionTx = %d, %v; want 1", n, err)
	}
	if na, nb := counts(); na != 0 || nb != 1 {
		t.Fatalf("after release counts a=%d b=%d, want 0 1", na, nb)
	}
	if err := b.TryLock(ctx, 7, wlock("b", 1, 50, 50)); err != nil {
		t.Fatalf("lock after the holder's session was released: %v", err)
	}
}

// TestManagerLockWakes: a waiter in one "process" wakes on the commit of
// the release in another, through the store's watch.
func TestManagerLockWakes(t *testing.T) {
	ctx := context.Background()
	st := openShared(t, 2)
	a, b := New(Config{Store: st[0], Prefix: prefix}), New(Config{Store: st[1], Prefix: prefix})
	flk := Lock{Owner: Owner{"a", 1}, Kind: Write, Flock: true}
	if err := a.TryLock(ctx, 1, flk); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, 1, Lock{Owner: Owner{"b", 1}, Kind: Write, Flock: true}) }()
	select {
	case err := <-got:
		t.Fatalf("waiter returned %v while the lock was held", err)
	case <-time.After(20 * time.Millisecond): // a negative check: nothing may arrive
	}
	if err := a.ReleaseOwner(ctx, 1, flk.Owner, true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter never woke after the release")
	}
}

// TestManagerDeadlock: a/1 holds 0, b/1 holds 1; b waits for 0, then a's
// request for 1 would close the cycle and gets EDEADLK.
func TestManagerDeadlock(t *testing.T) {
	ctx := context.Background()
	st := openShared(t, 2)
	a, b := New(Config{Store: st[0], Prefix: prefix}), New(Config{Store: st[1], Prefix: prefix})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.TryLock(ctx, 1, wlock("a", 1, 0, 0)))
	must(b.TryLock(ctx, 1, wlock("b", 1, 1, 1)))
	bctx, cancel := context.WithCancel(ctx)
	got := make(chan error, 1)
	go func() { got <- b.Lock(bctx, 1, wlock("b", 1, 0, 0)) }()
	// Wait until b's wait record is in the store.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v []byte
		must(st[0].ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
			var err error
			v, err = tx.Get(a.waitKey(Owner{"b", 1}))
			return err
		}))
		if v != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b's wait was never recorded")
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Lock(ctx, 1, wlock("a", 1, 1, 1)); !errors.Is(err, syscall.EDEADLK) {
		t.Fatalf("closing the cycle: %v, want EDEADLK", err)
	}
	// An interrupted wait returns EINTR and leaves no wait record, so the
	// same request by a no longer looks like a deadlock.
	cancel()
	if err := <-got; !errors.Is(err, syscall.EINTR) {
		t.Fatalf("interrupted wait: %v, want EINTR", err)
	}
	actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer acancel()
	if err := a.Lock(actx, 1, wlock("a", 1, 1, 1)); !errors.Is(err, syscall.EINTR) {
		t.Fatalf("a waiting for b's lock with no cycle: %v, want EINTR at its deadline", err)
	}
}

// TestManagerFence: once the fence fails, the manager neither takes nor
// releases locks.
func TestManagerFence(t *testing.T) {
	ctx := context.Background()
	st := openShared(t, 1)
	fenced := errors.New("fenced")
	var on bool
	m := New(Config{Store: st[0], Prefix: prefix, Fence: func(fdbstore.Tx) error {
		if on {
			return fenced
		}
		return nil
	}})
	if err := m.TryLock(ctx, 1, wlock("a", 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	on = true
	if err := m.TryLock(ctx, 1, wlock("a", 1, 5, 5)); !errors.Is(err, fenced) {
		t.Fatalf("TryLock while fenced: %v", err)
	}
	if err := m.ReleaseOwner(ctx, 1, Owner{"a", 1}, false); !errors.Is(err, fenced) {
		t.Fatalf("release while fenced: %v", err)
	}
	if _, found, err := m.Test(ctx, 1, wlock("b", 1, 0, 0)); err != nil || !found {
		t.Fatalf("the fenced client's lock must stay until its session is cleaned up: %v %v", found, err)
	}
}
