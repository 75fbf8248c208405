package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Real programs on a directory: what users will run on HAFS.
var programChecks = []check{
	{"git", checkGit},
	{"tar", checkTar},
	{"cp-a", checkCpA},
	{"rsync", checkRsync},
}

// TestProgramsLocalReference runs the programs on the local filesystem.
func TestProgramsLocalReference(t *testing.T) { runChecks(t, PublicTempDir(t), programChecks) }

// TestProgramsOnHAFS runs the programs on a HAFS mount.
func TestProgramsOnHAFS(t *testing.T) { runChecks(t, hafsDir(t), programChecks) }

// runProgram runs name in dir and returns its standard output; a missing
// program is a broken setup, not a reason to skip.
func runProgram(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run scripts/setup.sh --test", name)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s%s", name, strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func checkGit(t *testing.T, d string) {
	env := append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1")
	git := func(args ...string) string {
		t.Helper()
		id := []string{"-c", "user.name=HAFS Test", "-c", "user.email=test@hafs.invalid", "-c", "init.defaultBranch=main"}
		return runProgram(t, d, env, "git", append(id, args...)...)
	}
	git("init", "-q")
	writeFile(t, filepath.Join(d, "a.txt"), "first version\n")
	must(t, os.Mkdir(filepath.Join(d, "sub"), 0o755))
	var lines strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	writeFile(t, filepath.Join(d, "sub", "b.txt"), lines.String())
	git("add", "-A")
	git("commit", "-q", "-m", "first")

	writeFile(t, filepath.Join(d, "a.txt"), "second version\n")
	git("mv", "sub/b.txt", "sub/c.txt")
	git("commit", "-q", "-am", "second")

	if got := git("log", "--format=%s"); got != "second\nfirst\n" {
		t.Errorf("git log: %q", got)
	}
	if got := git("status", "--porcelain"); got != "" {
		t.Errorf("git status after commit: %q", got)
	}
	git("fsck", "--full", "--strict")
	git("gc", "-q") // packs objects: renames, unlinks, big writes
	git("fsck", "--full", "--strict")
	git("checkout", "-q", "HEAD~1")
	wantContent(t, filepath.Join(d, "a.txt"), []byte("first version\n"))
	wantContent(t, filepath.Join(d, "sub", "b.txt"), []byte(lines.String()))
	wantMissing(t, filepath.Join(d, "sub", "c.txt"))
}

func checkTar(t *testing.T, d string) {
	src := t.TempDir()
	makeTree(t, src)
	archive := filepath.Join(t.TempDir(), "tree.tar")
	env := os.Environ()
	runProgram(t, src, env, "tar", "--numeric-owner", "-cf", archive, ".")

	dst := filepath.Join(d, "x")
	must(t, os.Mkdir(dst, 0o755))
	runProgram(t, dst, env, "tar", "--numeric-owner", "-xpf", archive)
	wantSameTree(t, src, dst, true)

	// And back out: tar reads the tree from the directory.
	archive2 := filepath.Join(t.TempDir(), "again.tar")
	runProgram(t, dst, env, "tar", "--numeric-owner", "-cf", archive2, ".")
	back := t.TempDir()
	runProgram(t, back, env, "tar", "--numeric-owner", "-xpf", archive2)
	wantSameTree(t, src, back, true)
}

func checkCpA(t *testing.T, d string) {
	src := t.TempDir()
	makeTree(t, src)
	env := os.Environ()
	runProgram(t, d, env, "cp", "-a", src, filepath.Join(d, "copy"))
	wantSameTree(t, src, filepath.Join(d, "copy"), true)
	// A copy within the directory.
	runProgram(t, d, env, "cp", "-a", filepath.Join(d, "copy"), filepath.Join(d, "copy2"))
	wantSameTree(t, src, filepath.Join(d, "copy2"), true)
}

func checkRsync(t *testing.T, d string) {
	src := t.TempDir()
	makeTree(t, src)
	dst := filepath.Join(d, "rs")
	env := os.Environ()
	runProgram(t, d, env, "rsync", "-a", src+"/", dst+"/")
	wantSameTree(t, src, dst, false) // -a does not keep hard links

	// An update: rsync writes temporary files and renames them into place.
	must(t, os.WriteFile(filepath.Join(src, "small.txt"), []byte("changed\n"), 0o644))
	must(t, os.Remove(filepath.Join(src, "many", "f-007")))
	writeFile(t, filepath.Join(src, "sub", "new.txt"), "new")
	runProgram(t, d, env, "rsync", "-a", "--delete", src+"/", dst+"/")
	wantSameTree(t, src, dst, false)
}

// makeTree fills root with what trips copying tools: empty, small, odd-sized
// and sparse files, modes, another owner, symlinks (one dangling), hard
// links, an empty dir, spaces in names, a dir of many files, and mtimes with
// nanoseconds.
func makeTree(t *testing.T, root string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	file := func(rel string, data []byte, mode uint32) {
		p := filepath.Join(root, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
		must(t, unix.Chmod(p, mode))
	}
	file("empty.txt", nil, 0o644)
	file("small.txt", []byte("hello\n"), 0o644)
	file("block.bin", random(4096), 0o644)
	file("odd.bin", random(4097), 0o644)
	file("big.bin", random(1<<20+123), 0o644)
	file("exec.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	file("private", []byte("secret"), 0o600)
	file("owned", []byte("theirs"), 0o640)
	must(t, unix.Chown(filepath.Join(root, "owned"), 65534, 65534))
	file("sub/deeper/leaf.txt", []byte("leaf"), 0o644)
	file("name with spaces.txt", []byte("spaces"), 0o644)
	file("hard1", []byte("linked"), 0o644)
	must(t, unix.Link(filepath.Join(root, "hard1"), filepath.Join(root, "hard2")))
	must(t, unix.Symlink("../small.txt", filepath.Join(root, "sub", "link-rel")))
	must(t, unix.Symlink("nowhere", filepath.Join(root, "dangling")))
	must(t, os.Mkdir(filepath.Join(root, "emptydir"), 0o700))
	for i := range 200 {
		file(fmt.Sprintf("many/f-%03d", i), random(rng.IntN(3000)), 0o644)
	}
	file("sparse.bin", nil, 0o644)
	fd := openFD(t, filepath.Join(root, "sparse.bin"), unix.O_WRONLY, 0)
	pwrite(t, fd, random(4096), 1<<20)
	must(t, unix.Ftruncate(fd, 3<<20))
	must(t, unix.Close(fd))

	// Times last, children before parents, so no later change moves them.
	var paths []string
	must(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	for i, p := range slices.Backward(paths) {
		when := ts(1_600_000_000+int64(i), 123_456_789)
		utimes(t, p, when, when, unix.AT_SYMLINK_NOFOLLOW)
	}
}

// manifest describes every entry below root (not root itself): type, mode,
// owner, size and mtime in seconds (tar keeps no more) of files and dirs,
// symlink targets, and with links which names share an inode.
func manifest(t *testing.T, root string, links bool) map[string]string {
	t.Helper()
	m := map[string]string{}
	firstName := map[uint64]string{}
	must(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		st := lstat(t, p)
		desc := fmt.Sprintf("type %#o mode %#o owner %d:%d", fileType(st), perm(st), st.Uid, st.Gid)
		switch fileType(st) {
		case unix.S_IFREG:
			desc += fmt.Sprintf(" size %d mtime %d", st.Size, st.Mtim.Sec)
			if links && st.Nlink > 1 {
				if first, ok := firstName[st.Ino]; ok {
					desc += " linked to " + first
				} else {
					firstName[st.Ino] = rel
				}
			}
		case unix.S_IFDIR:
			desc += fmt.Sprintf(" mtime %d", st.Mtim.Sec)
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		m[rel] = desc
		return nil
	}))
	return m
}

// wantSameTree requires got to hold what want holds: the same bytes (diff
// -r) and the same manifest.
func wantSameTree(t *testing.T, want, got string, links bool) {
	t.Helper()
	runProgram(t, "/", os.Environ(), "diff", "-r", "--no-dereference", want, got)
	wm, gm := manifest(t, want, links), manifest(t, got, links)
	for rel, w := range wm {
		if g, ok := gm[rel]; !ok {
			t.Errorf("%s: missing in the copy", rel)
		} else if g != w {
			t.Errorf("%s: copy has %s, want %s", rel, g, w)
		}
	}
	for rel := range gm {
		if _, ok := wm[rel]; !ok {
			t.Errorf("%s: in the copy only", rel)
		}
	}
}
