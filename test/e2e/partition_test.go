package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/test/cluster"
	"github.com/hafs/hafs/test/etcd"
)

// hostCluster makes n hosts (network namespaces) with an etcd member on
// each, and a filesystem in that cluster.
func hostCluster(t *testing.T, n int) (*cluster.Net, *etcd.Cluster, *FS) {
	t.Helper()
	nw, c := hostEtcd(t, n)
	// Members probed every 100 ms: a twentieth of fastSessions' expiry.
	return nw, c, NewFS(t, FSOptions{Store: c.StoreURL("hosts") + "?probe-interval=100ms"})
}

// hostEtcd makes n hosts (network namespaces) with an etcd member on each.
func hostEtcd(t *testing.T, n int) (*cluster.Net, *etcd.Cluster) {
	t.Helper()
	requireRoot(t)
	nw := cluster.New(t, n)
	places := make([]etcd.Place, n)
	for i, h := range nw.Hosts {
		places[i] = etcd.Place{Client: h.Addr + ":2379", Peer: h.Addr + ":2380", Command: h.Command}
	}
	dir, err := etcd.DataDir()
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := etcd.StartOn(places, dir)
	must(t, err)
	t.Cleanup(c.Stop)
	return nw, c
}

// TestPartitionFencesLockHolder: a node holding a flock is cut off from
// the network (its etcd member with it). Another node gets the lock once
// the holder's session expires; the holder's writes during the cut never
// land; after the cut heals its applications get EIO; a remount works.
func TestPartitionFencesLockHolder(t *testing.T) {
	nw, _, fs := hostCluster(t, 3)
	a := fs.MountOn(t, nw.Hosts[0].Command, fastSessions...)
	b := fs.MountOn(t, nw.Hosts[1].Command, fastSessions...)
	lockFile := filepath.Join(a.Dir, "lock")
	must(t, os.WriteFile(lockFile, []byte("x"), 0o644))
	holdFlock(t, lockFile)

	nw.Cut(nw.Hosts[0])
	cut := time.Now()
	// The holder keeps working as far as it knows: a write on the cut node.
	wrote := make(chan error, 1)
	go func() { wrote <- os.WriteFile(filepath.Join(a.Dir, "during-cut"), []byte("lost"), 0o644) }()
	// Another node waits for the lock and gets it when the holder's
	// session expires (2 s here) and its locks are broken.
	got := exec.Command("flock", "-w", "60", filepath.Join(b.Dir, "lock"), "true")
	if out, err := got.CombinedOutput(); err != nil {
		t.Fatalf("flock on the other node: %v: %s", err, out)
	}
	handover := time.Since(cut)
	t.Logf("the lock passed to another node %s after its holder was cut off (session expiry 2 s)", handover.Round(time.Millisecond))
	if handover > 20*time.Second {
		t.Errorf("lock hand-over took %s; the session expiry is 2 s", handover)
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Errorf("a write on the cut-off node succeeded")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a write on the cut-off node did not return within 60 s")
	}
	nw.Heal(nw.Hosts[0])
	// Healed, the old node is fenced: its applications get EIO.
	eventually(t, 30*time.Second, func() error {
		err := os.WriteFile(filepath.Join(a.Dir, "after-heal"), []byte("fenced"), 0o644)
		if !errors.Is(err, unix.EIO) {
			return err
		}
		return nil
	})
	for _, name := range []string{"during-cut", "after-heal"} {
		if _, err := os.Stat(filepath.Join(b.Dir, name)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%s, written by the fenced node, is visible on another: %v", name, err)
		}
	}
	// A remount on the same host works again.
	a.Kill(t)
	a2 := fs.MountOn(t, nw.Hosts[0].Command, fastSessions...)
	must(t, os.WriteFile(filepath.Join(a2.Dir, "after-remount"), []byte("back"), 0o644))
	wantContent(t, filepath.Join(b.Dir, "after-remount"), []byte("back"))
}

// TestPauseFencesLockHolder: the holder of a flock is paused (SIGSTOP)
// for longer than the session expiry, the way a lock holder stalls in GC
// or swap and wakes believing it still holds the lock. Another node gets
// the lock; when the holder continues, what it buffered and its metadata
// changes are refused with EIO, and the new holder's writes are intact.
func TestPauseFencesLockHolder(t *testing.T) {
	nw, _, fs := hostCluster(t, 3)
	a := fs.MountOn(t, nw.Hosts[0].Command, fastSessions...)
	b := fs.MountOn(t, nw.Hosts[1].Command, fastSessions...)
	must(t, os.WriteFile(filepath.Join(a.Dir, "lock"), []byte("x"), 0o644))
	holdFlock(t, filepath.Join(a.Dir, "lock"))
	// An open file of the holder's, to write to after it wakes.
	f, err := os.OpenFile(filepath.Join(a.Dir, "data"), os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	defer f.Close()
	_, err = f.Write([]byte("before pause\n"))
	must(t, err)
	must(t, f.Sync())

	must(t, syscall.Kill(a.Pid(), syscall.SIGSTOP))
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = syscall.Kill(a.Pid(), syscall.SIGCONT)
		}
	}()
	// In this process, not a flock(1): a fork of this process would carry
	// the fd open on the paused mount, and its exec's close of it would
	// wait on the paused server.
	flockWithin(t, filepath.Join(b.Dir, "lock"), 60*time.Second)
	t.Logf("the lock passed to another node %s after its holder was paused (session expiry 2 s)", time.Since(paused).Round(time.Millisecond))
	must(t, os.WriteFile(filepath.Join(b.Dir, "data"), []byte("new holder\n"), 0o644))

	must(t, syscall.Kill(a.Pid(), syscall.SIGCONT))
	resumed = true
	// The woken holder writes as if it still held the lock: refused.
	_, werr := f.WriteAt([]byte("stale holder\n"), 0)
	serr := f.Sync()
	if !errors.Is(errors.Join(werr, serr), unix.EIO) {
		t.Errorf("the woken holder's write: write %v, fsync %v; want EIO", werr, serr)
	}
	if err := os.Mkdir(filepath.Join(a.Dir, "stale-dir"), 0o755); !errors.Is(err, unix.EIO) {
		t.Errorf("the woken holder's mkdir: %v, want EIO", err)
	}
	wantContent(t, filepath.Join(b.Dir, "data"), []byte("new holder\n"))
	if _, err := os.Stat(filepath.Join(b.Dir, "stale-dir")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("the woken holder's mkdir is visible: %v", err)
	}
	a.Kill(t)
}

// flockWithin takes an exclusive flock on path, waiting at most d, and
// releases it.
func flockWithin(t *testing.T, path string, d time.Duration) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	must(t, err)
	got := make(chan error, 1)
	go func() { got <- unix.Flock(fd, unix.LOCK_EX) }()
	select {
	case err := <-got:
		must(t, err)
		must(t, unix.Flock(fd, unix.LOCK_UN))
		must(t, unix.Close(fd))
	case <-time.After(d):
		t.Fatalf("no flock on %s within %s", path, d)
	}
}
