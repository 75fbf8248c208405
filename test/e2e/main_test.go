package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// Modes in the checks assume the usual umask, in the test process and
	// in the child processes that act as other users.
	unix.Umask(0o022)
	if ops, ok := os.LookupEnv(userOpsEnv); ok {
		os.Exit(runUserOps(ops))
	}
	if spec, ok := os.LookupEnv(historyWorkerEnv); ok {
		os.Exit(runHistoryWorker(spec))
	}
	os.Exit(Main(m))
}

// check is one area of a suite. fn gets a fresh, empty directory of its own
// (mode 0755, owned by root) under the directory the suite runs on.
type check struct {
	name string
	fn   func(t *testing.T, dir string)
}

// runChecks runs every check on dir, each as a subtest in its own
// subdirectory. The same checks run on a local reference directory and on a
// HAFS mount.
func runChecks(t *testing.T, dir string, checks []check) {
	requireRoot(t)
	must(t, os.Chmod(dir, 0o755))
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, c.name)
			must(t, unix.Mkdir(sub, 0o755))
			c.fn(t, sub)
		})
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the e2e suite must run as root: it mounts, chowns, makes device nodes and switches users")
	}
}

// hafsDir mounts a fresh HAFS filesystem (one client) and returns the mount
// point; the mount goes away when t ends.
func hafsDir(t *testing.T, extraArgs ...string) string {
	t.Helper()
	requireRoot(t)
	return NewFS(t, FSOptions{}).Mount(t, extraArgs...).Dir
}

// tmpfsDir mounts a private tmpfs for the POSIX reference run: it is the
// local filesystem that supports everything the suite asks of HAFS (the
// ext4 here refuses 64 KiB xattr values without the ea_inode feature).
func tmpfsDir(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	dir := PublicTempDir(t)
	must(t, unix.Mount("hafs-e2e-reference", dir, "tmpfs", 0, "mode=0755,size=4g"))
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the reference tmpfs %s: %v", dir, err)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// errnoCase is one syscall and the errno it must fail with (0: must succeed).
type errnoCase struct {
	name string
	call func() error
	want unix.Errno
}

func wantErrnos(t *testing.T, cases []errnoCase) {
	t.Helper()
	for _, c := range cases {
		wantErrno(t, c.name, c.call(), c.want)
	}
}

// wantErrno requires err to be exactly errno want, or nil when want is 0.
func wantErrno(t *testing.T, what string, err error, want unix.Errno) {
	t.Helper()
	var got unix.Errno
	if err != nil && !errors.As(err, &got) {
		t.Errorf("%s: %v, want %s", what, err, errnoName(want))
		return
	}
	if got != want {
		t.Errorf("%s: got %s, want %s", what, errnoName(got), errnoName(want))
	}
}

func errnoName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return st
}

func stat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Stat(path, &st))
	return st
}

func fstat(t testing.TB, fd int) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Fstat(fd, &st))
	return st
}

func fileType(st unix.Stat_t) uint32 { return st.Mode & unix.S_IFMT }
func perm(st unix.Stat_t) uint32     { return st.Mode & 0o7777 }

// wantMode requires path (not followed) to have file type typ and
// permission bits (with suid, sgid and sticky) mode.
func wantMode(t testing.TB, path string, typ, mode uint32) {
	t.Helper()
	st := lstat(t, path)
	if fileType(st) != typ || perm(st) != mode {
		t.Errorf("%s: type %#o mode %#o, want type %#o mode %#o", path, fileType(st), perm(st), typ, mode)
	}
}

func wantNlink(t testing.TB, path string, want uint64) {
	t.Helper()
	if got := lstat(t, path).Nlink; uint64(got) != want {
		t.Errorf("%s: nlink %d, want %d", path, got, want)
	}
}

func wantMissing(t testing.TB, path string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != unix.ENOENT {
		t.Errorf("lstat %s: %v, want ENOENT", path, err)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(data), 0o644))
}

func wantContent(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Errorf("%s: content %s, want %s", path, abbrev(got), abbrev(want))
	}
}

func abbrev(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// openFile opens path for the rest of the test: the test's cleanup
// closes it, so the test must not. A second close of the same number
// would close whatever the process opened under it in between (a
// listener of a later test, once an idle HTTP connection that got the
// number closes), which is how connections to a live proxy came to be
// refused.
func openFile(t testing.TB, path string, flags int, mode uint32) int {
	t.Helper()
	fd := openFD(t, path, flags, mode)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// openFD opens path for a test that closes it itself, because the close
// is part of what it checks (a flush error, locks released by close).
func openFD(t testing.TB, path string, flags int, mode uint32) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
	must(t, err)
	return fd
}

// openClose opens and at once closes path: for errno cases about open.
func openClose(path string, flags int, mode uint32) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func pread(t testing.TB, fd int, n int, off int64) []byte {
	t.Helper()
	buf := make([]byte, n)
	got, err := unix.Pread(fd, buf, off)
	must(t, err)
	return buf[:got]
}

func pwrite(t testing.TB, fd int, data []byte, off int64) {
	t.Helper()
	n, err := unix.Pwrite(fd, data, off)
	must(t, err)
	if n != len(data) {
		t.Fatalf("pwrite: wrote %d of %d bytes", n, len(data))
	}
}

// longName is a name of n bytes (NAME_MAX is 255).
func longName(n int) string { return string(bytes.Repeat([]byte{'n'}, n)) }

// eventually polls cond until it returns nil, failing the test with cond's
// last error after timeout.
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}
