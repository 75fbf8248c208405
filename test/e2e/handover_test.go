package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// handoverRuns is how many partitions TestLockHandoverAfterPartition
// times: 3, or HAFS_HANDOVER_RUNS.
func handoverRuns(t *testing.T) int {
	if v := os.Getenv("HAFS_HANDOVER_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HAFS_HANDOVER_RUNS=%q: want a positive number", v)
		}
		return n
	}
	return 3
}

// handoverBound is what the design promises for fastSessions: another
// node has the lock within the session expiry plus one heartbeat.
const handoverBound = 2*time.Second + 200*time.Millisecond

// handoverMargin is allowed on top of handoverBound for what follows the
// expiry: the watch notification of the released lock to the waiting
// node, and its lock transaction (about 10 ms measured, between the
// monitor's "expired" log line and the taker's flock returning).
const handoverMargin = 100 * time.Millisecond

// TestLockHandoverAfterPartition measures property 1's hand-over, the
// figure the design promises in seconds: a node holding a flock is cut
// off (link down), and the time until a node on another host gets the
// lock is taken, run after run with the holder moving from host to host
// (the cut node is remounted each time: it was fenced). It reports the
// median, the longest and how many runs were within the expiry plus one
// heartbeat (plus handoverMargin); the only bound it asserts is the 60 s
// within which the lock must pass at all. A taker evicted itself (EIO)
// fails the test: it is healthy, only another host was cut off.
func TestLockHandoverAfterPartition(t *testing.T) {
	runs := handoverRuns(t)
	nw, cl, fs := hostCluster(t, 3)
	var mounts []*Mount
	for _, h := range nw.Hosts {
		mounts = append(mounts, fs.MountOn(t, h.Command, fastSessions...))
	}
	must(t, os.WriteFile(filepath.Join(mounts[0].Dir, "lock"), []byte("x"), 0o644))
	// Hand-overs in two classes: the store's leader on another host, and
	// an election during the cut (the leader cut off with the holder, or
	// leadership moving anyway), where the store elects a new leader
	// before anyone can fence the holder.
	var took, tookElection []time.Duration
	remount := func(i int) {
		mounts[i].Kill(t)
		mounts[i] = fs.MountOn(t, nw.Hosts[i].Command, fastSessions...)
	}
	for run := range runs {
		holder, taker := run%3, (run+1)%3
		hold := holdFlock(t, filepath.Join(mounts[holder].Dir, "lock"))
		leader, lerr := cl.Leader(context.Background())
		must(t, lerr)
		var logged [3]int // how much of each node's log came before the cut
		for i, m := range mounts {
			logged[i] = len(m.Output())
		}
		nw.Cut(nw.Hosts[holder])
		cut := time.Now()
		err := flockOrFenced(filepath.Join(mounts[taker].Dir, "lock"), 60*time.Second)
		d := time.Since(cut)
		// Who leads now, from the hosts still connected: a leader other
		// than before the cut means an election happened during it.
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		after, _ := cl.Leader(lctx)
		lcancel()
		nw.Heal(nw.Hosts[holder])
		// Let the healed member catch up, so that the next run starts
		// from a quiet cluster.
		must(t, cl.WaitHealthy(30*time.Second))
		// The cut node was fenced: end it and its lock holder, mount again.
		remount(holder)
		_ = syscall.Kill(-hold.Process.Pid, syscall.SIGKILL)
		_ = hold.Wait()
		if errors.Is(err, unix.EIO) {
			t.Errorf("run %d: the taker on host %d was evicted (EIO) though healthy, while host %d was cut off; its log:\n%s",
				run+1, taker, holder, mounts[taker].Output())
			remount(taker)
			continue
		}
		must(t, err)
		class := "the store's leader elsewhere"
		switch {
		case leader == holder:
			class = "the store's leader cut off with it"
			tookElection = append(tookElection, d)
		case after != leader:
			class = fmt.Sprintf("the store's leader elsewhere, but member %d leads after the cut: an election happened", after)
			tookElection = append(tookElection, d)
		default:
			took = append(took, d)
		}
		t.Logf("run %d: the flock passed from host %d to host %d %s after the holder was cut off (%s)",
			run+1, holder, taker, d.Round(time.Millisecond), class)
		if d > handoverBound {
			// What the healthy nodes saw, to explain the late hand-over.
			for i, m := range mounts {
				if i != holder {
					t.Logf("run %d: host %d's log since the cut (at %s):\n%s", run+1, i,
						cut.UTC().Format("15:04:05.000"), m.Output()[logged[i]:])
				}
			}
		}
	}
	all := append(slices.Clone(took), tookElection...)
	within, withinMargin := 0, 0
	for _, d := range all {
		if d <= handoverBound {
			within++
		}
		if d <= handoverBound+handoverMargin {
			withinMargin++
		}
	}
	t.Logf("lock hand-over after a partition (session expiry 2 s, heartbeat 200 ms): %s; %s; %s; within %s: %d of %d, within %s: %d of %d",
		spread("all", all), spread("with the store's leader elsewhere", took), spread("with the leader cut off too", tookElection),
		handoverBound, within, len(all), handoverBound+handoverMargin, withinMargin, len(all))
}

// spread describes durations as count, median and max.
func spread(what string, ds []time.Duration) string {
	if len(ds) == 0 {
		return what + ": no run"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%s: %d runs, median %s, max %s", what, len(ds),
		ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

// flockOrFenced takes an exclusive flock on path, waiting at most d, and
// releases it; a fenced node's EIO is returned for the caller to judge.
func flockOrFenced(path string, d time.Duration) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	got := make(chan error, 1)
	go func() { got <- unix.Flock(fd, unix.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil {
			return err
		}
		return unix.Flock(fd, unix.LOCK_UN)
	case <-time.After(d):
		return fmt.Errorf("no flock on %s within %s", path, d)
	}
}
