package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
)

// The readdir contract: listing a 100,000-entry directory in pages
// while another process creates and deletes in it never repeats an entry
// and never skips one that existed throughout.

const (
	bigDirEntries = 100_000
	getdentsBuf   = 4 << 10 // bytes per getdents64: a small page
	churnKeep     = 64      // churn entries alive at once
)

func init() {
	// The other process of TestReaddirBigChurn is a child running this
	// operation (see asuser_test.go for how children run userOps).
	userOps["churn"] = struct {
		args int
		run  func(a []string) error
	}{1, func(a []string) error { return churn(a[0], os.Stdin, os.Stderr) }}
}

// churn creates and unlinks entries named churn-PID-N in dir until stop
// reaches end of file, keeping the last churnKeep alive. It reports
// "started" once it has created one, and finally "churned N" (N creates, as
// many unlinks less churnKeep), on report.
func churn(dir string, stop io.Reader, report io.Writer) error {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stop)
		close(done)
	}()
	pid := os.Getpid()
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("churn-%d-%d", pid, i)) }
	for i := 0; ; i++ {
		select {
		case <-done:
			fmt.Fprintf(report, "churned %d\n", i)
			return nil
		default:
		}
		if err := unix.Mknod(name(i), unix.S_IFREG|0o644, 0); err != nil {
			return fmt.Errorf("churn: create %s: %w", name(i), err)
		}
		if i == 0 {
			fmt.Fprintln(report, "started")
		}
		if i >= churnKeep {
			if err := unix.Unlink(name(i - churnKeep)); err != nil {
				return fmt.Errorf("churn: unlink %s: %w", name(i-churnKeep), err)
			}
		}
	}
}

// bigName is the name of the i-th entry that exists throughout the listing.
func bigName(i int) string { return fmt.Sprintf("big-%06d", i) }

// TestReaddirBigChurn lists a 100,000-entry directory with 4 KiB getdents64
// calls while another process creates and deletes entries in it: once
// through one open directory, and once resuming each page from the last
// offset (d_off) on a new open, as an NFS server or a program using
// telldir/seekdir does, so that the filesystem itself seeks to each offset.
func TestReaddirBigChurn(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	start := time.Now()
	createEntries(t, fs, "big", bigDirEntries)
	t.Logf("created %d entries with meta.Create in %v (%.0f/s)", bigDirEntries,
		time.Since(start).Round(time.Millisecond), bigDirEntries/time.Since(start).Seconds())
	dir := filepath.Join(fs.Mount(t).Dir, "big")

	for _, reopen := range []bool{false, true} {
		how := "one open directory"
		if reopen {
			how = "a new open and seek per page"
		}
		other := startChurn(t, dir)
		start = time.Now()
		names := listInPages(t, dir, reopen)
		listed := time.Since(start)
		churned := other.stop(t)
		t.Logf("listed %d names through %s in %d-byte getdents64 calls in %v while another process created %d entries and unlinked %d",
			len(names), how, getdentsBuf, listed.Round(time.Millisecond), churned, max(churned-churnKeep, 0))
		if churned < 2*churnKeep {
			t.Errorf("the other process created only %d entries during the listing: too few to test anything", churned)
		}
		checkListing(t, how, names)
	}
}

// checkListing requires names to hold no name twice, every bigName, and
// nothing else but churn entries.
func checkListing(t *testing.T, how string, names []string) {
	t.Helper()
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			t.Errorf("listing through %s repeats %q", how, n)
		}
		seen[n] = true
		if !strings.HasPrefix(n, "big-") && !strings.HasPrefix(n, "churn-") {
			t.Errorf("listing through %s has %q, which was never created", how, n)
		}
	}
	missing := 0
	for i := range bigDirEntries {
		if !seen[bigName(i)] {
			if missing++; missing <= 10 {
				t.Errorf("listing through %s skips %s, which existed throughout", how, bigName(i))
			}
		}
	}
	if missing > 10 {
		t.Errorf("... %d entries skipped in all", missing)
	}
}

// createEntries makes directory dir in the root of fs, not mounted, with n
// empty files named bigName(0..n-1) in it. It runs meta.Create, the very
// transaction hafs-fuse runs for mknod(2), as a client of the store in this
// process: through FUSE the same creates run at about 1,700/s on this
// machine (2 cores, shared), far too slow for 100,000 of them, and more
// goroutines do not help, as every create in one directory commits in turn.
func createEntries(t *testing.T, fs *FS, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, fs.Store, storeurl.Options{})
	must(t, err)
	defer s.Close()
	name := fs.Name
	if name == "" {
		name = "default"
	}
	m, err := meta.Open(ctx, s, name)
	must(t, err)
	d, err := m.Create(ctx, meta.RootIno, dir, meta.NewNode{Mode: unix.S_IFDIR | 0o755})
	if err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	for i := range n {
		if _, err := m.Create(ctx, d.Ino, bigName(i), meta.NewNode{Mode: unix.S_IFREG | 0o644}); err != nil {
			t.Fatalf("create %s/%s: %v", dir, bigName(i), err)
		}
	}
}

// listInPages reads dir with getdents64 into a getdentsBuf-byte buffer and
// returns every name but "." and "..". With reopen, each page comes from a
// new open of dir, positioned with lseek at the d_off of the last entry
// read before.
func listInPages(t *testing.T, dir string, reopen bool) []string {
	t.Helper()
	open := func() int {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		must(t, err)
		return fd
	}
	fd := open()
	defer func() { unix.Close(fd) }()
	buf := make([]byte, getdentsBuf)
	var names []string
	var off int64 // d_off of the last entry read: where the next page starts
	for {
		if reopen && off != 0 {
			unix.Close(fd)
			fd = -1 // the deferred close must not close the number again if open fails
			fd = open()
			if _, err := unix.Seek(fd, off, io.SeekStart); err != nil {
				t.Fatalf("lseek %s to %d: %v", dir, off, err)
			}
		}
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatalf("getdents64 %s after %d names: %v", dir, len(names), err)
		}
		if n == 0 {
			return names
		}
		names, off = parseDirents(t, buf[:n], names)
		if len(names) > bigDirEntries+bigDirEntries/2 {
			t.Fatalf("listing %s does not end: %d names so far", dir, len(names))
		}
	}
}

// parseDirents appends the names in buf, a getdents64 result, to names
// (but "." and "..") and returns them with the d_off of the last entry.
func parseDirents(t *testing.T, buf []byte, names []string) ([]string, int64) {
	t.Helper()
	var off int64
	for len(buf) > 0 {
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
		if len(buf) < 19 {
			t.Fatalf("getdents64: %d stray bytes", len(buf))
		}
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < 19 || reclen > len(buf) {
			t.Fatalf("getdents64: d_reclen %d with %d bytes left", reclen, len(buf))
		}
		off = int64(binary.NativeEndian.Uint64(buf[8:16]))
		name, _, _ := bytes.Cut(buf[19:reclen], []byte{0})
		if n := string(name); n != "." && n != ".." {
			names = append(names, n)
		}
		buf = buf[reclen:]
	}
	return names, off
}

// churner is the running churn process.
type churner struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stderr, line by line; closed at its end
	stdout strings.Builder
}

// startChurn starts a child process churning in dir and waits until it has
// created its first entry.
func startChurn(t *testing.T, dir string) *churner {
	t.Helper()
	c := &churner{cmd: exec.Command(selfForOthers(t)), lines: make(chan string, 16)}
	c.cmd.Dir = "/"
	c.cmd.Env = append(os.Environ(), userOpsEnv+`=[["churn",`+fmt.Sprintf("%q", dir)+`]]`)
	c.cmd.Stdout = &c.stdout
	var err error
	c.stdin, err = c.cmd.StdinPipe()
	must(t, err)
	stderr, err := c.cmd.StderrPipe()
	must(t, err)
	must(t, c.cmd.Start())
	t.Cleanup(func() {
		c.stdin.Close()
		_ = c.cmd.Wait() // no-op after stop; otherwise reaps a failed child
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	select {
	case l, ok := <-c.lines:
		if !ok || l != "started" {
			t.Fatalf("churn process did not start: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("churn process did not create an entry within 10s")
	}
	return c
}

// stop ends the churn process and returns how many entries it created.
func (c *churner) stop(t *testing.T) int {
	t.Helper()
	c.stdin.Close()
	var out []string
	for l := range c.lines {
		out = append(out, l)
	}
	err := c.cmd.Wait()
	var n int
	if err != nil || len(out) != 1 || c.stdout.String() != "[0]" {
		t.Fatalf("churn process: %v, stdout %q, stderr %q", err, c.stdout.String(), out)
	}
	if _, err := fmt.Sscanf(out[0], "churned %d", &n); err != nil {
		t.Fatalf("churn process: stderr %q: %v", out[0], errors.Unwrap(err))
	}
	return n
}
