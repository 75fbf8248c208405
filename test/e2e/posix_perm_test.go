package e2e

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Permissions as an ordinary user: root bypasses most checks, so the
// operations run as nobody (uid/gid 65534) in a child process.

// node is an empty file or a dir that makeNodes creates as root, with an
// exact mode whatever the umask, then chowns.
type node struct {
	path     string
	dir      bool
	mode     uint32
	uid, gid int
}

func makeNodes(t *testing.T, nodes ...node) {
	t.Helper()
	for _, n := range nodes {
		if n.dir {
			must(t, unix.Mkdir(n.path, 0o700))
		} else {
			writeFile(t, n.path, "")
		}
		must(t, unix.Chown(n.path, n.uid, n.gid))
		must(t, unix.Chmod(n.path, n.mode))
	}
}

func checkPermissions(t *testing.T, d string) {
	p := func(elem ...string) string { return filepath.Join(append([]string{d}, elem...)...) }
	makeNodes(t,
		node{path: p("f000"), mode: 0},
		node{path: p("own000"), mode: 0, uid: 65534, gid: 65534},
		node{path: p("own077"), mode: 0o077, uid: 65534}, // owner bits rule for the owner
		node{path: p("grp"), mode: 0o060, gid: 65534},    // group bits for a member
		node{path: p("ro"), mode: 0o644},
		node{path: p("rw"), mode: 0o666},
		node{path: p("nox"), dir: true, mode: 0o776}, // others may read, not search
		node{path: p("nox", "f"), mode: 0o644},
		node{path: p("nor"), dir: true, mode: 0o711}, // others may search, not read
		node{path: p("nor", "f"), mode: 0o644},
		node{path: p("now"), dir: true, mode: 0o755}, // others may not write
		node{path: p("now", "f"), mode: 0o666},
		node{path: p("open"), dir: true, mode: 0o777}, // anyone may write, no sticky bit
		node{path: p("open", "root"), mode: 0o644},
	)
	nobody.run(t,
		step{do("open", p("f000"), unix.O_RDONLY), unix.EACCES},
		step{do("open", p("own000"), unix.O_RDONLY), unix.EACCES},
		step{do("open", p("own000"), unix.O_WRONLY), unix.EACCES},
		step{do("open", p("own077"), unix.O_RDONLY), unix.EACCES},
		step{do("open", p("grp"), unix.O_RDWR), 0},
		step{do("open", p("ro"), unix.O_RDONLY), 0},
		step{do("open", p("ro"), unix.O_WRONLY), unix.EACCES},
		step{do("open", p("ro"), unix.O_RDWR|unix.O_TRUNC), unix.EACCES},
		step{do("truncate", p("ro"), 0), unix.EACCES},
		step{do("write", p("rw"), "x"), 0},
		step{do("access", p("ro"), unix.R_OK), 0},
		step{do("access", p("ro"), unix.W_OK), unix.EACCES},
		step{do("access", p("ro"), unix.X_OK), unix.EACCES},
		step{do("access", p("own077"), unix.R_OK), unix.EACCES},
		step{do("stat", p("nox", "f")), unix.EACCES},
		step{do("open", p("nox", "f"), unix.O_RDONLY), unix.EACCES},
		step{do("readdir", p("nox")), 0},
		step{do("readdir", p("nor")), unix.EACCES},
		step{do("stat", p("nor", "f")), 0},
		step{do("create", p("now", "new"), 0o644), unix.EACCES},
		step{do("mkdir", p("now", "newdir")), unix.EACCES},
		step{do("unlink", p("now", "f")), unix.EACCES},
		step{do("rename", p("now", "f"), p("open", "moved")), unix.EACCES},
		step{do("link", p("now", "f"), p("now", "f2")), unix.EACCES},
		step{do("create", p("open", "mine"), 0o644), 0},
		step{do("unlink", p("open", "root")), 0}, // another's file, but no sticky bit
		step{do("utimes", p("rw"), 1_000_000_000), unix.EPERM},
		step{do("utimes-now", p("rw")), 0},
		step{do("utimes-now", p("ro")), unix.EACCES},
		step{do("setxattr", p("rw"), "user.x", "v"), 0},
		step{do("setxattr", p("ro"), "user.x", "v"), unix.EACCES},
	)
	wantMissing(t, p("open", "root"))
	if st := lstat(t, p("open", "mine")); st.Uid != nobody.uid || st.Gid != nobody.gid {
		t.Errorf("file created by nobody: owner %d:%d", st.Uid, st.Gid)
	}

	// Root passes mode bits, except that executing needs some x bit.
	wantErrnos(t, []errnoCase{
		{"root opens a mode 000 file", func() error { return openClose(p("f000"), unix.O_RDWR, 0) }, 0},
		{"root looks up in a dir nobody may search", func() error { var st unix.Stat_t; return unix.Stat(p("nox", "f"), &st) }, 0},
		{"root access X_OK without x bits", func() error { return unix.Access(p("ro"), unix.X_OK) }, unix.EACCES},
	})
}

// checkSticky: in a sticky directory only a file's owner (or the dir's)
// may unlink or rename it, or have it replaced.
func checkSticky(t *testing.T, d string) {
	s := filepath.Join(d, "sticky")
	p := func(name string) string { return filepath.Join(s, name) }
	makeNodes(t,
		node{path: s, dir: true, mode: 0o1777},
		node{path: p("root"), mode: 0o666},
		node{path: p("other"), mode: 0o666, uid: int(someone.uid), gid: int(someone.gid)},
	)
	nobody.run(t,
		step{do("unlink", p("root")), unix.EPERM},
		step{do("unlink", p("other")), unix.EPERM},
		step{do("rename", p("root"), p("moved")), unix.EPERM},
		step{do("create", p("mine"), 0o644), 0},
		step{do("rename", p("mine"), p("other")), unix.EPERM},
		step{do("rename", p("mine"), p("mine2")), 0},
		step{do("write", p("other"), "writing is still allowed"), 0},
		step{do("unlink", p("mine2")), 0},
	)
	wantMode(t, p("root"), unix.S_IFREG, 0o666)
	wantMode(t, p("other"), unix.S_IFREG, 0o666)
	wantMissing(t, p("mine2"))
	// The sticky dir's owner may remove anything in it.
	must(t, unix.Unlink(p("other")))
}

// checkSetgidDir: a setgid directory gives new entries its group, and new
// subdirectories its setgid bit.
func checkSetgidDir(t *testing.T, d string) {
	sg := filepath.Join(d, "sg")
	p := func(name string) string { return filepath.Join(sg, name) }
	makeNodes(t, node{path: sg, dir: true, mode: 0o2777, gid: 4242})
	writeFile(t, p("file"), "")
	must(t, unix.Mkdir(p("sub"), 0o755))
	must(t, unix.Symlink("file", p("link")))
	must(t, unix.Mkfifo(p("fifo"), 0o644))
	for _, name := range []string{"file", "sub", "link", "fifo"} {
		if st := lstat(t, p(name)); st.Uid != 0 || st.Gid != 4242 {
			t.Errorf("%s in a setgid dir: owner %d:%d, want 0:4242", name, st.Uid, st.Gid)
		}
	}
	wantMode(t, p("file"), unix.S_IFREG, 0o644)
	wantMode(t, p("sub"), unix.S_IFDIR, 0o2755)

	// A creator outside the group cannot make a setgid file in it.
	nobody.run(t,
		step{do("create", p("byNobody"), 0o2755), 0},
		step{do("mkdir", p("dirByNobody")), 0},
	)
	for _, c := range []struct {
		name string
		typ  uint32
		mode uint32
	}{{"byNobody", unix.S_IFREG, 0o755}, {"dirByNobody", unix.S_IFDIR, 0o2755}} {
		st := lstat(t, p(c.name))
		if st.Uid != nobody.uid || st.Gid != 4242 || fileType(st) != c.typ || perm(st) != c.mode {
			t.Errorf("%s: owner %d:%d type %#o mode %#o, want %d:4242 type %#o mode %#o",
				c.name, st.Uid, st.Gid, fileType(st), perm(st), nobody.uid, c.typ, c.mode)
		}
	}

	// Without setgid, the creator's group.
	writeFile(t, filepath.Join(d, "plain"), "")
	if st := lstat(t, filepath.Join(d, "plain")); st.Gid != 0 {
		t.Errorf("file in a plain dir: gid %d, want 0", st.Gid)
	}
}

// checkKillSuid: writing or truncating as anyone without CAP_FSETID clears
// setuid, and setgid when the group may execute; root keeps them.
func checkKillSuid(t *testing.T, d string) {
	p := func(name string) string { return filepath.Join(d, name) }
	makeNodes(t,
		node{path: p("write"), mode: 0o6777},
		node{path: p("truncate"), mode: 0o6777},
		// Setgid without group x is not a privilege. (For a writer outside
		// the group the VFS clears it, but FUSE's kernel side keeps it
		// unless the daemon handles killpriv itself: not asked here.)
		node{path: p("sgid-noexec"), mode: 0o2767, gid: 65534},
		node{path: p("root-writes"), mode: 0o6777},
		node{path: p("own"), mode: 0o6777, uid: 65534, gid: 65534},
	)
	nobody.run(t,
		step{do("write", p("write"), "x"), 0},
		step{do("truncate", p("truncate"), 1), 0},
		step{do("write", p("sgid-noexec"), "x"), 0},
		step{do("write", p("own"), "x"), 0},
	)
	fd := openFD(t, p("root-writes"), unix.O_WRONLY, 0)
	pwrite(t, fd, []byte("x"), 0)
	must(t, unix.Close(fd))
	for name, mode := range map[string]uint32{
		"write":       0o777,
		"truncate":    0o777,
		"sgid-noexec": 0o2767,
		"own":         0o777,
		"root-writes": 0o6777,
	} {
		wantMode(t, p(name), unix.S_IFREG, mode)
	}
}
