package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// crossOp is one operation done through mount A and what mount B must see
// of it. Each runs in a fresh directory of its own (the arguments).
type crossOp struct {
	name string
	// setup prepares the directory through A, before B looks at it.
	setup func(t *testing.T, a string)
	// prime makes B's kernel cache what real use would: names, attributes,
	// pages, an open descriptor.
	prime func(t *testing.T, b string)
	// do is the operation through A; it returns after the close (data) or
	// the syscall (namespace and attributes).
	do func(t *testing.T, a string)
	// now must hold on B at once: an open and what is read or fstat'd
	// through it, a lookup of a name B has not cached, a readdir, xattrs.
	now func(b string) error
	// cached must hold on B within --attr-timeout / --entry-timeout: a stat
	// through a name or attributes B cached in prime. Nil when none.
	cached func(b string) error
}

// TestConsistency: for every namespace and data operation, what one client
// did is what another sees, as README's "Consistency across nodes"
// promises: at once through opens, fresh lookups and readdir; within the
// cache timeouts through names and attributes the other kernel cached.
func TestConsistency(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	a, b := fs.Mount(t).Dir, fs.Mount(t).Dir
	for _, op := range crossOps() {
		t.Run(op.name, func(t *testing.T) {
			da, db := filepath.Join(a, op.name), filepath.Join(b, op.name)
			must(t, os.Mkdir(da, 0o755))
			if op.setup != nil {
				op.setup(t, da)
			}
			if op.prime != nil {
				op.prime(t, db)
			}
			op.do(t, da)
			if err := op.now(db); err != nil {
				t.Errorf("at once on the other mount: %v", err)
			}
			if op.cached != nil {
				eventually(t, visibleWithin, func() error {
					if err := op.cached(db); err != nil {
						return fmt.Errorf("through what the other mount cached: %w", err)
					}
					return nil
				})
			}
		})
	}
}

// crossOps is the table of TestConsistency.
func crossOps() []crossOp {
	return slices.Concat(dataOps(), namespaceOps(), attrOps())
}

func dataOps() []crossOp {
	var mtime unix.Timespec // A's mtime after the write
	return []crossOp{{
		name:  "create",
		prime: func(t *testing.T, b string) { wantMissing(t, filepath.Join(b, "f")) },
		do:    func(t *testing.T, a string) { writeFile(t, filepath.Join(a, "f"), "created") },
		now: func(b string) error {
			return errors.Join(contentIs(filepath.Join(b, "f"), []byte("created")), listed(b, "f", true))
		},
	}, {
		name:  "write",
		setup: func(t *testing.T, a string) { must(t, os.WriteFile(filepath.Join(a, "f"), fill('a', 4096), 0o644)) },
		prime: readAndStat("f"),
		do: func(t *testing.T, a string) {
			must(t, overwriteAt(filepath.Join(a, "f"), fill('b', 4096), 0))
			mtime = lstat(t, filepath.Join(a, "f")).Mtim
		},
		now: func(b string) error {
			st, err := openStat(filepath.Join(b, "f"))
			if err == nil && st.Mtim != mtime {
				err = fmt.Errorf("fstat after open: mtime %v, want %v", timeOf(st.Mtim), timeOf(mtime))
			}
			return errors.Join(contentIs(filepath.Join(b, "f"), fill('b', 4096)), err)
		},
		cached: func(b string) error {
			return statWants(filepath.Join(b, "f"), "mtime", timeOf(mtime), func(st unix.Stat_t) any { return timeOf(st.Mtim) })
		},
	}, {
		name:  "append",
		setup: func(t *testing.T, a string) { must(t, os.WriteFile(filepath.Join(a, "f"), fill('a', 100), 0o644)) },
		prime: readAndStat("f"),
		do:    func(t *testing.T, a string) { must(t, appendFile(filepath.Join(a, "f"), fill('b', 100))) },
		now: func(b string) error {
			f := filepath.Join(b, "f")
			return errors.Join(contentIs(f, append(fill('a', 100), fill('b', 100)...)), openStatSize(f, 200))
		},
		cached: sizeIs("f", 200),
	}, {
		name:  "truncate",
		setup: func(t *testing.T, a string) { must(t, os.WriteFile(filepath.Join(a, "f"), fill('a', 200), 0o644)) },
		prime: readAndStat("f"),
		do:    func(t *testing.T, a string) { must(t, unix.Truncate(filepath.Join(a, "f"), 50)) },
		now: func(b string) error {
			f := filepath.Join(b, "f")
			return errors.Join(contentIs(f, fill('a', 50)), openStatSize(f, 50))
		},
		cached: sizeIs("f", 50),
	}, {
		name: "rename-over",
		setup: func(t *testing.T, a string) {
			writeFile(t, filepath.Join(a, "f"), "old version")
			writeFile(t, filepath.Join(a, "g"), "new version!")
		},
		prime: readAndStat("f"),
		do:    func(t *testing.T, a string) { must(t, os.Rename(filepath.Join(a, "g"), filepath.Join(a, "f"))) },
		now: func(b string) error {
			// B's kernel still has f naming the replaced file: the open
			// finds it unlinked and looks the name up again.
			f := filepath.Join(b, "f")
			return errors.Join(contentIs(f, []byte("new version!")), openStatSize(f, int64(len("new version!"))),
				listed(b, "f", true), listed(b, "g", false), missing(filepath.Join(b, "g")))
		},
		cached: sizeIs("f", int64(len("new version!"))),
	}, unlinkOpenOp()}
}

// unlinkOpenOp: a file B holds open survives A's unlink, readable through
// B's descriptor, while its name goes.
func unlinkOpenOp() crossOp {
	fd := -1
	return crossOp{
		name:  "unlink-while-open",
		setup: func(t *testing.T, a string) { writeFile(t, filepath.Join(a, "f"), "kept") },
		prime: func(t *testing.T, b string) {
			fd = openFile(t, filepath.Join(b, "f"), unix.O_RDONLY, 0)
			if got := pread(t, fd, 16, 0); string(got) != "kept" {
				t.Fatalf("read before the unlink: %q", got)
			}
		},
		do: func(t *testing.T, a string) { must(t, unix.Unlink(filepath.Join(a, "f"))) },
		now: func(b string) error {
			buf := make([]byte, 16)
			n, err := unix.Pread(fd, buf, 0)
			if err == nil && string(buf[:n]) != "kept" {
				err = fmt.Errorf("read through the open descriptor: %q, want %q", buf[:n], "kept")
			}
			// An open through the name B cached finds the file unlinked
			// and looks the name up again.
			_, oerr := readPlain(filepath.Join(b, "f"))
			if !errors.Is(oerr, unix.ENOENT) {
				oerr = fmt.Errorf("open by the unlinked name: %v, want ENOENT", oerr)
			} else {
				oerr = nil
			}
			return errors.Join(err, oerr, listed(b, "f", false))
		},
		cached: func(b string) error { return missing(filepath.Join(b, "f")) },
	}
}

func namespaceOps() []crossOp {
	return []crossOp{{
		name:  "link",
		setup: func(t *testing.T, a string) { writeFile(t, filepath.Join(a, "f"), "linked") },
		prime: readAndStat("f"),
		do:    func(t *testing.T, a string) { must(t, os.Link(filepath.Join(a, "f"), filepath.Join(a, "h"))) },
		now: func(b string) error {
			st, err := openStat(filepath.Join(b, "f"))
			if err == nil && st.Nlink != 2 {
				err = fmt.Errorf("fstat after open: nlink %d, want 2", st.Nlink)
			}
			return errors.Join(err, contentIs(filepath.Join(b, "h"), []byte("linked")), listed(b, "h", true))
		},
		cached: func(b string) error {
			return statWants(filepath.Join(b, "f"), "nlink", uint64(2), func(st unix.Stat_t) any { return uint64(st.Nlink) })
		},
	}, {
		name:  "symlink",
		prime: func(t *testing.T, b string) { wantMissing(t, filepath.Join(b, "s")) },
		do:    func(t *testing.T, a string) { must(t, os.Symlink("some/target", filepath.Join(a, "s"))) },
		now: func(b string) error {
			got, err := os.Readlink(filepath.Join(b, "s"))
			if err == nil && got != "some/target" {
				err = fmt.Errorf("readlink: %q, want %q", got, "some/target")
			}
			return errors.Join(err, listed(b, "s", true))
		},
	}, {
		name: "mkdir",
		prime: func(t *testing.T, b string) {
			wantMissing(t, filepath.Join(b, "d"))
			lstat(t, b) // caches the directory's nlink
		},
		do: func(t *testing.T, a string) { must(t, os.Mkdir(filepath.Join(a, "d"), 0o755)) },
		now: func(b string) error {
			err := statWants(filepath.Join(b, "d"), "type", uint32(unix.S_IFDIR), func(st unix.Stat_t) any { return fileType(st) })
			return errors.Join(err, listed(b, "d", true))
		},
		cached: func(b string) error {
			return statWants(b, "parent's nlink", uint64(3), func(st unix.Stat_t) any { return uint64(st.Nlink) })
		},
	}, {
		name:  "rmdir",
		setup: func(t *testing.T, a string) { must(t, os.Mkdir(filepath.Join(a, "d"), 0o755)) },
		prime: func(t *testing.T, b string) { lstat(t, filepath.Join(b, "d")) },
		do:    func(t *testing.T, a string) { must(t, unix.Rmdir(filepath.Join(a, "d"))) },
		now:   func(b string) error { return listed(b, "d", false) },
		cached: func(b string) error {
			return missing(filepath.Join(b, "d"))
		},
	}}
}

func attrOps() []crossOp {
	mtime := ts(1_000_000_000, 123_456_789)
	return []crossOp{
		statOp("chmod", func(p string) error { return unix.Chmod(p, 0o600) },
			"mode", uint32(0o600), func(st unix.Stat_t) any { return perm(st) }),
		statOp("chown", func(p string) error { return unix.Chown(p, int(nobody.uid), int(nobody.gid)) },
			"owner", [2]uint32{nobody.uid, nobody.gid}, func(st unix.Stat_t) any { return [2]uint32{st.Uid, st.Gid} }),
		statOp("utimes", func(p string) error { return unix.UtimesNano(p, []unix.Timespec{mtime, mtime}) },
			"mtime", timeOf(mtime), func(st unix.Stat_t) any { return timeOf(st.Mtim) }),
		{
			name:  "setxattr",
			setup: func(t *testing.T, a string) { writeFile(t, filepath.Join(a, "f"), "") },
			prime: func(t *testing.T, b string) {
				_, err := unix.Getxattr(filepath.Join(b, "f"), "user.k", nil)
				wantErrno(t, "getxattr before setxattr", err, unix.ENODATA)
			},
			do: func(t *testing.T, a string) { must(t, unix.Setxattr(filepath.Join(a, "f"), "user.k", []byte("v"), 0)) },
			// The kernel caches no xattrs: a getxattr always asks.
			now: func(b string) error {
				buf := make([]byte, 16)
				n, err := unix.Getxattr(filepath.Join(b, "f"), "user.k", buf)
				if err == nil && string(buf[:n]) != "v" {
					err = fmt.Errorf("getxattr: %q, want %q", buf[:n], "v")
				}
				return err
			},
		},
	}
}

// statOp is an attribute change of f through A: an open on B sees it at
// once (fstat), a stat of B's cached attributes within --attr-timeout.
func statOp(name string, change func(path string) error, what string, want any, get func(unix.Stat_t) any) crossOp {
	return crossOp{
		name:  name,
		setup: func(t *testing.T, a string) { writeFile(t, filepath.Join(a, "f"), "attrs") },
		prime: readAndStat("f"),
		do:    func(t *testing.T, a string) { must(t, change(filepath.Join(a, "f"))) },
		now: func(b string) error {
			st, err := openStat(filepath.Join(b, "f"))
			if err == nil && get(st) != want {
				err = fmt.Errorf("fstat after open: %s %v, want %v", what, get(st), want)
			}
			return err
		},
		cached: func(b string) error { return statWants(filepath.Join(b, "f"), what, want, get) },
	}
}

// readAndStat is a prime step: B reads name whole and stats it, caching
// its name, attributes and pages.
func readAndStat(name string) func(t *testing.T, b string) {
	return func(t *testing.T, b string) {
		_, err := readPlain(filepath.Join(b, name))
		must(t, err)
		lstat(t, filepath.Join(b, name))
	}
}

// contentIs reads path with open and read(2) alone and compares.
func contentIs(path string, want []byte) error {
	got, err := readPlain(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: read %s, want %s", filepath.Base(path), abbrev(got), abbrev(want))
	}
	return nil
}

// openStat opens path and returns fstat of the open file.
func openStat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	return st, unix.Fstat(fd, &st)
}

func openStatSize(path string, want int64) error {
	st, err := openStat(path)
	if err == nil && st.Size != want {
		err = fmt.Errorf("fstat after open: size %d, want %d", st.Size, want)
	}
	return err
}

// statWants lstats path and compares the field get picks with want.
func statWants(path, what string, want any, get func(unix.Stat_t) any) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	if got := get(st); got != want {
		return fmt.Errorf("lstat %s: %s %v, want %v", filepath.Base(path), what, got, want)
	}
	return nil
}

func sizeIs(name string, want int64) func(b string) error {
	return func(b string) error {
		return statWants(filepath.Join(b, name), "size", want, func(st unix.Stat_t) any { return st.Size })
	}
}

// missing requires lstat of path to fail with ENOENT.
func missing(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lstat %s: %v, want ENOENT", filepath.Base(path), err)
	}
	return nil
}

// listed requires a readdir of dir to list name (or not).
func listed(dir, name string, want bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	got := slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == name })
	if got != want {
		return fmt.Errorf("readdir lists %q: %v, want %v", name, got, want)
	}
	return nil
}
