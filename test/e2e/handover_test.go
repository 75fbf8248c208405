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

// TestLockHandoverAfterPartition measures property 1's hand-over, the
// figure the design promises in seconds: a node holding a flock is cut
// off (link down), and the time until a node on another host gets the
// lock is taken, run after run with the holder moving from host to host
// (the cut node is remounted each time: it was fenced). It reports the
// median and the longest; the only bound is the 60 s within which the
// lock must pass at all. A run whose taker was itself evicted (it happens:
// a healthy client whose store connection went to the cut member stalls
// past the expiry) is reported and run again, at most 2×runs in all.
func TestLockHandoverAfterPartition(t *testing.T) {
	runs := handoverRuns(t)
	nw, cl, fs := hostCluster(t, 3)
	var mounts []*Mount
	for _, h := range nw.Hosts {
		mounts = append(mounts, fs.MountOn(t, h.Command, fastSessions...))
	}
	must(t, os.WriteFile(filepath.Join(mounts[0].Dir, "lock"), []byte("x"), 0o644))
	// Hand-overs in two classes: the store's leader on another host, and
	// the leader cut off with the holder, where the store itself is down
	// for an election before anyone can expire the holder's session.
	var took, tookElection []time.Duration
	evicted := 0 // takers evicted though healthy (see below)
	remount := func(i int) {
		mounts[i].Kill(t)
		mounts[i] = fs.MountOn(t, nw.Hosts[i].Command, fastSessions...)
	}
	for run := 0; len(took)+len(tookElection) < runs && run < 2*runs; run++ {
		holder, taker := run%3, (run+1)%3
		hold := holdFlock(t, filepath.Join(mounts[holder].Dir, "lock"))
		leader, lerr := cl.Leader(context.Background())
		must(t, lerr)
		nw.Cut(nw.Hosts[holder])
		cut := time.Now()
		err := flockOrFenced(filepath.Join(mounts[taker].Dir, "lock"), 60*time.Second)
		d := time.Since(cut)
		nw.Heal(nw.Hosts[holder])
		// The cut node was fenced: end it and its lock holder, mount again.
		remount(holder)
		_ = syscall.Kill(-hold.Process.Pid, syscall.SIGKILL)
		_ = hold.Wait()
		if errors.Is(err, unix.EIO) {
			// A healthy node whose store connection went to the cut
			// member can stall past the 2 s expiry and be evicted too.
			evicted++
			t.Logf("run %d: the taker on host %d was evicted itself (EIO) while host %d was cut off; remounted, not timed", run+1, taker, holder)
			remount(taker)
			continue
		}
		must(t, err)
		class := "the store's leader elsewhere"
		if leader == holder {
			class = "the store's leader cut off with it"
			tookElection = append(tookElection, d)
		} else {
			took = append(took, d)
		}
		t.Logf("run %d: the flock passed from host %d to host %d %s after the holder was cut off (%s)",
			run+1, holder, taker, d.Round(time.Millisecond), class)
	}
	if len(took)+len(tookElection) == 0 {
		t.Fatalf("the lock never passed in %d runs: every taker was evicted", 2*runs)
	}
	t.Logf("lock hand-over after a partition (session expiry 2 s, heartbeat 200 ms): %s; %s; healthy takers evicted: %d",
		spread("with the store's leader elsewhere", took), spread("with the leader cut off too", tookElection), evicted)
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
