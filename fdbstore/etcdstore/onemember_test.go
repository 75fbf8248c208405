package etcdstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/etcdstore"
	"github.com/hafs/hafs/fdbstore/storetest"
	"github.com/hafs/hafs/test/etcd"
)

// TestConformanceOneMember runs the store suite through one member of a
// 3-member cluster while the other members are killed (the leader among
// them when it is one of them, so that an election happens under the
// suite) and restarted between and during its cases, with increments of
// a counter running alongside. The suite must pass: every error the store
// met was retried inside Transact (or settled, for a lost answer), and no
// committed write went missing. Only lost answers may end an increment.
func TestConformanceOneMember(t *testing.T) {
	c := etcd.Start(t, 3)
	ctx := context.Background()
	one := c.Endpoints()[:1] // member 0 never dies
	chaos := &memberChaos{t: t, c: c}
	defer chaos.wait()

	counter, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: one, Prefix: prefixOf(t) + "/counter"})
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := storetest.Increment(ctx, counter, []byte("n")); err != nil {
				if !errors.Is(err, fdbstore.ErrMaybeCommitted) {
					t.Errorf("increment: %v", err)
				}
				failed.Add(1)
				continue
			}
			acked.Add(1)
		}
	})

	// The cases once: member kills are this test's faults, and a second
	// run under injected conflicts would only double its time.
	storetest.RunCases(t, func(t *testing.T) fdbstore.Store {
		chaos.step()
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: one, Prefix: prefixOf(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Transact(ctx, func(tx fdbstore.Tx) error { tx.ClearRange(nil, nil); return nil }); err != nil {
			t.Fatal(err)
		}
		return s
	})
	close(stop)
	wg.Wait()
	n := storetest.DecodeCounter(storetest.Get(t, counter, "n"))
	t.Logf("%d member kills; %d increments acknowledged, %d with unknown outcome, counter %d",
		chaos.kills, acked.Load(), failed.Load(), n)
	if n < acked.Load() || n > acked.Load()+failed.Load() {
		t.Fatalf("counter %d after %d acknowledged increments (%d unknown)", n, acked.Load(), failed.Load())
	}
	if chaos.kills == 0 {
		t.Fatal("no member was killed: the test proved nothing")
	}
}

// memberChaos kills and restarts members 1 and 2 as the suite opens its
// stores: a kill runs concurrently with the case that follows it, a
// restart waits until the cluster is whole again.
type memberChaos struct {
	t      *testing.T
	c      *etcd.Cluster
	opens  int
	victim int // the member down; 0 for none (member 0 is never killed)
	kills  int
	killed chan struct{}
}

// period is how many stores the suite opens between two kills.
const period = 5

func (m *memberChaos) step() {
	m.opens++
	switch m.opens % period {
	case 2:
		m.victim = m.pick()
		m.kills++
		m.killed = make(chan struct{})
		go func(v int, done chan struct{}) {
			m.c.Members[v].Kill()
			close(done)
		}(m.victim, m.killed)
	case 4:
		m.wait()
	}
}

// pick chooses the member to kill: the leader if it is not member 0,
// else members 1 and 2 in turn.
func (m *memberChaos) pick() int {
	if lead, err := m.c.Leader(context.Background()); err == nil && lead != 0 {
		return lead
	}
	return 1 + m.kills%2
}

// wait restarts the member down, if any, and waits for the cluster.
func (m *memberChaos) wait() {
	if m.victim == 0 {
		return
	}
	<-m.killed
	if err := m.c.Restart(m.victim); err != nil {
		m.t.Fatalf("restart member %d: %v", m.victim, err)
	}
	m.victim = 0
}
