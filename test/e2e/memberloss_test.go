package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/test/cluster"
)

// TestStoreMemberLossOnHosts: property 4 on hosts. Two nodes (hosts 0 and
// 1) append numbered records with an fsync each to a filesystem whose
// etcd members run on three hosts, while the etcd leader is killed and
// restarted, then the member of host 2 (a minority, whichever role it has
// by then) is cut off — its link down, then a one-way netfilter drop — and
// healed. Every record whose fsync returned is there afterwards, read
// through both nodes; no write fails; `hafs fsck` is clean. The longest
// write+fsync, the stall each fault caused, is reported; the only bound
// on it is the 60 s within which writing must resume ("never hangs").
func TestStoreMemberLossOnHosts(t *testing.T) {
	nw, c, fs := hostCluster(t, 3)
	mounts := []*Mount{fs.MountOn(t, nw.Hosts[0].Command), fs.MountOn(t, nw.Hosts[1].Command)}
	var acked [2]atomic.Int64
	var longest [2]atomic.Int64 // nanoseconds, reset per phase
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, m := range mounts {
		wg.Go(func() {
			if err := appendRecords(filepath.Join(m.Dir, fmt.Sprintf("log%d", i)), stop, &acked[i], &longest[i]); err != nil {
				errs <- err
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	// phase waits until both nodes fsync'd 20 more records (at most 60 s)
	// and reports the longest write+fsync since the last phase.
	var worst time.Duration // the longest write+fsync of the run
	phase := func(what string) {
		t.Helper()
		want := [2]int64{acked[0].Load() + 20, acked[1].Load() + 20}
		start := time.Now()
		deadline := start.Add(60 * time.Second)
		for acked[0].Load() < want[0] || acked[1].Load() < want[1] {
			select {
			case err := <-errs:
				t.Fatalf("%s: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: both nodes did not fsync 20 more records within 60 s (acknowledged %d, %d)", what, acked[0].Load(), acked[1].Load())
			}
			time.Sleep(10 * time.Millisecond) // polling the writers' progress
		}
		l0, l1 := time.Duration(longest[0].Swap(0)), time.Duration(longest[1].Swap(0))
		worst = max(worst, l0, l1)
		t.Logf("%s: 20 more fsync'd records on both nodes within %s; longest write+fsync since the previous step %s, %s",
			what, time.Since(start).Round(time.Millisecond), l0.Round(time.Millisecond), l1.Round(time.Millisecond))
	}
	phase("before any fault")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	lead, err := c.Leader(ctx)
	cancel()
	must(t, err)
	c.Members[lead].Kill()
	phase(fmt.Sprintf("etcd leader (member %d, host %d) killed", lead, lead))
	must(t, c.Restart(lead))
	phase("old leader restarted")

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	lead, err = c.Leader(ctx)
	cancel()
	must(t, err)
	role := "a follower"
	if lead == 2 {
		role = "the leader"
	}
	nw.Cut(nw.Hosts[2])
	phase("member 2 (" + role + ") cut off, its link down")
	nw.Heal(nw.Hosts[2])
	must(t, c.WaitHealthy(60*time.Second))
	phase("member 2 healed")
	nw.Drop(nw.Hosts[2], cluster.Out)
	phase("member 2 cut off one way (drops what it sends)")
	nw.Heal(nw.Hosts[2])
	must(t, c.WaitHealthy(60*time.Second))
	phase("member 2 healed again")

	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range mounts {
		for _, m := range mounts {
			checkRecords(t, filepath.Join(m.Dir, fmt.Sprintf("log%d", i)), acked[i].Load())
		}
	}
	t.Logf("every fsync'd record intact: %d and %d records; the longest stall (write+fsync) of the run %s",
		acked[0].Load(), acked[1].Load(), worst.Round(time.Millisecond))
	if out, err := hafsAdmin(t, fs, "fsck"); err != nil {
		t.Fatalf("hafs fsck: %v\n%s", err, out)
	}
}
