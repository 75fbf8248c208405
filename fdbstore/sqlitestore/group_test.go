package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// TestGroupCommit: many read-write transactions at once, which the store
// commits in groups. Every third fails after writing: none of its writes
// may land, and no other transaction may lose one. Increments of one
// counter run alongside, reading what the transactions before them in a
// group wrote: the total must be exact. And a group's commit must have
// taken several transactions at least once, or the test proves nothing.
func TestGroupCommit(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	errMine := errors.New("the function's own failure")
	const workers, each = 16, 60
	var wg sync.WaitGroup
	var failed, incs atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				key := []byte(fmt.Sprintf("w%02d-%03d", w, i))
				fail := (w+i)%3 == 0
				err := s.Transact(ctx, func(tx fdbstore.Tx) error {
					tx.Set(key, key)
					if fail {
						return errMine
					}
					return nil
				})
				if fail != errors.Is(err, errMine) || !fail && err != nil {
					t.Errorf("%s: %v (should fail: %v)", key, err, fail)
				}
				if fail {
					failed.Add(1)
				}
				if i%4 == 0 {
					if err := storetest.Increment(ctx, s, []byte("counter")); err != nil {
						t.Error(err)
					}
					incs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		for w := range workers {
			for i := range each {
				key := []byte(fmt.Sprintf("w%02d-%03d", w, i))
				v, err := tx.Get(key)
				if err != nil {
					return err
				}
				if fail := (w+i)%3 == 0; fail != (v == nil) {
					t.Errorf("%s: stored %q after a transaction that should fail: %v", key, v, fail)
				}
			}
		}
		v, err := tx.Get([]byte("counter"))
		if err != nil {
			return err
		}
		if got := storetest.DecodeCounter(v); got != incs.Load() {
			t.Errorf("counter %d after %d increments", got, incs.Load())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := s.LargestGroup(); g < 2 {
		t.Errorf("the largest commit took %d transactions: no group formed", g)
	}
	t.Logf("%d transactions failed on purpose; the largest group committed %d", failed.Load(), s.LargestGroup())
}
