package etcdstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/etcdstore"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// TestPausedMemberLeavesBalancer stops a member with SIGSTOP: its kernel
// still acknowledges every packet, so gRPC would keep sending it a third
// of the requests for the 11 s its keepalive needs. The member probes
// must take it out of the client's balancer, after which no commit is
// sent to it (none times out and needs settling), and put it back once
// it runs again.
func TestPausedMemberLeavesBalancer(t *testing.T) {
	ctx := context.Background()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefixOf(t),
		ProbeInterval: 50 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leader, err := cluster.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Not the leader: the cluster must keep serving while it is paused.
	victim := cluster.Members[(leader+1)%len(cluster.Members)]
	ep := strings.TrimPrefix(victim.ClientURL, "http://")
	balanced := func() bool {
		return slices.ContainsFunc(s.Members(), func(m string) bool { return strings.HasSuffix(m, ep) })
	}
	if !balanced() {
		t.Fatalf("member %s not among the balanced endpoints %v before the pause", ep, s.Members())
	}
	victim.Pause()
	resumed := false
	defer func() {
		if !resumed {
			victim.Resume()
		}
	}()
	waitUntil(t, 10*time.Second, "the paused member "+ep+" leaves the balancer", func() bool { return !balanced() })

	committed, aborted := s.Settled()
	for i := range 30 {
		if err := storetest.Increment(ctx, s, []byte("n")); err != nil {
			t.Fatalf("increment %d with a member paused: %v", i, err)
		}
	}
	if c, a := s.Settled(); c != committed || a != aborted {
		t.Errorf("%d commits lost their answer with the paused member out of the balancer (endpoints %v): some went to it",
			c-committed+a-aborted, s.Members())
	}
	if err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		v, err := tx.Get([]byte("n"))
		if n := storetest.DecodeCounter(v); err == nil && n != 30 {
			t.Errorf("counter = %d after 30 increments, want 30", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	victim.Resume()
	resumed = true
	waitUntil(t, 10*time.Second, "the resumed member "+ep+" rejoins the balancer", balanced)
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMembersFollowTheCluster: a client given one member's endpoint
// learns the others from the member list and sends requests to all, as
// clientv3's own auto-sync did (which the probes replace).
func TestMembersFollowTheCluster(t *testing.T) {
	ctx := context.Background()
	eps := cluster.Endpoints()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: eps[:1], Prefix: prefixOf(t),
		ProbeInterval: 50 * time.Millisecond, MemberSyncInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := slices.Sorted(slices.Values(eps))
	waitUntil(t, 10*time.Second, fmt.Sprintf("the client uses every member %v", want), func() bool {
		return slices.Equal(s.Members(), want)
	})
}
