package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/test/minio"
)

// hafsQuota runs `hafs quota SUB --store ... ARGS`.
func hafsQuota(t *testing.T, fs *FS, sub string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "hafs"), append(append([]string{"quota", sub}, fs.storeArgs()...), args...)...)
	cmd.Env = append(os.Environ(), fs.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// quotaUsage returns the used bytes and inodes `hafs quota get PATH`
// prints.
func quotaUsage(t *testing.T, fs *FS, path string) (int64, int64, error) {
	t.Helper()
	out, err := hafsQuota(t, fs, "get", path)
	if err != nil {
		return 0, 0, fmt.Errorf("hafs quota get %s: %v\n%s", path, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(lines) != 2 || len(f) != 5 || f[0] != path {
		return 0, 0, fmt.Errorf("hafs quota get %s printed:\n%s", path, out)
	}
	b, err1 := strconv.ParseInt(f[1], 10, 64)
	n, err2 := strconv.ParseInt(f[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("hafs quota get %s printed:\n%s", path, out)
	}
	return b, n, nil
}

// TestQuota: `hafs quota set /q --bytes 1M --inodes 10` on a mounted
// filesystem; dd past it fails with EDQUOT (from write or from close, as
// small writes are committed at close) and the file keeps within the
// quota; creates past the inode limit fail with EDQUOT; rename out of the
// quota is EXDEV; rm frees; get and list show exact usage; fsck is clean.
// Bodies in the store, and in a bucket (slice commits).
func TestQuota(t *testing.T) {
	requireRoot(t)
	t.Run("store", func(t *testing.T) { testQuota(t, NewFS(t, FSOptions{})) })
	t.Run("bucket", func(t *testing.T) {
		srv := minio.Start(t)
		testQuota(t, NewFS(t, FSOptions{Bucket: srv.Endpoint + "/hafs-quota", Env: srv.Env()}))
	})
}

func testQuota(t *testing.T, fs *FS) {
	m := fs.Mount(t)
	q := filepath.Join(m.Dir, "q")
	must(t, os.Mkdir(q, 0o755))
	must(t, os.WriteFile(filepath.Join(q, "old"), bytes.Repeat([]byte("o"), 1000), 0o644))
	if out, err := hafsQuota(t, fs, "set", "--bytes", "1M", "--inodes", "10", "/q"); err != nil {
		t.Fatalf("hafs quota set: %v\n%s", err, out)
	}
	wantUsage := func(bytes, inodes int64) {
		t.Helper()
		// An unlinked file's space goes at its release, just after close.
		eventually(t, 10*time.Second, func() error {
			b, n, err := quotaUsage(t, fs, "/q")
			if err == nil && (b != bytes || n != inodes) {
				err = fmt.Errorf("quota usage %d bytes, %d inodes; want %d, %d", b, n, bytes, inodes)
			}
			return err
		})
	}
	wantUsage(1000, 1) // what was there when the quota was set

	// dd of 2 MiB into a 1 MiB quota.
	big := filepath.Join(q, "big")
	out, err := exec.Command("dd", "if=/dev/zero", "of="+big, "bs=64k", "count=32").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Disk quota exceeded") {
		t.Fatalf("dd of 2 MiB into a 1 MiB quota: %v, want EDQUOT\n%s", err, out)
	}
	st := stat(t, big)
	if st.Blocks*512 > 1<<20 {
		t.Errorf("after EDQUOT: the file has %d bytes allocated, past the 1 MiB quota", st.Blocks*512)
	}
	b, n, err := quotaUsage(t, fs, "/q")
	if err != nil || n != 2 || b > 1<<20 || b < 1000 {
		t.Fatalf("quota after dd: %d bytes, %d inodes, %v", b, n, err)
	}
	// The same through write and fsync or close of one descriptor.
	fd := openFD(t, filepath.Join(q, "w"), unix.O_WRONLY|unix.O_CREAT, 0o644)
	data := make([]byte, 256<<10)
	for off := int64(0); off < 2<<20 && err == nil; off += int64(len(data)) {
		_, err = unix.Pwrite(fd, data, off)
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	wantErrno(t, "write+fsync+close past the quota", err, unix.EDQUOT)
	must(t, os.Remove(filepath.Join(q, "w")))
	must(t, os.Remove(big))
	wantUsage(1000, 1)

	testQuotaInodes(t, fs, m.Dir, wantUsage)
}

// testQuotaInodes goes on from testQuota on /q of mount dir, holding
// 1,000 bytes in one file: the inode limit, list, EXDEV, rm, a changed
// limit, fsck, bad input and unset.
func testQuotaInodes(t *testing.T, fs *FS, dir string, wantUsage func(bytes, inodes int64)) {
	q := filepath.Join(dir, "q")
	// Exactly 100,000 bytes, then inodes up to the limit of 10.
	must(t, os.WriteFile(filepath.Join(q, "data"), make([]byte, 100_000), 0o644))
	must(t, os.Mkdir(filepath.Join(q, "sub"), 0o755))
	for i := range 8 {
		err := os.WriteFile(filepath.Join(q, "sub", fmt.Sprint("f", i)), nil, 0o644)
		if i < 7 {
			must(t, err)
		} else {
			wantErrno(t, "the eleventh inode of 10", err, unix.EDQUOT)
		}
	}
	wantErrno(t, "mkdir past the inode quota", unix.Mkdir(filepath.Join(q, "d2"), 0o755), unix.EDQUOT)
	wantUsage(101_000, 10)
	if out, err := hafsQuota(t, fs, "list"); err != nil ||
		!regexp.MustCompile(`(?m)^/q\s+101000\s+1048576\s+10\s+10$`).MatchString(out) {
		t.Errorf("hafs quota list: %v\n%s", err, out)
	}
	// Across the quota's border: EXDEV (mv copies, cp counts outside).
	wantErrno(t, "rename out of the quota", unix.Rename(filepath.Join(q, "data"), filepath.Join(dir, "data")), unix.EXDEV)
	wantErrno(t, "link out of the quota", unix.Link(filepath.Join(q, "data"), filepath.Join(dir, "data")), unix.EXDEV)
	must(t, os.WriteFile(filepath.Join(dir, "outside"), make([]byte, 2<<20), 0o644))
	must(t, os.Rename(filepath.Join(q, "data"), filepath.Join(q, "sub", "data")))

	// rm frees; the limits change on the mounted filesystem.
	must(t, os.RemoveAll(filepath.Join(q, "sub")))
	wantUsage(1000, 1)
	if out, err := hafsQuota(t, fs, "set", "--bytes", "0", "/q"); err != nil {
		t.Fatalf("hafs quota set --bytes 0: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(q, "now-unbounded"), make([]byte, 2<<20), 0o644))
	wantUsage(1000+2<<20, 2)
	fs.Check(t)
	if out, err := hafsAdmin(t, fs, "fsck"); err != nil || !strings.Contains(out, "clean") {
		t.Errorf("hafs fsck: %v\n%s", err, out)
	}

	// Bad input: one line, non-zero.
	for _, args := range [][]string{{"set", "--bytes", "-5", "/q"}, {"set", "--bytes", "1M", "/missing"},
		{"get", "/"}, {"set", "--bytes", "1M", "/q/now-unbounded"}, {"set", "/q"}} {
		if out, err := hafsQuota(t, fs, args[0], args[1:]...); err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("hafs quota %s: %v, want a one-line error; output:\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := hafsQuota(t, fs, "unset", "/q"); err != nil {
		t.Fatalf("hafs quota unset: %v\n%s", err, out)
	}
	if out, err := hafsQuota(t, fs, "list"); err != nil || strings.Contains(out, "/q") {
		t.Errorf("hafs quota list after unset: %v\n%s", err, out)
	}
	must(t, os.Rename(filepath.Join(q, "now-unbounded"), filepath.Join(dir, "moved")))
}
