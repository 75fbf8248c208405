package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Attributes: mode, owner, times, extended attributes.

func checkChmod(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	writeFile(t, f, "")
	for _, mode := range []uint32{0o640, 0o4755, 0o2755, 0o1777, 0o7777, 0} {
		must(t, unix.Chmod(f, mode))
		wantMode(t, f, unix.S_IFREG, mode)
	}
	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	must(t, unix.Chmod(dir, 0o1700))
	wantMode(t, dir, unix.S_IFDIR, 0o1700)

	// chmod follows a symlink and changes its target only.
	l := filepath.Join(d, "l")
	must(t, unix.Symlink("f", l))
	must(t, unix.Chmod(l, 0o600))
	wantMode(t, f, unix.S_IFREG, 0o600)
	wantMode(t, l, unix.S_IFLNK, 0o777)

	fd := openFile(t, f, unix.O_RDONLY, 0)
	must(t, unix.Fchmod(fd, 0o604))
	wantMode(t, f, unix.S_IFREG, 0o604)

	wantErrnos(t, []errnoCase{
		{"chmod a missing name", func() error { return unix.Chmod(filepath.Join(d, "missing"), 0o644) }, unix.ENOENT},
		{"chmod through a file", func() error { return unix.Chmod(filepath.Join(f, "x"), 0o644) }, unix.ENOTDIR},
	})

	// As an ordinary user: only the owner may chmod, and an owner outside
	// the file's group loses the setgid bit silently.
	mine, theirs := filepath.Join(d, "mine"), filepath.Join(d, "theirs")
	writeFile(t, mine, "")
	writeFile(t, theirs, "")
	must(t, unix.Chown(mine, int(nobody.uid), 0))
	must(t, unix.Chmod(theirs, 0o666))
	nobody.run(t,
		step{do("chmod", mine, 0o640), 0},
		step{do("chmod", theirs, 0o777), unix.EPERM},
		step{do("chmod", mine, 0o2755), 0},
	)
	wantMode(t, mine, unix.S_IFREG, 0o755)
	wantMode(t, theirs, unix.S_IFREG, 0o666)
}

func checkChown(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	writeFile(t, f, "")
	wantOwner := func(path string, follow bool, uid, gid uint32) {
		t.Helper()
		st := lstat(t, path)
		if follow {
			st = stat(t, path)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
		}
	}
	must(t, unix.Chown(f, 65534, 65533))
	wantOwner(f, false, 65534, 65533)
	must(t, unix.Chown(f, -1, 12345))
	wantOwner(f, false, 65534, 12345)
	must(t, unix.Chown(f, 4242, -1))
	wantOwner(f, false, 4242, 12345)
	must(t, unix.Chown(f, -1, -1))
	wantOwner(f, false, 4242, 12345)
	fd := openFile(t, f, unix.O_RDONLY, 0)
	must(t, unix.Fchown(fd, 0, 0))
	wantOwner(f, false, 0, 0)

	// chown follows a symlink; lchown changes the symlink itself.
	l := filepath.Join(d, "l")
	must(t, unix.Symlink("f", l))
	must(t, unix.Chown(l, 1, 2))
	wantOwner(f, false, 1, 2)
	wantOwner(l, false, 0, 0)
	must(t, unix.Lchown(l, 3, 4))
	wantOwner(l, false, 3, 4)
	wantOwner(f, false, 1, 2)

	// Even root's chown of a regular file clears setuid, and setgid when
	// the group may execute; a directory keeps them.
	must(t, unix.Chmod(f, 0o6755))
	must(t, unix.Chown(f, 5, 5))
	wantMode(t, f, unix.S_IFREG, 0o755)
	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	must(t, unix.Chmod(dir, 0o2755))
	must(t, unix.Chown(dir, 5, 5))
	wantMode(t, dir, unix.S_IFDIR, 0o2755)

	wantErrno(t, "chown a missing name", unix.Chown(filepath.Join(d, "missing"), 1, 1), unix.ENOENT)

	// An ordinary user may not give files away, nor take a group it is not
	// in, nor touch another's file; it may set its own group.
	mine, theirs := filepath.Join(d, "mine"), filepath.Join(d, "theirs")
	writeFile(t, mine, "")
	writeFile(t, theirs, "")
	must(t, unix.Chown(mine, int(nobody.uid), 0))
	nobody.run(t,
		step{do("chown", mine, 0, -1), unix.EPERM},
		step{do("chown", mine, someone.uid, -1), unix.EPERM},
		step{do("chown", mine, -1, 12345), unix.EPERM},
		step{do("chown", theirs, -1, nobody.gid), unix.EPERM},
		step{do("chown", theirs, nobody.uid, nobody.gid), unix.EPERM},
		step{do("chown", mine, -1, nobody.gid), 0},
		step{do("chown", mine, nobody.uid, -1), 0},
	)
	wantOwner(mine, false, nobody.uid, nobody.gid)
	wantOwner(theirs, false, 0, 0)
}

func ts(sec, nsec int64) unix.Timespec { return unix.Timespec{Sec: sec, Nsec: nsec} }

var (
	utimeNow  = ts(0, unix.UTIME_NOW)
	utimeOmit = ts(0, unix.UTIME_OMIT)
)

func timeOf(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

func utimes(t testing.TB, path string, atime, mtime unix.Timespec, flags int) {
	t.Helper()
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{atime, mtime}, flags))
}

// wantTimes requires path's (not followed) atime and mtime.
func wantTimes(t testing.TB, path string, atime, mtime unix.Timespec) {
	t.Helper()
	st := lstat(t, path)
	if st.Atim != atime || st.Mtim != mtime {
		t.Errorf("%s: atime %v mtime %v, want %v and %v", path,
			timeOf(st.Atim).UTC(), timeOf(st.Mtim).UTC(), timeOf(atime).UTC(), timeOf(mtime).UTC())
	}
}

// wantRecent requires a timestamp within a second of [from, to]: the kernel
// stamps with a coarse clock, and the daemon may use its own.
func wantRecent(t testing.TB, what string, got unix.Timespec, from, to time.Time) {
	t.Helper()
	if g := timeOf(got); g.Before(from.Add(-time.Second)) || g.After(to.Add(time.Second)) {
		t.Errorf("%s: %v, want between %v and %v", what, g.UTC(), from.UTC(), to.UTC())
	}
}

func checkUtimensat(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	writeFile(t, f, "")
	a, m := ts(1_000_000_000, 123_456_789), ts(1_500_000_000, 987_654_321)
	utimes(t, f, a, m, 0)
	wantTimes(t, f, a, m)

	far := ts(4_000_000_000, 1) // after 2038
	utimes(t, f, far, utimeOmit, 0)
	wantTimes(t, f, far, m)
	utimes(t, f, utimeOmit, far, 0)
	wantTimes(t, f, far, far)
	before := stat(t, f)
	utimes(t, f, utimeOmit, utimeOmit, 0)
	wantTimes(t, f, far, far)
	if after := stat(t, f); after.Ctim != before.Ctim {
		t.Errorf("UTIME_OMIT for both changed ctime")
	}

	start := time.Now()
	utimes(t, f, utimeNow, utimeNow, 0)
	end := time.Now()
	st := lstat(t, f)
	wantRecent(t, "atime after UTIME_NOW", st.Atim, start, end)
	wantRecent(t, "mtime after UTIME_NOW", st.Mtim, start, end)
	wantRecent(t, "ctime after utimensat", st.Ctim, start, end)

	// Through a symlink the target changes; with AT_SYMLINK_NOFOLLOW the
	// symlink itself.
	l := filepath.Join(d, "l")
	must(t, unix.Symlink("f", l))
	utimes(t, l, a, m, 0)
	wantTimes(t, f, a, m)
	la, lm := ts(1_100_000_000, 1), ts(1_200_000_000, 2)
	utimes(t, l, la, lm, unix.AT_SYMLINK_NOFOLLOW)
	wantTimes(t, l, la, lm)
	wantTimes(t, f, a, m)

	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	utimes(t, dir, a, m, 0)
	wantTimes(t, dir, a, m)

	wantErrno(t, "utimensat a missing name",
		unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(d, "missing"), []unix.Timespec{a, m}, 0), unix.ENOENT)
}

// checkTimestamps checks which operations mark which times: it sets up
// every object, waits for the clock to move once, runs every operation, and
// compares.
func checkTimestamps(t *testing.T, d string) {
	path := func(elem ...string) string { return filepath.Join(append([]string{d}, elem...)...) }
	for _, dir := range []string{"create", "mkdir", "unlink", "from", "to"} {
		must(t, unix.Mkdir(path(dir), 0o755))
	}
	writeFile(t, path("unlink", "x"), "")
	must(t, unix.Link(path("unlink", "x"), path("x-link")))
	writeFile(t, path("from", "r"), "")
	for _, f := range []string{"write", "chmod", "truncate", "read"} {
		writeFile(t, path(f), "hello")
	}
	// Old atime and mtime everywhere, so a change is unmistakable.
	old := ts(1_000_000_000, 0)
	marked := []string{"create", "mkdir", "unlink", "from", "to", "write", "chmod", "truncate", "x-link", "read"}
	before := map[string]unix.Stat_t{}
	latest := time.Time{}
	for _, p := range marked {
		utimes(t, path(p), old, old, 0)
		st := lstat(t, path(p))
		before[p] = st
		if c := timeOf(st.Ctim); c.After(latest) {
			latest = c
		}
	}
	waitClockPast(t, latest)

	start := time.Now()
	writeFile(t, path("create", "new"), "")
	must(t, unix.Mkdir(path("mkdir", "new"), 0o755))
	must(t, unix.Unlink(path("unlink", "x")))
	must(t, unix.Rename(path("from", "r"), path("to", "r")))
	fd := openFD(t, path("write"), unix.O_WRONLY, 0)
	pwrite(t, fd, []byte("world"), 5)
	must(t, unix.Close(fd))
	must(t, unix.Chmod(path("chmod"), 0o600))
	must(t, unix.Truncate(path("truncate"), 2))
	if _, err := os.ReadFile(path("read")); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	// A read marks atime (relatime: the old atime is not newer than mtime).
	wantRecent(t, "read atime", lstat(t, path("read")).Atim, start, end)

	for _, c := range []struct {
		path         string
		mtime, ctime bool // must change
	}{
		{"create", true, true},
		{"mkdir", true, true},
		{"unlink", true, true},
		{"from", true, true},
		{"to", true, true},
		{"write", true, true},
		{"truncate", true, true},
		{"chmod", false, true},
		{"x-link", false, true}, // lost a link
		{"read", false, false},
	} {
		st, was := lstat(t, path(c.path)), before[c.path]
		if changed := st.Mtim != was.Mtim; changed != c.mtime {
			t.Errorf("%s: mtime changed %v, want %v (%v -> %v)", c.path, changed, c.mtime, timeOf(was.Mtim).UTC(), timeOf(st.Mtim).UTC())
		} else if changed {
			wantRecent(t, c.path+" mtime", st.Mtim, start, end)
		}
		if changed := st.Ctim != was.Ctim; changed != c.ctime {
			t.Errorf("%s: ctime changed %v, want %v", c.path, changed, c.ctime)
		} else if changed {
			wantRecent(t, c.path+" ctime", st.Ctim, start, end)
		}
	}
	for _, p := range []string{path("create", "new"), path("mkdir", "new")} {
		st := lstat(t, p)
		wantRecent(t, p+" atime", st.Atim, start, end)
		wantRecent(t, p+" mtime", st.Mtim, start, end)
		wantRecent(t, p+" ctime", st.Ctim, start, end)
	}
}

// waitClockPast waits until the wall clock reads at least 20 ms after ts,
// more than the kernel's coarse timestamp granularity, so that a timestamp
// taken afterwards differs from ts. It polls the clock, which is the
// condition itself.
func waitClockPast(t testing.TB, ts time.Time) {
	t.Helper()
	target := ts.Add(20 * time.Millisecond)
	eventually(t, 5*time.Second, func() error {
		if now := time.Now(); now.Before(target) {
			return fmt.Errorf("clock at %v, waiting for %v", now, target)
		}
		return nil
	})
}

func checkXattr(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	writeFile(t, f, "")
	get := func(path, name string) []byte {
		t.Helper()
		buf := make([]byte, 1<<17)
		n, err := unix.Getxattr(path, name, buf)
		must(t, err)
		return buf[:n]
	}
	wantValue := func(name string, want []byte) {
		t.Helper()
		if got := get(f, name); !bytes.Equal(got, want) {
			t.Errorf("getxattr %s: %s, want %s", name, abbrev(got), abbrev(want))
		}
	}
	must(t, unix.Setxattr(f, "user.a", []byte("1"), 0))
	wantValue("user.a", []byte("1"))
	must(t, unix.Setxattr(f, "user.a", []byte("two"), unix.XATTR_REPLACE))
	wantValue("user.a", []byte("two"))
	must(t, unix.Setxattr(f, "user.b", []byte("b"), unix.XATTR_CREATE))
	must(t, unix.Setxattr(f, "user.empty", nil, 0))
	wantValue("user.empty", []byte{})
	if n, err := unix.Getxattr(f, "user.a", nil); err != nil || n != 3 {
		t.Errorf("getxattr size query: %d, %v, want 3", n, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 65536/16) // XATTR_SIZE_MAX
	must(t, unix.Setxattr(f, "user.big", big, 0))
	wantValue("user.big", big)

	wantNames := func(path string, want ...string) {
		t.Helper()
		n, err := unix.Listxattr(path, nil)
		must(t, err)
		buf := make([]byte, n)
		n, err = unix.Listxattr(path, buf)
		must(t, err)
		var got []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if strings.HasPrefix(name, "user.") { // a filesystem may add security.*
				got = append(got, name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("listxattr %s: %q, want %q", path, got, want)
		}
	}
	wantNames(f, "user.a", "user.b", "user.big", "user.empty")

	must(t, unix.Removexattr(f, "user.b"))
	wantNames(f, "user.a", "user.big", "user.empty")

	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	must(t, unix.Setxattr(dir, "user.d", []byte("on a dir"), 0))
	if got := get(dir, "user.d"); string(got) != "on a dir" {
		t.Errorf("getxattr on a dir: %q", got)
	}
	wantNames(dir, "user.d")

	l := filepath.Join(d, "l")
	must(t, unix.Symlink("f", l))
	small := make([]byte, 2)
	wantErrnos(t, []errnoCase{
		{"XATTR_CREATE an existing name", func() error { return unix.Setxattr(f, "user.a", []byte("x"), unix.XATTR_CREATE) }, unix.EEXIST},
		{"XATTR_REPLACE a missing name", func() error { return unix.Setxattr(f, "user.b", []byte("x"), unix.XATTR_REPLACE) }, unix.ENODATA},
		{"getxattr a missing name", func() error { _, err := unix.Getxattr(f, "user.b", small); return err }, unix.ENODATA},
		{"removexattr a missing name", func() error { return unix.Removexattr(f, "user.b") }, unix.ENODATA},
		{"getxattr into a small buffer", func() error { _, err := unix.Getxattr(f, "user.a", small); return err }, unix.ERANGE},
		{"listxattr into a small buffer", func() error { _, err := unix.Listxattr(f, small); return err }, unix.ERANGE},
		{"setxattr a value over 64 KiB", func() error { return unix.Setxattr(f, "user.huge", append(big, 'x'), 0) }, unix.E2BIG},
		{"setxattr a 256-byte name", func() error { return unix.Setxattr(f, "user."+longName(251), []byte("x"), 0) }, unix.ERANGE},
		{"user.* xattr on a symlink", func() error { return unix.Lsetxattr(l, "user.a", []byte("x"), 0) }, unix.EPERM},
		{"getxattr on a missing file", func() error { _, err := unix.Getxattr(filepath.Join(d, "missing"), "user.a", small); return err }, unix.ENOENT},
	})
	wantValue("user.a", []byte("two"))
}
