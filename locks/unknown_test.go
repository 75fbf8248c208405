package locks

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/settle"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// TestUnknownOutcomes has two managers, on stores that report a quarter
// of their commits' outcomes as unknown (half landed), take turns at one
// write lock to increment a counter read and written outside the lock's
// transactions. Through settle, no lock is granted twice and none is
// lost: the counter is exact and no lock is left behind.
func TestUnknownOutcomes(t *testing.T) {
	ctx := context.Background()
	raw := openShared(t, 2)
	var faults []*faultstore.Store
	var ms []*Manager
	for i, s := range raw {
		f := faultstore.Wrap(s, 0, uint64(i+1)).WithUnknownResults(0.25)
		faults = append(faults, f)
		ms = append(ms, New(Config{Store: settle.Wrap(f), Prefix: prefix}))
	}
	counter := []byte("counter")
	bump := func(s fdbstore.Store) error {
		var v []byte
		if err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
			var err error
			v, err = tx.Get(counter)
			return err
		}); err != nil {
			return err
		}
		// A separate transaction: only the lock keeps the two apart.
		return s.Transact(ctx, func(tx fdbstore.Tx) error {
			tx.Set(counter, binary.LittleEndian.AppendUint64(nil, decode(v)+1))
			return nil
		})
	}
	const rounds = 30
	var wg sync.WaitGroup
	for i, m := range ms {
		sess := string(rune('a' + i))
		wg.Go(func() {
			for range rounds {
				l := wlock(sess, 1, 0, ^uint64(0))
				if err := m.Lock(ctx, 9, l); err != nil {
					t.Errorf("lock %s: %v", sess, err)
					return
				}
				if err := bump(raw[i]); err != nil {
					t.Errorf("bump %s: %v", sess, err)
				}
				if err := m.ReleaseOwner(ctx, 9, l.Owner, false); err != nil {
					t.Errorf("unlock %s: %v", sess, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := decode(storetest.Get(t, raw[0], string(counter))); got != 2*rounds {
		t.Fatalf("counter %d after %d locked increments: the lock was not exclusive", got, 2*rounds)
	}
	if _, found, err := ms[0].Test(ctx, 9, wlock("z", 1, 0, ^uint64(0))); err != nil || found {
		t.Fatalf("a lock is left behind (found %v, err %v)", found, err)
	}
	var landed, lost int64
	for _, f := range faults {
		l, n := f.UnknownResults()
		landed, lost = landed+l, lost+n
	}
	if landed == 0 || lost == 0 {
		t.Fatalf("unknown outcomes injected: %d landed, %d not", landed, lost)
	}
	t.Logf("%d commits reported unknown after landing, %d without", landed, lost)
}

func decode(v []byte) uint64 {
	if len(v) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}
