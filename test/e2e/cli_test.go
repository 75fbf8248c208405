package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storeurl"
)

// The command-line contract of issue 3, checked with the real binaries:
// hafs-mkfs's refusal and --force, --name, --version and --help, hafs-fuse's
// answers to bad input, flags after the mount point (as mount(8) and fstab
// pass them), read-only mounts, statfs and fsync.

// Binaries other than the two the harness names, as built under ./cmd.
const (
	listClientsBinary = "hafs-list-clients"
	evictBinary       = "hafs-evict-client"
)

// cmdTimeout bounds a command that must end by itself: bad input must be
// refused at once, not after a hang.
const cmdTimeout = 10 * time.Second

// result is what a finished command did.
type result struct {
	stdout, stderr string
	code           int // exit status
	took           time.Duration
}

// runBinary runs hafs binary name with args and fails the test if it does
// not exit within cmdTimeout.
func runBinary(t *testing.T, name string, args ...string) result {
	t.Helper()
	return runBinaryAs(t, nil, name, args...)
}

// runBinaryAs is runBinary as another user (cred), or as root if nil.
func runBinaryAs(t *testing.T, cred *syscall.Credential, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v; stderr:\n%s", name, strings.Join(args, " "), cmdTimeout, r.stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// wantOneLineError requires r to be a failure with one line on stderr,
// "NAME: ...", that contains want, and nothing on stdout.
func wantOneLineError(t *testing.T, name string, r result, want string) {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	switch {
	case r.code == 0:
		t.Errorf("%s: exit status 0, want non-zero; stderr %q", name, r.stderr)
	case line == "" || strings.Contains(line, "\n") || !strings.HasSuffix(r.stderr, "\n"):
		t.Errorf("%s: stderr %q, want exactly one line", name, r.stderr)
	case !strings.HasPrefix(line, name+": ") || !strings.Contains(line, want):
		t.Errorf("%s: error %q, want %q naming %s", name, line, name+": ..."+want+"...", want)
	}
	if r.stdout != "" {
		t.Errorf("%s: printed %q on stdout along with its error", name, r.stdout)
	}
}

// storeDump returns every key and value in the store at url, one pair a
// line: the store's whole content, to compare before and after a command.
func storeDump(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, url, storeurl.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer s.Close()
	var b strings.Builder
	err = s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		b.Reset()
		for kv, err := range tx.GetRange(nil, bytes.Repeat([]byte{0xff}, 8), fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			b.WriteString(hex.EncodeToString(kv.Key) + " " + hex.EncodeToString(kv.Value) + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return b.String()
}

// mountWith is FS.Mount with the whole command line chosen by args, given
// the mount point: to put flags after it, as mount(8) does. It returns once
// hafs-fuse serves the mount (see waitServing).
func mountWith(t *testing.T, fs *FS, args func(dir string) []string) *Mount {
	t.Helper()
	dir, err := filepath.EvalSymlinks(PublicTempDir(t))
	must(t, err)
	m := &Mount{Dir: dir, FS: fs, output: &lockedBuffer{}, exited: make(chan struct{})}
	m.cmd = exec.Command(Binary(t, FuseBinary), args(dir)...)
	m.cmd.Stdout, m.cmd.Stderr = m.output, m.output
	must(t, m.cmd.Start())
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() { m.stop(t) })
	waitServing(t, m)
	if mounted, err := isFUSEMount(dir); err != nil || !mounted {
		t.Fatalf("%s says it serves %s, which is not a FUSE mount (%v)", FuseBinary, dir, err)
	}
	return m
}

// waitServing waits until hafs-fuse has logged that it serves m (FS.Mount
// does the same). Until then go-fuse is still opening and closing its probe
// file (.go-fuse-epoll-hack) on the mount from the hafs-fuse process: a
// SIGKILL then leaves that process unkillable, its close(2) waiting for an
// answer from itself, so Kill would wait forever.
func waitServing(t *testing.T, m *Mount) {
	t.Helper()
	eventually(t, mountTimeout, func() error {
		select {
		case <-m.exited:
			t.Fatalf("%s %s exited before serving (%v); its output:\n%s", FuseBinary,
				strings.Join(m.cmd.Args[1:], " "), m.err, m.output)
		default:
		}
		if !strings.Contains(m.Output(), "msg=mounted ") {
			return fmt.Errorf("%s has not logged serving %s", FuseBinary, m.Dir)
		}
		return nil
	})
}

// crash ends m with SIGKILL once it serves (mountWith mounts too).
func crash(t *testing.T, m *Mount) {
	t.Helper()
	waitServing(t, m)
	m.Kill(t)
}

// rootNames lists the root directory of a mount.
func rootNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCLIVersionAndHelp runs --version and --help of every binary built
// from ./cmd.
func TestCLIVersionAndHelp(t *testing.T) {
	ents, err := os.ReadDir(filepath.Dir(Binary(t, MkfsBinary)))
	must(t, err)
	for _, e := range ents {
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			r := runBinary(t, name, "--version")
			if r.code != 0 || !strings.HasPrefix(r.stdout, name+" version ") || strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("%s --version: exit %d, stdout %q, stderr %q; want exit 0 and %q",
					name, r.code, r.stdout, r.stderr, name+" version X\n")
			}
			want := []string{"NAME:", name + " - ", "USAGE:", "DESCRIPTION:", "--help", "--version"}
			switch name {
			case MkfsBinary, FuseBinary, listClientsBinary, evictBinary:
				want = append(want, "--store URL", "--name NAME")
			}
			r = runBinary(t, name, "--help")
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%s --help lacks %q", name, w)
				}
			}
			if r.code != 0 || r.stderr != "" {
				t.Errorf("%s --help: exit %d, stderr %q; want exit 0, nothing on stderr", name, r.code, r.stderr)
			}
		})
	}
}

// TestCLIMkfsExisting: hafs-mkfs refuses a name that exists, touching
// nothing, and --force makes it anew, empty.
func TestCLIMkfsExisting(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	writeFile(t, filepath.Join(m.Dir, "kept"), "written before mkfs")
	must(t, unix.Mkdir(filepath.Join(m.Dir, "dir"), 0o755))
	crash(t, m) // so that no heartbeat changes the store below

	before := storeDump(t, fs.Store)
	r := runBinary(t, MkfsBinary, "--store", fs.Store)
	wantOneLineError(t, MkfsBinary, r, `filesystem "default" already exists`)
	if storeDump(t, fs.Store) != before {
		t.Errorf("%s without --force changed the store", MkfsBinary)
	}
	dir := fs.Mount(t).Dir
	wantContent(t, filepath.Join(dir, "kept"), []byte("written before mkfs"))
	if got := rootNames(t, dir); !slices.Equal(got, []string{"dir", "kept"}) {
		t.Errorf("root after a refused mkfs: %q, want [dir kept]", got)
	}
}

// TestCLIMkfsForce: --force erases a filesystem no client mounts and makes
// it anew, empty; while a client (here a crashed one) is registered it
// refuses, touching nothing, until the client is evicted.
func TestCLIMkfsForce(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	writeFile(t, filepath.Join(m.Dir, "old"), "erased by --force")
	must(t, unix.Mkdir(filepath.Join(m.Dir, "olddir"), 0o755))
	crash(t, m)

	before := storeDump(t, fs.Store)
	wantOneLineError(t, MkfsBinary, runBinary(t, MkfsBinary, "--store", fs.Store, "--force"), "mounted")
	if storeDump(t, fs.Store) != before {
		t.Errorf("%s --force refused, yet changed the store", MkfsBinary)
	}
	ids := clientIDs(t, fs)
	if len(ids) != 1 {
		t.Fatalf("clients after a crash: %q, want the crashed one", ids)
	}
	if r := runBinary(t, evictBinary, ids[0], "--store", fs.Store); r.code != 0 {
		t.Fatalf("%s %s: exit %d, %s", evictBinary, ids[0], r.code, r.stderr)
	}

	r := runBinary(t, MkfsBinary, "--store", fs.Store, "--force")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `created filesystem "default"`) {
		t.Fatalf("%s --force: exit %d, stdout %q, stderr %q", MkfsBinary, r.code, r.stdout, r.stderr)
	}
	dir := fs.Mount(t).Dir
	if got := rootNames(t, dir); len(got) != 0 {
		t.Errorf("root after mkfs --force: %q, want it empty", got)
	}
	if st := stat(t, dir); st.Nlink != 2 || perm(st) != 0o755 {
		t.Errorf("root after mkfs --force: nlink %d mode %#o, want 2 and 0755", st.Nlink, perm(st))
	}
	if ids := clientIDs(t, fs); len(ids) != 1 {
		t.Errorf("clients after mkfs --force and a new mount: %q, want only the new one", ids)
	}
}

// clientIDs returns the session ids hafs-list-clients lists for fs.
func clientIDs(t *testing.T, fs *FS) []string {
	t.Helper()
	r := runBinary(t, listClientsBinary, fs.storeArgs()...)
	if r.code != 0 {
		t.Fatalf("%s: exit %d, %s", listClientsBinary, r.code, r.stderr)
	}
	r = runBinary(t, listClientsBinary, append(fs.storeArgs(), "--json")...)
	var rows []struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 {
		t.Fatalf("%s --json: exit %d, %q (%v)", listClientsBinary, r.code, r.stdout+r.stderr, err)
	}
	ids := []string{}
	for _, row := range rows {
		ids = append(ids, row.ID)
	}
	return ids
}

// TestCLIMkfsName: two filesystems of different names in one store are
// independent.
func TestCLIMkfsName(t *testing.T) {
	requireRoot(t)
	def := NewFS(t, FSOptions{})
	other := &FS{Store: def.Store, Name: "other"}
	r := runBinary(t, MkfsBinary, "--store", other.Store, "--name", other.Name)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `created filesystem "other"`) {
		t.Fatalf("%s --name other: exit %d, stdout %q, stderr %q", MkfsBinary, r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { other.Check(t) }) // after its mounts are gone
	wantOneLineError(t, MkfsBinary, runBinary(t, MkfsBinary, "--store", other.Store, "--name", other.Name),
		`filesystem "other" already exists`)

	a, b := def.Mount(t).Dir, other.Mount(t).Dir
	writeFile(t, filepath.Join(a, "in-default"), "a")
	must(t, unix.Mkdir(filepath.Join(b, "in-other"), 0o700))
	if got := rootNames(t, a); !slices.Equal(got, []string{"in-default"}) {
		t.Errorf("default filesystem holds %q, want [in-default]", got)
	}
	if got := rootNames(t, b); !slices.Equal(got, []string{"in-other"}) {
		t.Errorf("filesystem other holds %q, want [in-other]", got)
	}
	// A second client of each sees its own filesystem only.
	if got := rootNames(t, other.Mount(t).Dir); !slices.Equal(got, []string{"in-other"}) {
		t.Errorf("second mount of other holds %q, want [in-other]", got)
	}
}

// TestCLIFuseBadInput: hafs-fuse refuses bad input at once with a one-line
// error, and the store it was pointed at is left as it was.
func TestCLIFuseBadInput(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	tmp := t.TempDir()
	emptyDir := filepath.Join(tmp, "mnt")
	must(t, os.Mkdir(emptyDir, 0o755))
	regular := filepath.Join(tmp, "file")
	writeFile(t, regular, "not a directory")
	busy := NewFS(t, FSOptions{}).Mount(t).Dir // mounted by another filesystem
	busyLink := filepath.Join(tmp, "link")
	must(t, os.Symlink(busy, busyLink))
	noStoreDir := filepath.Join(tmp, "nostore")

	before := storeDump(t, fs.Store)
	for _, c := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no mount point", []string{"--store", fs.Store}, "MOUNTPOINT"},
		{"two mount points", []string{"--store", fs.Store, emptyDir, emptyDir}, "MOUNTPOINT"},
		{"missing mount point", []string{"--store", fs.Store, filepath.Join(tmp, "nope")}, "does not exist"},
		{"mount point is a file", []string{regular, "--store", fs.Store}, "is not a directory"},
		{"already mounted", []string{"--store", fs.Store, busy}, "already mounted"},
		{"already mounted, by symlink", []string{"--store", fs.Store, busyLink}, "already mounted"},
		{"store file missing", []string{emptyDir, "--store", "sqlite://" + filepath.Join(noStoreDir, "meta.db")}, noStoreDir},
		{"no such filesystem", []string{"--store", fs.Store, emptyDir, "--name", "nosuch"}, "nosuch"},
		{"no such filesystem -o", []string{emptyDir, "-o", "store=" + fs.Store + ",name=nosuch"}, "nosuch"},
		{"unknown scheme", []string{"--store", "bogus:///x/meta.db", emptyDir}, `unknown scheme "bogus"`},
		{"unknown mount option", []string{"--store", fs.Store, emptyDir, "-o", "ro,frobnicate"}, "frobnicate"},
		{"bad ttl", []string{"--store", fs.Store, emptyDir, "-o", "attr_timeout=soon"}, "attr_timeout"},
		{"bad flag value", []string{"--store", fs.Store, emptyDir, "--attr-timeout", "soon"}, "attr-timeout"},
		{"unknown flag", []string{"--store", fs.Store, emptyDir, "--frobnicate"}, "frobnicate"},
		{"bad session timing", []string{"--store", fs.Store, emptyDir, "--heartbeat", "0s"}, "--heartbeat"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			r := runBinary(t, FuseBinary, c.args...)
			wantOneLineError(t, FuseBinary, r, c.want)
			if r.took > 5*time.Second {
				t.Errorf("took %v to refuse", r.took)
			}
		})
	}
	if storeDump(t, fs.Store) != before {
		t.Errorf("the refused %s commands changed the store", FuseBinary)
	}
	if _, err := os.Lstat(noStoreDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s with a missing store: %s: %v, want it still missing", FuseBinary, noStoreDir, err)
	}
	if mounted, err := isFUSEMount(emptyDir); err != nil || mounted {
		t.Errorf("%s is mounted (%v) after refused mounts", emptyDir, err)
	}
	if got := rootNames(t, busy); len(got) != 0 {
		t.Errorf("the busy mount holds %q after a refused mount on it, want nothing", got)
	}
}

// TestCLIFuseSignalWhileMounting sends SIGTERM the moment the kernel lists
// the mount, while hafs-fuse is still setting it up: it must still unmount
// cleanly and exit 0, leaving no session behind.
func TestCLIFuseSignalWhileMounting(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	for range 5 {
		dir, err := filepath.EvalSymlinks(PublicTempDir(t))
		must(t, err)
		cmd := exec.Command(Binary(t, FuseBinary), append(fs.storeArgs(), dir)...)
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		must(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		eventually(t, mountTimeout, func() error {
			if mounted, err := isFUSEMount(dir); err != nil || !mounted {
				return fmt.Errorf("%s not mounted (%v); output:\n%s", dir, err, &out)
			}
			return nil
		})
		must(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s got SIGTERM while mounting: %v, want exit status 0; output:\n%s", FuseBinary, err, &out)
			}
		case <-time.After(exitTimeout):
			// Abort the connection, or the process never ends.
			t.Errorf("%s still running %v after SIGTERM while mounting; output:\n%s", FuseBinary, exitTimeout, &out)
			_ = unix.Unmount(dir, unix.MNT_FORCE)
			_ = cmd.Process.Kill()
			<-exited
		}
		if mounted, err := isFUSEMount(dir); err != nil || mounted {
			t.Errorf("%s still mounted (%v) after %s exited", dir, err, FuseBinary)
			forceUnmount(t, dir)
		}
	}
	if ids := clientIDs(t, fs); len(ids) != 0 {
		t.Errorf("sessions left after the interrupted mounts: %q", ids)
	}
}

// TestCLIFuseNoDevFuse: a user who may not open /dev/fuse gets a one-line
// error, and the store is left alone.
func TestCLIFuseNoDevFuse(t *testing.T) {
	requireRoot(t)
	if st := stat(t, "/dev/fuse"); st.Mode&0o006 != 0 {
		t.Skip("/dev/fuse is open to every user here")
	}
	fs := NewFS(t, FSOptions{})
	dir := PublicTempDir(t)
	before := storeDump(t, fs.Store)
	r := runBinaryAs(t, &syscall.Credential{Uid: nobody.uid, Gid: nobody.gid, Groups: []uint32{}},
		FuseBinary, dir, "--store", fs.Store)
	wantOneLineError(t, FuseBinary, r, "/dev/fuse")
	if storeDump(t, fs.Store) != before {
		t.Errorf("the refused %s changed the store", FuseBinary)
	}
}

// TestCLIFlagsAfterArguments: every binary takes flags after its
// positional arguments, as mount(8) passes them.
func TestCLIFlagsAfterArguments(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	wantOneLineError(t, evictBinary, runBinary(t, evictBinary, "nosuch", "--store", fs.Store),
		`no client "nosuch"`)
	wantOneLineError(t, MkfsBinary, runBinary(t, MkfsBinary, "extra", "--store", fs.Store),
		`unexpected argument "extra"`)
	// "--" ends the flags: what follows is an argument however it looks.
	wantOneLineError(t, evictBinary, runBinary(t, evictBinary, "--store", fs.Store, "--", "--name"),
		`no client "--name"`)
}

// TestCLIReadOnly mounts read-only with the flags after the mount point,
// both ways: -o ro (with another option) and --read-only. Every change is
// refused with EROFS, while a read-write client of the same filesystem
// works on.
func TestCLIReadOnly(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	rw := fs.Mount(t).Dir
	writeFile(t, filepath.Join(rw, "f"), "data")
	must(t, unix.Mkdir(filepath.Join(rw, "d"), 0o755))
	must(t, unix.Setxattr(filepath.Join(rw, "f"), "user.k", []byte("v"), 0))

	for name, args := range map[string]func(dir string) []string{
		"-o ro": func(dir string) []string { return []string{dir, "--store", fs.Store, "-o", "ro,attr_timeout=2"} },
		"--read-only": func(dir string) []string {
			return []string{"--store", fs.Store, dir, "--read-only", "--entry-timeout", "2s"}
		},
	} {
		t.Run(strings.TrimLeft(name, "- "), func(t *testing.T) {
			ro := mountWith(t, fs, args).Dir
			f, d := filepath.Join(ro, "f"), filepath.Join(ro, "d")
			wantContent(t, f, []byte("data"))
			var sfs unix.Statfs_t
			must(t, unix.Statfs(ro, &sfs))
			if sfs.Flags&unix.ST_RDONLY == 0 {
				t.Errorf("statfs %s: flags %#x lack ST_RDONLY", ro, sfs.Flags)
			}
			now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
			wantErrnos(t, []errnoCase{
				{"create", func() error { return openClose(filepath.Join(ro, "new"), unix.O_CREAT|unix.O_WRONLY, 0o644) }, unix.EROFS},
				{"open O_WRONLY", func() error { return openClose(f, unix.O_WRONLY, 0) }, unix.EROFS},
				{"open O_TRUNC", func() error { return openClose(f, unix.O_RDONLY|unix.O_TRUNC, 0) }, unix.EROFS},
				{"mknod", func() error { return unix.Mknod(filepath.Join(ro, "n"), unix.S_IFIFO|0o644, 0) }, unix.EROFS},
				{"mkdir", func() error { return unix.Mkdir(filepath.Join(ro, "nd"), 0o755) }, unix.EROFS},
				{"symlink", func() error { return unix.Symlink("f", filepath.Join(ro, "l")) }, unix.EROFS},
				{"link", func() error { return unix.Link(f, filepath.Join(ro, "h")) }, unix.EROFS},
				{"unlink", func() error { return unix.Unlink(f) }, unix.EROFS},
				{"rmdir", func() error { return unix.Rmdir(d) }, unix.EROFS},
				{"rename", func() error { return unix.Rename(f, filepath.Join(ro, "g")) }, unix.EROFS},
				{"chmod", func() error { return unix.Chmod(f, 0o600) }, unix.EROFS},
				{"chown", func() error { return unix.Chown(f, 1, 1) }, unix.EROFS},
				{"truncate", func() error { return unix.Truncate(f, 0) }, unix.EROFS},
				{"utimensat", func() error { return unix.UtimesNano(f, now) }, unix.EROFS},
				{"setxattr", func() error { return unix.Setxattr(f, "user.k", []byte("w"), 0) }, unix.EROFS},
				{"removexattr", func() error { return unix.Removexattr(f, "user.k") }, unix.EROFS},
				{"access W_OK", func() error { return unix.Access(f, unix.W_OK) }, unix.EROFS},
				{"access R_OK", func() error { return unix.Access(f, unix.R_OK) }, 0},
			})
			wantContent(t, filepath.Join(rw, "f"), []byte("data"))
			if got := rootNames(t, rw); !slices.Equal(got, []string{"d", "f"}) {
				t.Errorf("after the refused changes the filesystem holds %q, want [d f]", got)
			}
		})
	}
}

// TestCLIStatfsAndFsync: statfs gives sane figures that follow what is
// written, and fsync, fdatasync and syncfs succeed, the data surviving a
// crash of the client and a new mount.
func TestCLIStatfsAndFsync(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	statfs := func() unix.Statfs_t {
		var st unix.Statfs_t
		must(t, unix.Statfs(m.Dir, &st))
		const fuseSuperMagic = 0x65735546
		switch {
		case st.Type != fuseSuperMagic:
			t.Errorf("statfs: f_type %#x, want FUSE's %#x", st.Type, fuseSuperMagic)
		case st.Bsize <= 0 || st.Frsize <= 0:
			t.Errorf("statfs: f_bsize %d f_frsize %d, want both > 0", st.Bsize, st.Frsize)
		case st.Blocks == 0 || st.Bfree > st.Blocks || st.Bavail > st.Bfree:
			t.Errorf("statfs: blocks %d free %d avail %d, want 0 < avail <= free <= blocks", st.Blocks, st.Bfree, st.Bavail)
		case st.Files == 0 || st.Ffree > st.Files:
			t.Errorf("statfs: files %d free %d, want 0 < free <= files", st.Files, st.Ffree)
		case st.Namelen != 255:
			t.Errorf("statfs: f_namelen %d, want 255", st.Namelen)
		}
		return st
	}
	before := statfs()

	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	path := filepath.Join(m.Dir, "synced")
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	must(t, err)
	pwrite(t, fd, data, 0)
	must(t, unix.Fsync(fd))
	pwrite(t, fd, []byte("tail"), int64(len(data)))
	must(t, unix.Fdatasync(fd))
	must(t, unix.Syncfs(fd))
	dfd := openFile(t, m.Dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, unix.Fsync(dfd))
	must(t, unix.Close(fd))

	after := statfs()
	// Used space (blocks less free ones) is the filesystem's own count;
	// free space alone also moves with whatever else uses the disk.
	if used := int64((after.Blocks-after.Bfree)-(before.Blocks-before.Bfree)) * after.Bsize; used < int64(len(data)) {
		t.Errorf("statfs: used space grew by %d bytes after writing %d", used, len(data))
	}
	if before.Ffree-after.Ffree != 1 {
		t.Errorf("statfs: free inodes fell by %d after creating one file", int64(before.Ffree-after.Ffree))
	}

	crash(t, m)
	wantContent(t, filepath.Join(fs.Mount(t).Dir, "synced"), append(data, "tail"...))
}
