package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// unitFile is the systemd template unit `make install` installs.
const unitFile = "../../scripts/systemd/hafs-mount@.service"

// unitKeys reads a unit file's Key=Value lines (comments and sections
// aside; a key given twice keeps its last value).
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not Key=Value", path, line)
		}
		keys[k] = v
	}
	must(t, sc.Err())
	return keys
}

// TestSystemdUnit checks the template unit as systemd would, without a
// running systemd: `systemd-analyze verify` on an instance of it accepts
// it with no warning, it restarts on failure, and the command it runs,
// with the store and options from its EnvironmentFile, mounts in the
// foreground and unmounts cleanly on SIGTERM (systemd's stop).
func TestSystemdUnit(t *testing.T) {
	requireRoot(t)
	keys := unitKeys(t, unitFile)
	for k, want := range map[string]string{"Restart": "on-failure", "EnvironmentFile": "/etc/hafs/%i.env", "Type": "simple"} {
		if keys[k] != want {
			t.Errorf("unit %s=%q, want %q", k, keys[k], want)
		}
	}
	data, err := os.ReadFile(unitFile)
	must(t, err)
	bin := filepath.Dir(Binary(t, FuseBinary))
	unit := strings.ReplaceAll(string(data), "@BINDIR@", bin)
	if analyze, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Errorf("systemd-analyze missing (scripts/setup.sh --test installs systemd): %v", err)
	} else {
		inst := filepath.Join(t.TempDir(), "hafs-mount@mnt-hafs.service")
		must(t, os.WriteFile(inst, []byte(unit), 0o644))
		out, err := exec.Command(analyze, "verify", inst).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) != 0 {
			t.Errorf("systemd-analyze verify: %v, output %q; want success and no warning", err, out)
		}
	}

	// What ExecStart runs, for the instance of mount point dir, with the
	// environment file's variables.
	fs := NewFS(t, FSOptions{})
	dir, err := filepath.EvalSymlinks(PublicTempDir(t))
	must(t, err)
	execStart := strings.ReplaceAll(keys["ExecStart"], "@BINDIR@", bin)
	execStart = strings.ReplaceAll(execStart, "%f", dir)
	execStart = strings.ReplaceAll(execStart, "${HAFS_MOUNT_OPTIONS}", "allow_other,attr_timeout=2s")
	argv := strings.Fields(execStart)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HAFS_STORE="+fs.Store, "HAFS_NAME=default")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if mounted, _ := isFUSEMount(dir); mounted {
			forceUnmount(t, dir)
		}
	})
	eventually(t, mountTimeout, func() error {
		if !strings.Contains(out.String(), "msg=mounted") {
			return fmt.Errorf("%s: not serving yet; output:\n%s", execStart, &out)
		}
		return nil
	})
	writeFile(t, filepath.Join(dir, "f"), "x")
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0 (systemd counts anything else a failure and restarts it); output:\n%s", err, &out)
		}
	case <-time.After(exitTimeout):
		t.Fatalf("still running %v after SIGTERM", exitTimeout)
	}
}

// TestLogFileBackground: --background returns once the mount serves, and
// with --log-file the background process logs there (it has no terminal);
// a umount ends it, which it logs.
func TestLogFileBackground(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	endClientsAtCleanup(t, fs)
	dir, err := filepath.EvalSymlinks(PublicTempDir(t))
	must(t, err)
	logFile := filepath.Join(t.TempDir(), "hafs.log")
	r := runBinary(t, FuseBinary, append(fs.storeArgs(), "--background", "--log-file", logFile, dir)...)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("%s --background: exit %d, stdout %q, stderr %q; want 0 and silence", FuseBinary, r.code, r.stdout, r.stderr)
	}
	// Returned: so the mount already serves.
	if mounted, err := isFUSEMount(dir); err != nil || !mounted {
		t.Fatalf("%s not mounted when --background returned (%v)", dir, err)
	}
	writeFile(t, filepath.Join(dir, "f"), "x")
	logged, err := os.ReadFile(logFile)
	must(t, err)
	if !strings.Contains(string(logged), "msg=mounted") || !strings.Contains(string(logged), "mountpoint="+dir) {
		t.Errorf("log file after mounting:\n%s\nwant the mounted line", logged)
	}
	must(t, unix.Unmount(dir, 0))
	eventually(t, mountTimeout, func() error {
		logged, err := os.ReadFile(logFile)
		if err != nil || !strings.Contains(string(logged), "msg=unmounted") {
			return fmt.Errorf("log file after umount (%v):\n%s\nwant the unmounted line", err, logged)
		}
		return nil
	})
}
