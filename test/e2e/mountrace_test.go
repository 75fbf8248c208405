package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMountRace starts three hafs-fuse at once on one mount point, a few
// times over: exactly one mounts, the others fail with one line each,
// and the winner serves the only mount there (mounted once, not stacked).
func TestMountRace(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	for round := range 3 {
		dir, err := filepath.EvalSymlinks(PublicTempDir(t))
		must(t, err)
		procs := make([]*exec.Cmd, 3)
		outs := make([]*lockedBuffer, 3)
		errs := make([]chan error, 3)
		var start sync.WaitGroup
		start.Add(1)
		for i := range procs {
			outs[i] = &lockedBuffer{}
			procs[i] = exec.Command(Binary(t, FuseBinary), append(fs.storeArgs(), dir)...)
			procs[i].Stdout, procs[i].Stderr = outs[i], outs[i]
			errs[i] = make(chan error, 1)
		}
		var started sync.WaitGroup
		for i, p := range procs {
			started.Add(1)
			go func() {
				start.Wait()
				err := p.Start()
				started.Done()
				if err != nil {
					errs[i] <- err
					return
				}
				errs[i] <- p.Wait()
			}()
		}
		start.Done()
		started.Wait()

		// The losers end by themselves; the winner serves until told.
		var winners, losers []int
		deadline := time.After(2 * mountTimeout)
		for i := range procs {
			select {
			case err := <-errs[i]:
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("round %d: process %d: %v, want a refusal; output:\n%s", round, i, err, outs[i])
				}
				losers = append(losers, i)
			case <-deadline:
				winners = append(winners, i)
			case <-waitServingOutput(outs[i]):
				winners = append(winners, i)
			}
		}
		if len(winners) != 1 {
			for _, i := range winners {
				t.Logf("round %d: process %d output:\n%s", round, i, outs[i])
			}
			t.Errorf("round %d: %d processes mount, want exactly one", round, len(winners))
		}
		for _, i := range losers {
			lines := strings.Split(strings.TrimSpace(outs[i].String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], FuseBinary+": mount point "+dir) {
				t.Errorf("round %d: loser %d said %q, want one line about mount point %s", round, i, outs[i], dir)
			}
		}
		if n := countMounts(t, dir); n != 1 {
			t.Errorf("round %d: %s is mounted %d times, want once", round, dir, n)
		}
		for _, i := range winners {
			must(t, procs[i].Process.Signal(syscall.SIGTERM))
			select {
			case err := <-errs[i]:
				if err != nil {
					t.Errorf("round %d: winner after SIGTERM: %v; output:\n%s", round, err, outs[i])
				}
			case <-time.After(exitTimeout):
				// Stacked mounts (the bug) do not all unmount on SIGTERM.
				t.Errorf("round %d: process %d still running %v after SIGTERM; killing it", round, i, exitTimeout)
				_ = procs[i].Process.Kill()
			}
		}
		for k := 0; k < 5 && countMounts(t, dir) > 0; k++ {
			t.Errorf("round %d: %s still mounted after the mounts ended; detaching", round, dir)
			forceUnmount(t, dir)
		}
		if t.Failed() {
			return
		}
	}
}

// waitServingOutput is closed once out shows the mounted log line.
func waitServingOutput(out *lockedBuffer) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for deadline := time.Now().Add(2 * mountTimeout); time.Now().Before(deadline); time.Sleep(pollInterval) {
			if strings.Contains(out.String(), "msg=mounted") {
				return
			}
		}
	}()
	return ch
}

// countMounts counts the mountinfo lines whose mount point is dir.
func countMounts(t *testing.T, dir string) int {
	data, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			n++
		}
	}
	return n
}

// TestMountNonEmpty: mounting over a directory that holds files is
// refused with one line, leaving the files; --nonempty or -o nonempty
// mounts over them, and they are back after unmounting.
func TestMountNonEmpty(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	dir, err := filepath.EvalSymlinks(PublicTempDir(t))
	must(t, err)
	writeFile(t, filepath.Join(dir, "underneath"), "x")
	wantOneLineError(t, FuseBinary, runBinary(t, FuseBinary, append(fs.storeArgs(), dir)...), "not empty")
	wantOneLineError(t, FuseBinary, runBinary(t, FuseBinary, append(fs.storeArgs(), "--background", dir)...), "nonempty")
	if mounted, err := isFUSEMount(dir); err != nil || mounted {
		t.Fatalf("%s mounted (%v) after a refusal", dir, err)
	}
	for _, opt := range [][]string{{"--nonempty"}, {"-o", "nonempty"}} {
		m := mountAt(t, fs, dir, opt...)
		if got := rootNames(t, dir); len(got) != 0 {
			t.Errorf("mounted with %v: root lists %q, want the filesystem's (empty) root", opt, got)
		}
		m.Unmount(t)
		if got := rootNames(t, dir); len(got) != 1 || got[0] != "underneath" {
			t.Errorf("after unmounting: %q, want [underneath] back", got)
		}
	}
}

// mountAt is mountWith on the given directory: hafs-fuse --store URL DIR
// args..., returning once it serves.
func mountAt(t *testing.T, fs *FS, dir string, args ...string) *Mount {
	t.Helper()
	m := &Mount{Dir: dir, FS: fs, output: &lockedBuffer{}, exited: make(chan struct{})}
	m.cmd = exec.Command(Binary(t, FuseBinary), append(append(fs.storeArgs(), dir), args...)...)
	m.cmd.Stdout, m.cmd.Stderr = m.output, m.output
	must(t, m.cmd.Start())
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() { m.stop(t) })
	waitServing(t, m)
	return m
}
