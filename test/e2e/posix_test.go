package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// posixChecks is the POSIX suite, by area, in the spirit of pjdfstest: each
// syscall with the exact errno Linux gives. Names live in this file;
// attributes, data, and permissions as an ordinary user in the others.
var posixChecks = []check{
	{"chmod", checkChmod},
	{"chown", checkChown},
	{"link", checkLink},
	{"mkdir", checkMkdir},
	{"mknod", checkMknod},
	{"open", checkOpen},
	{"rename", checkRename},
	{"rmdir", checkRmdir},
	{"symlink", checkSymlink},
	{"truncate", checkTruncate},
	{"unlink", checkUnlink},
	{"utimensat", checkUtimensat},
	{"timestamps", checkTimestamps},
	{"xattr", checkXattr},
	{"fallocate", checkFallocate},
	{"seek-data-hole", checkSeekDataHole},
	{"unlinked-open", checkUnlinkedOpen},
	{"readdir", checkReaddir},
	{"readdir-while-changing", checkReaddirWhileChanging},
	{"permissions", checkPermissions},
	{"sticky", checkSticky},
	{"setgid-dir", checkSetgidDir},
	{"kill-suid", checkKillSuid},
}

// TestPOSIXLocalReference runs the POSIX suite on a local Linux filesystem:
// it proves the expectations are what Linux does.
func TestPOSIXLocalReference(t *testing.T) { runChecks(t, tmpfsDir(t), posixChecks) }

// TestPOSIXOnHAFS runs the POSIX suite on a HAFS mount. --allow-other lets
// the checks that act as an ordinary user into the mount.
func TestPOSIXOnHAFS(t *testing.T) { runChecks(t, hafsDir(t, "--allow-other"), posixChecks) }

func checkLink(t *testing.T, d string) {
	f, g := filepath.Join(d, "f"), filepath.Join(d, "g")
	writeFile(t, f, "data")
	must(t, unix.Link(f, g))
	if sf, sg := lstat(t, f), lstat(t, g); sf.Ino != sg.Ino || sf.Nlink != 2 || sg.Nlink != 2 {
		t.Errorf("after link: ino %d/%d nlink %d/%d, want one inode with nlink 2", sf.Ino, sg.Ino, sf.Nlink, sg.Nlink)
	}
	writeFile(t, g, "through g")
	wantContent(t, f, []byte("through g"))

	sub := filepath.Join(d, "dir")
	must(t, unix.Mkdir(sub, 0o755))
	missing := filepath.Join(d, "missing")
	wantErrnos(t, []errnoCase{
		{"link onto an existing file", func() error { return unix.Link(f, g) }, unix.EEXIST},
		{"link onto an existing dir", func() error { return unix.Link(f, sub) }, unix.EEXIST},
		{"link from a missing name", func() error { return unix.Link(missing, filepath.Join(d, "x")) }, unix.ENOENT},
		{"link into a missing dir", func() error { return unix.Link(f, filepath.Join(missing, "x")) }, unix.ENOENT},
		{"link through a file", func() error { return unix.Link(f, filepath.Join(g, "x")) }, unix.ENOTDIR},
		{"link a directory", func() error { return unix.Link(sub, filepath.Join(d, "dirlink")) }, unix.EPERM},
		{"link to a 256-byte name", func() error { return unix.Link(f, filepath.Join(d, longName(256))) }, unix.ENAMETOOLONG},
	})

	must(t, unix.Unlink(f))
	wantNlink(t, g, 1)
	wantContent(t, g, []byte("through g"))

	// link(2) does not follow a symlink: the new name is the symlink itself.
	sl, sl2 := filepath.Join(d, "sl"), filepath.Join(d, "sl2")
	must(t, unix.Symlink("g", sl))
	must(t, unix.Link(sl, sl2))
	if s1, s2 := lstat(t, sl), lstat(t, sl2); fileType(s2) != unix.S_IFLNK || s1.Ino != s2.Ino || s2.Nlink != 2 {
		t.Errorf("link of a symlink: type %#o ino %d/%d nlink %d, want the symlink's inode with nlink 2", fileType(s2), s1.Ino, s2.Ino, s2.Nlink)
	}
}

func checkMkdir(t *testing.T, d string) {
	a := filepath.Join(d, "a")
	must(t, unix.Mkdir(a, 0o755))
	st := lstat(t, a)
	if fileType(st) != unix.S_IFDIR || perm(st) != 0o755 || st.Nlink != 2 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("new dir: type %#o mode %#o nlink %d owner %d:%d, want dir 0755 nlink 2 owner 0:0", fileType(st), perm(st), st.Nlink, st.Uid, st.Gid)
	}
	wantNlink(t, d, 3)
	must(t, unix.Mkdir(filepath.Join(d, "private"), 0o700))
	wantMode(t, filepath.Join(d, "private"), unix.S_IFDIR, 0o700)
	must(t, unix.Mkdir(filepath.Join(d, "masked"), 0o777)) // umask 022
	wantMode(t, filepath.Join(d, "masked"), unix.S_IFDIR, 0o755)
	wantNlink(t, d, 5)
	must(t, unix.Mkdir(filepath.Join(d, longName(255)), 0o755))

	f := filepath.Join(d, "file")
	writeFile(t, f, "")
	must(t, unix.Symlink("nowhere", filepath.Join(d, "dangling")))
	wantErrnos(t, []errnoCase{
		{"mkdir an existing dir", func() error { return unix.Mkdir(a, 0o755) }, unix.EEXIST},
		{"mkdir an existing file", func() error { return unix.Mkdir(f, 0o755) }, unix.EEXIST},
		{"mkdir a dangling symlink", func() error { return unix.Mkdir(filepath.Join(d, "dangling"), 0o755) }, unix.EEXIST},
		{"mkdir in a missing dir", func() error { return unix.Mkdir(filepath.Join(d, "missing", "x"), 0o755) }, unix.ENOENT},
		{"mkdir under a file", func() error { return unix.Mkdir(filepath.Join(f, "x"), 0o755) }, unix.ENOTDIR},
		{"mkdir a 256-byte name", func() error { return unix.Mkdir(filepath.Join(d, longName(256)), 0o755) }, unix.ENAMETOOLONG},
	})
}

func checkMknod(t *testing.T, d string) {
	for _, c := range []struct {
		name string
		mode uint32
		rdev uint64
	}{
		{"fifo", unix.S_IFIFO | 0o644, 0},
		{"socket", unix.S_IFSOCK | 0o600, 0},
		{"chardev", unix.S_IFCHR | 0o644, unix.Mkdev(1, 3)},
		{"blockdev", unix.S_IFBLK | 0o640, unix.Mkdev(7, 129)},
		{"bigdev", unix.S_IFCHR | 0o600, unix.Mkdev(4000, 1000000)},
		{"regular", unix.S_IFREG | 0o600, 0},
	} {
		p := filepath.Join(d, c.name)
		must(t, unix.Mknod(p, c.mode, int(c.rdev)))
		st := lstat(t, p)
		if st.Mode != c.mode || st.Size != 0 || st.Nlink != 1 {
			t.Errorf("%s: mode %#o size %d nlink %d, want mode %#o size 0 nlink 1", c.name, st.Mode, st.Size, st.Nlink, c.mode)
		}
		if c.rdev != 0 && st.Rdev != c.rdev {
			t.Errorf("%s: rdev %d:%d, want %d:%d", c.name, unix.Major(st.Rdev), unix.Minor(st.Rdev), unix.Major(c.rdev), unix.Minor(c.rdev))
		}
	}
	must(t, unix.Mkfifo(filepath.Join(d, "fifo2"), 0o600))
	wantMode(t, filepath.Join(d, "fifo2"), unix.S_IFIFO, 0o600)
	wantErrnos(t, []errnoCase{
		{"mknod an existing name", func() error { return unix.Mknod(filepath.Join(d, "fifo"), unix.S_IFIFO|0o644, 0) }, unix.EEXIST},
		{"mkfifo an existing name", func() error { return unix.Mkfifo(filepath.Join(d, "regular"), 0o644) }, unix.EEXIST},
		{"mknod in a missing dir", func() error { return unix.Mknod(filepath.Join(d, "missing", "x"), unix.S_IFIFO|0o644, 0) }, unix.ENOENT},
		{"mknod under a fifo", func() error { return unix.Mknod(filepath.Join(d, "fifo", "x"), unix.S_IFIFO|0o644, 0) }, unix.ENOTDIR},
	})
}

func checkOpen(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	fd, err := unix.Open(f, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
	must(t, err)
	pwrite(t, fd, []byte("hello"), 0)
	must(t, unix.Close(fd))
	wantMode(t, f, unix.S_IFREG, 0o640)
	if st := lstat(t, f); st.Size != 5 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("new file: size %d owner %d:%d, want 5 and 0:0", st.Size, st.Uid, st.Gid)
	}

	// O_CREAT without O_EXCL opens the existing file as it is.
	must(t, openClose(f, unix.O_CREAT|unix.O_WRONLY, 0o600))
	wantMode(t, f, unix.S_IFREG, 0o640)
	wantContent(t, f, []byte("hello"))

	fd = openFile(t, f, unix.O_WRONLY|unix.O_TRUNC, 0)
	if st := fstat(t, fd); st.Size != 0 {
		t.Errorf("O_TRUNC: size %d, want 0", st.Size)
	}
	wantContent(t, f, nil)

	writeFile(t, f, "abc")
	fd = openFile(t, f, unix.O_WRONLY|unix.O_APPEND, 0)
	_, err = unix.Seek(fd, 0, 0)
	must(t, err)
	_, err = unix.Write(fd, []byte("def"))
	must(t, err)
	wantContent(t, f, []byte("abcdef"))

	fd = openFile(t, f, unix.O_RDWR, 0)
	pwrite(t, fd, []byte("XY"), 1)
	if got := string(pread(t, fd, 10, 0)); got != "aXYdef" {
		t.Errorf("read after write on one fd: %q, want %q", got, "aXYdef")
	}
	_, err = unix.Read(openFile(t, f, unix.O_WRONLY, 0), make([]byte, 1))
	wantErrno(t, "read from an O_WRONLY fd", err, unix.EBADF)
	_, err = unix.Write(openFile(t, f, unix.O_RDONLY, 0), []byte("x"))
	wantErrno(t, "write to an O_RDONLY fd", err, unix.EBADF)

	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	must(t, unix.Symlink("nowhere", filepath.Join(d, "dangling")))
	must(t, unix.Symlink("f", filepath.Join(d, "tofile")))
	must(t, unix.Symlink("loop2", filepath.Join(d, "loop1")))
	must(t, unix.Symlink("loop1", filepath.Join(d, "loop2")))
	must(t, openClose(filepath.Join(d, longName(255)), unix.O_CREAT|unix.O_WRONLY, 0o644))
	must(t, openClose(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0))
	creat := unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY
	wantErrnos(t, []errnoCase{
		{"O_CREAT|O_EXCL on an existing file", func() error { return openClose(f, creat, 0o644) }, unix.EEXIST},
		{"O_CREAT|O_EXCL on a dangling symlink", func() error { return openClose(filepath.Join(d, "dangling"), creat, 0o644) }, unix.EEXIST},
		{"O_CREAT|O_EXCL on a dir", func() error { return openClose(dir, creat, 0o644) }, unix.EEXIST},
		{"O_DIRECTORY on a file", func() error { return openClose(f, unix.O_RDONLY|unix.O_DIRECTORY, 0) }, unix.ENOTDIR},
		{"O_WRONLY on a dir", func() error { return openClose(dir, unix.O_WRONLY, 0) }, unix.EISDIR},
		{"O_RDWR on a dir", func() error { return openClose(dir, unix.O_RDWR, 0) }, unix.EISDIR},
		{"O_CREAT on an existing dir", func() error { return openClose(dir, unix.O_CREAT|unix.O_RDONLY, 0o644) }, unix.EISDIR},
		{"open a missing file", func() error { return openClose(filepath.Join(d, "missing"), unix.O_RDONLY, 0) }, unix.ENOENT},
		{"O_CREAT in a missing dir", func() error { return openClose(filepath.Join(d, "missing", "x"), creat, 0o644) }, unix.ENOENT},
		{"open through a file", func() error { return openClose(filepath.Join(f, "x"), unix.O_RDONLY, 0) }, unix.ENOTDIR},
		{"O_NOFOLLOW on a symlink", func() error { return openClose(filepath.Join(d, "tofile"), unix.O_RDONLY|unix.O_NOFOLLOW, 0) }, unix.ELOOP},
		{"open a symlink loop", func() error { return openClose(filepath.Join(d, "loop1"), unix.O_RDONLY, 0) }, unix.ELOOP},
		{"O_CREAT a 256-byte name", func() error { return openClose(filepath.Join(d, longName(256)), creat, 0o644) }, unix.ENAMETOOLONG},
	})
}

func checkRename(t *testing.T, d string) {
	path := func(elem ...string) string { return filepath.Join(append([]string{d}, elem...)...) }
	mkdirs := func(names ...string) {
		for _, n := range names {
			must(t, unix.Mkdir(path(n), 0o755))
		}
	}

	// A file over a file: the target's inode loses a link.
	writeFile(t, path("a"), "A")
	writeFile(t, path("b"), "B")
	must(t, unix.Link(path("b"), path("keep")))
	ino := lstat(t, path("a")).Ino
	must(t, unix.Rename(path("a"), path("b")))
	wantMissing(t, path("a"))
	wantContent(t, path("b"), []byte("A"))
	if st := lstat(t, path("b")); st.Ino != ino {
		t.Errorf("renamed file: ino %d, want %d", st.Ino, ino)
	}
	wantNlink(t, path("keep"), 1)
	wantContent(t, path("keep"), []byte("B"))

	// A dir over an empty dir.
	mkdirs("src", "empty")
	writeFile(t, path("src", "child"), "c")
	must(t, unix.Rename(path("src"), path("empty")))
	wantMissing(t, path("src"))
	wantContent(t, path("empty", "child"), []byte("c"))

	// Moving dirs between parents moves their ".." link.
	mkdirs("p1", "p2", "p1/x", "p1/y", "p2/z")
	must(t, unix.Rename(path("p1", "x"), path("p2", "x")))
	wantNlink(t, path("p1"), 3)
	wantNlink(t, path("p2"), 4)
	if dotdot, p2 := lstat(t, path("p2", "x", "..")), lstat(t, path("p2")); dotdot.Ino != p2.Ino {
		t.Errorf("moved dir's ..: ino %d, want the new parent's %d", dotdot.Ino, p2.Ino)
	}
	must(t, unix.Rename(path("p1", "y"), path("p2", "z"))) // over an empty dir
	wantNlink(t, path("p1"), 2)
	wantNlink(t, path("p2"), 4)

	// Renaming a name to itself, or to another link of the same inode,
	// does nothing.
	writeFile(t, path("self"), "s")
	must(t, unix.Rename(path("self"), path("self")))
	wantContent(t, path("self"), []byte("s"))
	must(t, unix.Link(path("self"), path("self2")))
	must(t, unix.Rename(path("self"), path("self2")))
	wantNlink(t, path("self"), 2)
	wantNlink(t, path("self2"), 2)

	// RENAME_NOREPLACE to a free name works; RENAME_EXCHANGE swaps.
	must(t, unix.Renameat2(unix.AT_FDCWD, path("self2"), unix.AT_FDCWD, path("fresh"), unix.RENAME_NOREPLACE))
	wantMissing(t, path("self2"))
	writeFile(t, path("x1"), "one")
	writeFile(t, path("x2"), "two")
	ino1, ino2 := lstat(t, path("x1")).Ino, lstat(t, path("x2")).Ino
	must(t, unix.Renameat2(unix.AT_FDCWD, path("x1"), unix.AT_FDCWD, path("x2"), unix.RENAME_EXCHANGE))
	wantContent(t, path("x1"), []byte("two"))
	wantContent(t, path("x2"), []byte("one"))
	if lstat(t, path("x1")).Ino != ino2 || lstat(t, path("x2")).Ino != ino1 {
		t.Error("RENAME_EXCHANGE did not swap the inodes")
	}
	// Exchanging a file and a dir in different parents moves the ".." link.
	mkdirs("q1", "q2", "q2/sub")
	writeFile(t, path("q1", "file"), "f")
	must(t, unix.Renameat2(unix.AT_FDCWD, path("q1", "file"), unix.AT_FDCWD, path("q2", "sub"), unix.RENAME_EXCHANGE))
	wantMode(t, path("q1", "file"), unix.S_IFDIR, 0o755)
	wantContent(t, path("q2", "sub"), []byte("f"))
	wantNlink(t, path("q1"), 3)
	wantNlink(t, path("q2"), 2)
	if dotdot, q1 := lstat(t, path("q1", "file", "..")), lstat(t, path("q1")); dotdot.Ino != q1.Ino {
		t.Errorf("exchanged dir's ..: ino %d, want %d", dotdot.Ino, q1.Ino)
	}

	mkdirs("full", "full/child", "t", "t/u", "t/u/v", "e2")
	writeFile(t, path("file"), "")
	wantErrnos(t, []errnoCase{
		{"dir over a non-empty dir", func() error { return unix.Rename(path("p2"), path("full")) }, unix.ENOTEMPTY},
		{"file over a dir", func() error { return unix.Rename(path("file"), path("e2")) }, unix.EISDIR},
		{"dir over a file", func() error { return unix.Rename(path("e2"), path("file")) }, unix.ENOTDIR},
		{"dir into its own subtree", func() error { return unix.Rename(path("t"), path("t", "u", "v", "w")) }, unix.EINVAL},
		{"dir into itself", func() error { return unix.Rename(path("t"), path("t", "w")) }, unix.EINVAL},
		{"rename a missing name", func() error { return unix.Rename(path("missing"), path("m2")) }, unix.ENOENT},
		{"rename into a missing dir", func() error { return unix.Rename(path("file"), path("missing", "x")) }, unix.ENOENT},
		{"rename through a file", func() error { return unix.Rename(path("file"), path("file", "x")) }, unix.ENOTDIR},
		{"rename to a 256-byte name", func() error { return unix.Rename(path("file"), path(longName(256))) }, unix.ENAMETOOLONG},
		{"RENAME_NOREPLACE onto an existing name", func() error {
			return unix.Renameat2(unix.AT_FDCWD, path("file"), unix.AT_FDCWD, path("fresh"), unix.RENAME_NOREPLACE)
		}, unix.EEXIST},
		{"RENAME_EXCHANGE with a missing name", func() error {
			return unix.Renameat2(unix.AT_FDCWD, path("file"), unix.AT_FDCWD, path("missing"), unix.RENAME_EXCHANGE)
		}, unix.ENOENT},
	})
	// Nothing moved by the failures.
	wantMode(t, path("t", "u", "v"), unix.S_IFDIR, 0o755)
	wantMode(t, path("file"), unix.S_IFREG, 0o644)
}

func checkRmdir(t *testing.T, d string) {
	e := filepath.Join(d, "e")
	must(t, unix.Mkdir(e, 0o755))
	wantNlink(t, d, 3)
	must(t, unix.Rmdir(e))
	wantNlink(t, d, 2)
	wantMissing(t, e)

	full, f, e2 := filepath.Join(d, "full"), filepath.Join(d, "file"), filepath.Join(d, "e2")
	must(t, unix.Mkdir(full, 0o755))
	writeFile(t, filepath.Join(full, "child"), "")
	writeFile(t, f, "")
	must(t, unix.Mkdir(e2, 0o755))
	must(t, unix.Symlink("e2", filepath.Join(d, "todir")))
	wantErrnos(t, []errnoCase{
		{"rmdir a non-empty dir", func() error { return unix.Rmdir(full) }, unix.ENOTEMPTY},
		{"rmdir a file", func() error { return unix.Rmdir(f) }, unix.ENOTDIR},
		{"rmdir a symlink to a dir", func() error { return unix.Rmdir(filepath.Join(d, "todir")) }, unix.ENOTDIR},
		{"rmdir a missing name", func() error { return unix.Rmdir(filepath.Join(d, "missing")) }, unix.ENOENT},
		{"rmdir through a file", func() error { return unix.Rmdir(filepath.Join(f, "x")) }, unix.ENOTDIR},
		{"rmdir dir/.", func() error { return unix.Rmdir(e2 + "/.") }, unix.EINVAL},
	})
	wantNlink(t, d, 4)
}

func checkSymlink(t *testing.T, d string) {
	targets := []string{
		"plain",
		"../up/and/over",
		"/absolute/path",
		"with space and \n newline",
		strings.Repeat("x/", 2047) + "y", // 4095 bytes: the longest Linux takes
	}
	for i, target := range targets {
		p := filepath.Join(d, "l"+string(rune('0'+i)))
		must(t, unix.Symlink(target, p))
		buf := make([]byte, 8192)
		n, err := unix.Readlink(p, buf)
		must(t, err)
		if string(buf[:n]) != target {
			t.Errorf("readlink: %q, want %q", abbrev(buf[:n]), abbrev([]byte(target)))
		}
		st := lstat(t, p)
		if fileType(st) != unix.S_IFLNK || perm(st) != 0o777 || st.Size != int64(len(target)) {
			t.Errorf("lstat symlink: type %#o mode %#o size %d, want symlink 0777 size %d", fileType(st), perm(st), st.Size, len(target))
		}
	}
	// A buffer too small truncates the target silently.
	buf := make([]byte, 3)
	n, err := unix.Readlink(filepath.Join(d, "l0"), buf)
	must(t, err)
	if string(buf[:n]) != "pla" {
		t.Errorf("readlink into 3 bytes: %q, want %q", buf[:n], "pla")
	}

	f := filepath.Join(d, "file")
	writeFile(t, f, "content")
	must(t, unix.Symlink("file", filepath.Join(d, "tofile")))
	if st, fst := stat(t, filepath.Join(d, "tofile")), lstat(t, f); st.Ino != fst.Ino {
		t.Errorf("stat through a symlink: ino %d, want the target's %d", st.Ino, fst.Ino)
	}
	wantContent(t, filepath.Join(d, "tofile"), []byte("content"))

	var st unix.Stat_t
	wantErrnos(t, []errnoCase{
		{"symlink onto an existing name", func() error { return unix.Symlink("x", f) }, unix.EEXIST},
		{"symlink in a missing dir", func() error { return unix.Symlink("x", filepath.Join(d, "missing", "l")) }, unix.ENOENT},
		{"symlink with a 256-byte name", func() error { return unix.Symlink("x", filepath.Join(d, longName(256))) }, unix.ENAMETOOLONG},
		{"symlink to a 4096-byte target", func() error { return unix.Symlink(longName(4096), filepath.Join(d, "toolong")) }, unix.ENAMETOOLONG},
		{"readlink a file", func() error { _, err := unix.Readlink(f, buf); return err }, unix.EINVAL},
		{"readlink a dir", func() error { _, err := unix.Readlink(d, buf); return err }, unix.EINVAL},
		{"readlink a missing name", func() error { _, err := unix.Readlink(filepath.Join(d, "missing"), buf); return err }, unix.ENOENT},
		{"stat a dangling symlink", func() error { return unix.Stat(filepath.Join(d, "l0"), &st) }, unix.ENOENT},
	})
}

func checkUnlink(t *testing.T, d string) {
	f, g := filepath.Join(d, "f"), filepath.Join(d, "g")
	writeFile(t, f, "data")
	must(t, unix.Link(f, g))
	must(t, unix.Unlink(f))
	wantMissing(t, f)
	wantNlink(t, g, 1)

	s := filepath.Join(d, "s")
	must(t, unix.Symlink("g", s))
	must(t, unix.Unlink(s))
	wantMissing(t, s)
	wantContent(t, g, []byte("data"))

	for _, special := range []uint32{unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR} {
		p := filepath.Join(d, "special")
		must(t, unix.Mknod(p, special|0o600, int(unix.Mkdev(1, 3))))
		must(t, unix.Unlink(p))
		wantMissing(t, p)
	}

	dir := filepath.Join(d, "dir")
	must(t, unix.Mkdir(dir, 0o755))
	wantErrnos(t, []errnoCase{
		{"unlink a dir", func() error { return unix.Unlink(dir) }, unix.EISDIR},
		{"unlink a missing name", func() error { return unix.Unlink(f) }, unix.ENOENT},
		{"unlink in a missing dir", func() error { return unix.Unlink(filepath.Join(d, "missing", "x")) }, unix.ENOENT},
		{"unlink through a file", func() error { return unix.Unlink(filepath.Join(g, "x")) }, unix.ENOTDIR},
		{"unlink a 256-byte name", func() error { return unix.Unlink(filepath.Join(d, longName(256))) }, unix.ENAMETOOLONG},
	})
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("failed unlink removed the dir: %v", err)
	}
}
