// Package e2e holds HAFS's end-to-end tests: real hafs-mkfs and hafs-fuse
// processes, real FUSE mounts, real programs. The filesystem checks take a
// directory, so each runs twice: on a local Linux filesystem (the reference,
// proving the expectations are what Linux does) and on a HAFS mount.
//
// This file is the harness: building the binaries once per package run,
// creating filesystems in fresh embedded stores, and mounting them.
package e2e

import (
	"slices"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binaries the harness builds, as named under ./cmd.
const (
	MkfsBinary = "hafs-mkfs"
	FuseBinary = "hafs-fuse"
)

const (
	mountTimeout = 10 * time.Second      // mount must show up in mountinfo
	exitTimeout  = 10 * time.Second      // hafs-fuse must exit after SIGTERM
	pollInterval = 10 * time.Millisecond // how often conditions are polled
)

// run is the state of one package run: a scratch directory, removed by
// Main, that caches the binaries and the test binary's world-runnable copy.
var run struct {
	dir  string
	bin  cached // directory of the built binaries
	self cached // the test binary's copy
}

// cached is a path made on first use and kept for the package run.
type cached struct {
	once sync.Once
	path string
	err  error
}

// get returns the cached path, calling mk with the run's scratch
// directory the first time; a failure fails every caller.
func (c *cached) get(t testing.TB, mk func(runDir string) (string, error)) string {
	t.Helper()
	if run.dir == "" {
		t.Fatal("e2e: the package's TestMain must call Main")
	}
	c.once.Do(func() { c.path, c.err = mk(run.dir) })
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.path
}

// Main runs the package's tests with the harness's per-run cache; call it
// from TestMain as os.Exit(Main(m)).
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hafs-e2e-")
	if err == nil {
		// Other users (the permission checks' uid 65534) run the test
		// binary's copy from here.
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	run.dir = dir
	return teststore.Main(m)
}

// Binary returns the path of hafs binary name (MkfsBinary or FuseBinary),
// building both with `go build` from the module root on first use.
func Binary(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(run.bin.get(t, buildBinaries), name)
}

func buildBinaries(runDir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(runDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ./cmd/... in %s: %v\n%s", root, err, out)
	}
	return binDir, nil
}

// moduleRoot walks up from the working directory to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("e2e: no go.mod above the working directory")
		}
		dir = parent
	}
}

// selfForOthers returns a copy of the running test binary that any user can
// execute (go test's own copy sits in a root-only directory).
func selfForOthers(t testing.TB) string {
	t.Helper()
	return run.self.get(t, copyExecutable)
}

func copyExecutable(runDir string) (string, error) {
	src, err := os.Executable()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(runDir, "e2e.test")
	return dst, os.WriteFile(dst, data, 0o755)
}

// PublicTempDir is t.TempDir made reachable by every user: the permission
// checks act as uid 65534, and that user must be able to walk to the mount.
func PublicTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// FSOptions shape a filesystem made by NewFS.
type FSOptions struct {
	// Name is passed as --name to hafs-mkfs and hafs-fuse; empty leaves the
	// binaries' default.
	Name string
	// Bucket, when set, is passed to hafs-mkfs --bucket: large bodies go
	// to that object store. When empty, the filesystem keeps every body in
	// the metadata store (--bucket none), unless MkfsDefault is set.
	Bucket string
	// MkfsDefault runs hafs-mkfs without --bucket, as a new user does: on
	// the embedded store, large bodies go to a directory beside it.
	MkfsDefault bool
	// Env is added to the environment of every HAFS process of the
	// filesystem (object store credentials).
	Env []string
	// Store, when set, is the store URL to make the filesystem in, instead
	// of a fresh one from test/teststore.
	Store string
	// MkfsArgs are added to hafs-mkfs's arguments (--capacity, --inodes).
	MkfsArgs []string
}

// FS is a filesystem created by hafs-mkfs in a fresh embedded store.
type FS struct {
	Store string   // store URL: sqlite:///.../meta.db, or etcd:// (HAFS_TEST_STORE)
	Name  string   // --name, or "" for the default
	Env   []string // added to every HAFS process's environment

	mu     sync.Mutex
	mounts []*Mount // every mount of it, whose logs explain a failed Check
}

// NewFS creates a fresh store (embedded in a temporary directory, or a
// fresh prefix on etcd: see test/teststore) and runs
// `hafs-mkfs --store URL [--name NAME]` in it.
func NewFS(t testing.TB, opts FSOptions) *FS {
	t.Helper()
	fs := &FS{Store: opts.Store, Name: opts.Name, Env: opts.Env}
	if fs.Store == "" {
		fs.Store = teststore.URL(t)
	}
	args := fs.storeArgs()
	switch {
	case opts.Bucket != "":
		args = append(args, "--bucket", opts.Bucket)
	case !opts.MkfsDefault:
		args = append(args, "--bucket", "none")
	}
	args = append(args, opts.MkfsArgs...)
	mkfs := exec.Command(Binary(t, MkfsBinary), args...)
	mkfs.Env = append(os.Environ(), fs.Env...)
	out, err := mkfs.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", MkfsBinary, strings.Join(args, " "), err, out)
	}
	// Registered before any mount, so it runs after every mount of this
	// filesystem has been unmounted.
	t.Cleanup(func() { fs.Check(t) })
	return fs
}

// Check runs the fsck invariants on the filesystem: every entry points to
// a live inode, nlink equals the links found, and no orphan is left once
// every client has closed its files.
func (fs *FS) Check(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, fs.Store, storeurl.Options{})
	if err != nil {
		t.Errorf("fsck: %v", err)
		return
	}
	defer s.Close()
	name := fs.Name
	if name == "" {
		name = "default"
	}
	m, err := meta.Open(ctx, s, name)
	if err != nil {
		t.Errorf("fsck: %v", err)
		return
	}
	rep, err := m.Check(ctx)
	if err != nil {
		t.Errorf("fsck: %v", err)
		return
	}
	for _, p := range rep.Problems {
		t.Errorf("fsck: %s", p)
	}
	if len(rep.Orphans) > 0 {
		t.Errorf("fsck: %d orphaned inodes left after every client unmounted: %v", len(rep.Orphans), rep.Orphans)
	}
	if len(rep.Problems) > 0 || len(rep.Orphans) > 0 {
		fs.logMounts(t)
	}
}

// logMounts logs the end of each mount's output: what a client did last
// is what usually explains what it left behind.
func (fs *FS) logMounts(t testing.TB) {
	const tail = 8 << 10
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, m := range fs.mounts {
		out := m.Output()
		if len(out) > tail {
			out = "..." + out[len(out)-tail:]
		}
		t.Logf("%s output for %s:\n%s", FuseBinary, m.Dir, out)
	}
}

func (fs *FS) storeArgs() []string {
	args := []string{"--store", fs.Store}
	if fs.Name != "" {
		args = append(args, "--name", fs.Name)
	}
	return args
}

// Mount is one running hafs-fuse process: one client of its FS.
type Mount struct {
	Dir string // the mount point
	FS  *FS

	cmd    *exec.Cmd
	output *lockedBuffer // hafs-fuse's stdout and stderr
	exited chan struct{} // closed when the process has been waited for
	err    error         // cmd.Wait's result, set before exited closes
	killed bool          // ended on purpose by Kill
	done   bool          // ended on purpose by Unmount
}

// Unmount ends the mount as a user would, checking it exits cleanly,
// before the test ends.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	m.stop(t)
	m.done = true
}

// Mount starts `hafs-fuse --store URL [--name NAME] extraArgs... MOUNTPOINT`
// in the foreground on a fresh mount point and waits (at most 10 s) until
// the kernel lists it as a FUSE mount. Cleanup sends SIGTERM, requires exit
// status 0 and the mount gone, and lazily unmounts whatever is left.
// Mounting the same FS twice gives two clients of one filesystem.
func (fs *FS) Mount(t testing.TB, extraArgs ...string) *Mount {
	t.Helper()
	return fs.MountOn(t, exec.Command, extraArgs...)
}

// MountOn is Mount with hafs-fuse started by command: on another host
// (test/cluster's Host.Command), say.
func (fs *FS) MountOn(t testing.TB, command func(name string, args ...string) *exec.Cmd, extraArgs ...string) *Mount {
	t.Helper()
	dir, err := filepath.EvalSymlinks(PublicTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	args := fs.storeArgs()
	if !slices.ContainsFunc(extraArgs, func(a string) bool { return strings.HasPrefix(a, "--cache-dir") }) {
		// No disk cache unless a test asks for one: reads of a site test
		// that site, not a copy this node kept of what it wrote.
		args = append(args, "--cache-dir=")
	}
	args = append(append(args, extraArgs...), dir)
	m := &Mount{Dir: dir, FS: fs, output: &lockedBuffer{}, exited: make(chan struct{})}
	fs.mu.Lock()
	fs.mounts = append(fs.mounts, m)
	fs.mu.Unlock()
	m.cmd = command(Binary(t, FuseBinary), args...)
	m.cmd.Env = append(os.Environ(), fs.Env...)
	m.cmd.Stdout, m.cmd.Stderr = m.output, m.output
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", FuseBinary, err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() { m.stop(t) })

	deadline := time.After(mountTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		mounted, err := isFUSEMount(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Serving: hafs-fuse logs "mounted" once go-fuse's own probe of the
		// new mount is done. A SIGKILL before then could leave it stuck in
		// that probe's close on its own dead mount.
		if mounted && strings.Contains(m.output.String(), "msg=mounted") {
			return m
		}
		select {
		case <-m.exited:
			t.Fatalf("%s %s exited before mounting (%v); its output:\n%s",
				FuseBinary, strings.Join(args, " "), m.err, m.output)
		case <-deadline:
			t.Fatalf("%s %s: %s not a FUSE mount after %v; its output:\n%s",
				FuseBinary, strings.Join(args, " "), dir, mountTimeout, m.output)
		case <-tick.C:
		}
	}
}

// stop ends the hafs-fuse process as a user would (SIGTERM), checks that it
// exited 0 and unmounted, and cleans up by force whatever it left.
// Kill ends the mount process with SIGKILL, as a crash would, and detaches
// the dead mount.
func (m *Mount) Kill(t testing.TB) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL to %s: %v", FuseBinary, err)
	}
	<-m.exited
	m.killed = true
	forceUnmount(t, m.Dir)
}

// Pid returns the mount process's pid.
func (m *Mount) Pid() int { return m.cmd.Process.Pid }

// Output returns what the mount process printed so far.
func (m *Mount) Output() string { return m.output.String() }

func (m *Mount) stop(t testing.TB) {
	if m.killed || m.done {
		return
	}
	select {
	case <-m.exited:
		t.Errorf("%s for %s exited before the test ended (%v)", FuseBinary, m.Dir, m.err)
	default:
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM to %s: %v", FuseBinary, err)
		}
		select {
		case <-m.exited:
			if m.err != nil {
				t.Errorf("%s for %s: after SIGTERM: %v, want exit status 0", FuseBinary, m.Dir, m.err)
			}
		case <-time.After(exitTimeout):
			t.Errorf("%s for %s still running %v after SIGTERM; killing it", FuseBinary, m.Dir, exitTimeout)
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	if mounted, err := isFUSEMount(m.Dir); err != nil || mounted {
		t.Errorf("%s still mounted after %s exited (%v); unmounting lazily", m.Dir, FuseBinary, err)
		forceUnmount(t, m.Dir)
	}
	if t.Failed() {
		t.Logf("%s output for %s:\n%s", FuseBinary, m.Dir, m.output)
	}
}

func forceUnmount(t testing.TB, dir string) {
	out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if err == nil {
		return
	}
	out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput()
	if err2 != nil {
		t.Errorf("cannot unmount %s: fusermount3: %v %s; umount: %v %s", dir, err, out, err2, out2)
	}
}

// isFUSEMount reports whether dir is a mount point of a FUSE filesystem
// (fstype fuse or fuse.*), as /proc/self/mountinfo lists it.
func isFUSEMount(dir string) (bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(line)
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i := 5; i+1 < len(fields); i++ {
			if fields[i] == "-" {
				if fs := fields[i+1]; fs == "fuse" || strings.HasPrefix(fs, "fuse.") {
					return true, nil
				}
				break
			}
		}
	}
	return false, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
