package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mounting as every other filesystem is mounted (issue 15): mount(8) runs
// /sbin/mount.hafs (or mount.fuse.hafs for -t fuse.hafs), which returns
// once the mount serves. The tests run mount(8) in a mount namespace of
// their own, where an overlay puts the helpers into /sbin without
// touching the machine's.

// nsResult is what a script run in a private mount namespace did.
type nsResult struct {
	stdout, stderr string
	code           int
}

// inMountNamespace runs script with sh in a new private mount namespace
// in which mount.hafs and mount.fuse.hafs, links to hafs-fuse, are in
// /sbin. Mounts made there are invisible to the test process, and go
// with the namespace's last process.
func inMountNamespace(t *testing.T, script string) nsResult {
	t.Helper()
	helpers := t.TempDir()
	for _, name := range []string{"mount.hafs", "mount.fuse.hafs"} {
		must(t, os.Symlink(Binary(t, FuseBinary), filepath.Join(helpers, name)))
	}
	sbin, err := filepath.EvalSymlinks("/sbin")
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := fmt.Sprintf("set -eu\nmount -t overlay hafs-helpers -o lowerdir=%s:%s %s\n%s", helpers, sbin, sbin, script)
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", full)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := nsResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("script in a mount namespace still running after 60 s (a helper that does not return?):\n%s\nstderr: %s", script, r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// endClientsAtCleanup stops, when the test ends, any background hafs-fuse
// still registered in fs: a failed test must not leave daemons behind in
// the namespaces it made.
func endClientsAtCleanup(t *testing.T, fs *FS) {
	t.Cleanup(func() {
		out, err := exec.Command(Binary(t, listClientsBinary), append(fs.storeArgs(), "--json")...).Output()
		if err != nil {
			return
		}
		var rows []struct{ Pid int }
		if json.Unmarshal(out, &rows) != nil {
			return
		}
		for _, r := range rows {
			_ = syscall.Kill(r.Pid, syscall.SIGTERM)
		}
	})
}

// TestMountHelper mounts through mount(8): `mount -t hafs URL DIR -o ...`,
// `-t fuse.hafs`, and an fstab line with _netdev (mount --fstab); each
// returns with the mount serving, and umount ends the background process
// (its session goes). A mount that fails reports it through mount's exit
// status and one line.
func TestMountHelper(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	endClientsAtCleanup(t, fs)
	mnt := PublicTempDir(t)
	fstab := filepath.Join(t.TempDir(), "fstab")
	writeFile(t, fstab, fmt.Sprintf("# HAFS\n%s %s hafs _netdev,allow_other,name=default,attr_timeout=2 0 0\n", fs.Store, mnt))

	r := inMountNamespace(t, fmt.Sprintf(`
mount -t hafs %[1]s %[2]s -o allow_other,_netdev,defaults,nofail,name=default
grep -q " %[2]s .* - fuse.hafs hafs:default " /proc/self/mountinfo
echo one > %[2]s/one
umount %[2]s
mount -t fuse.hafs -o entry_timeout=1 %[1]s %[2]s
cat %[2]s/one
echo two > %[2]s/two
umount %[2]s
mount --fstab %[3]s %[2]s
grep " %[2]s " /proc/self/mountinfo | grep -q allow_other
cat %[2]s/two
umount %[2]s
echo done
`, fs.Store, mnt, fstab))
	if r.code != 0 || r.stdout != "one\ntwo\ndone\n" {
		t.Fatalf("mount(8) script: exit %d, stdout %q, want one, two and done; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// Each umount ended its background hafs-fuse cleanly: no session left.
	eventually(t, mountTimeout, func() error {
		if ids := clientIDs(t, fs); len(ids) != 0 {
			return fmt.Errorf("clients after umount: %q, want none", ids)
		}
		return nil
	})

	for _, c := range []struct{ name, cmd, want string }{
		{"bad store", fmt.Sprintf("mount -t hafs sqlite://%s/nope.db %s", t.TempDir(), mnt), "does not exist"},
		{"no such filesystem", fmt.Sprintf("mount -t fuse.hafs %s %s -o name=nosuch", fs.Store, mnt), "nosuch"},
		{"unknown option", fmt.Sprintf("mount -t hafs %s %s -o frobnicate", fs.Store, mnt), "frobnicate"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			r := inMountNamespace(t, c.cmd)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("%s: exit %d, stderr %q; want non-zero and one line containing %q", c.cmd, r.code, r.stderr, c.want)
			}
		})
	}
	if ids := clientIDs(t, fs); len(ids) != 0 {
		t.Errorf("clients after failed mounts: %q, want none", ids)
	}
}
