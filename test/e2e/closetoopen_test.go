package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// ctoTries is how many times each close-to-open case runs: a violation
// that depends on timing shows as a count, not as a flake.
const ctoTries = 100

// ctoCase is one close-to-open case: prepare sets file i up through the
// writer, cache makes the reader's kernel cache what it can of it, change
// alters it through the writer and returns what the reader must then read.
type ctoCase struct {
	name    string
	prepare func(path string) error
	cache   func(path string) error
	change  func(path string) ([]byte, error)
}

// TestCloseToOpen: whatever a client closed (or a namespace call returned)
// before another client's open, that open and its reads see: size and
// bytes, even though the reader's kernel cached the file's attributes
// (--attr-timeout) and pages just before. Each case runs ctoTries times on
// a fresh file and counts violations, which must be zero.
func TestCloseToOpen(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	a, b := fs.Mount(t).Dir, fs.Mount(t).Dir
	readOnB := func(path string) error { _, err := readPlain(path); return err }
	cases := []ctoCase{{
		name:    "grow",
		prepare: func(p string) error { return os.WriteFile(p, fill('a', 100), 0o644) },
		cache:   readOnB,
		change: func(p string) ([]byte, error) {
			return append(fill('a', 100), fill('b', 100)...), appendFile(p, fill('b', 100))
		},
	}, {
		name:    "overwrite",
		prepare: func(p string) error { return os.WriteFile(p, fill('a', 100), 0o644) },
		cache:   readOnB,
		change: func(p string) ([]byte, error) {
			return fill('c', 100), overwriteAt(p, fill('c', 100), 0)
		},
	}, {
		name:    "truncate",
		prepare: func(p string) error { return os.WriteFile(p, fill('a', 200), 0o644) },
		cache:   readOnB,
		change: func(p string) ([]byte, error) {
			return fill('a', 100), truncateOpen(p, 100)
		},
	}, {
		// Files past inline_max are block objects in the filesystem's
		// directory site, which the reader keeps open (directio.Files):
		// an overwrite adds an object, a rewrite deletes the old ones.
		name:    "overwrite-sliced",
		prepare: func(p string) error { return os.WriteFile(p, fill('a', 1<<20), 0o644) },
		cache:   readOnB,
		change: func(p string) ([]byte, error) {
			want := fill('a', 1<<20)
			copy(want[256<<10:], fill('c', 64<<10))
			return want, overwriteAt(p, fill('c', 64<<10), 256<<10)
		},
	}, {
		name:    "rewrite-sliced",
		prepare: func(p string) error { return os.WriteFile(p, fill('a', 1<<20), 0o644) },
		cache:   readOnB,
		change: func(p string) ([]byte, error) {
			return fill('e', 1<<20+5), os.WriteFile(p, fill('e', 1<<20+5), 0o644)
		},
	}, {
		name:    "create-after-negative-lookup",
		prepare: func(string) error { return nil },
		cache: func(p string) error {
			var st unix.Stat_t
			if err := unix.Stat(p, &st); !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("stat before create: %v, want ENOENT", err)
			}
			return nil
		},
		change: func(p string) ([]byte, error) {
			return fill('d', 100), os.WriteFile(p, fill('d', 100), 0o644)
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			must(t, os.Mkdir(filepath.Join(a, c.name), 0o755))
			var bad []string
			for i := range ctoTries {
				name := filepath.Join(c.name, fmt.Sprintf("f%d", i))
				must(t, c.prepare(filepath.Join(a, name)))
				must(t, c.cache(filepath.Join(b, name)))
				want, err := c.change(filepath.Join(a, name))
				must(t, err)
				got, err := readPlain(filepath.Join(b, name))
				if err != nil || !bytes.Equal(got, want) {
					bad = append(bad, fmt.Sprintf("try %d: read %s, %v; want %s", i, abbrev(got), err, abbrev(want)))
				}
			}
			t.Logf("%s: %d violations in %d tries", c.name, len(bad), ctoTries)
			if len(bad) > 0 {
				t.Errorf("%s: %d of %d opens after a close elsewhere read stale data; first: %s",
					c.name, len(bad), ctoTries, bad[0])
			}
		})
	}
}

// readPlain reads path whole with open and read(2) alone. No fstat:
// fstat after a read refreshes every attribute (the read made the cached
// atime invalid), which would hide a stale size from a test, but many
// readers (dd, mmap, read loops) never ask.
func readPlain(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

// fill returns n bytes of c.
func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// appendFile appends data to path and closes it.
func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// overwriteAt writes data at off in path without truncating, and closes it.
func overwriteAt(path string, data []byte, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// truncateOpen truncates path to size through an open descriptor (ftruncate)
// and closes it.
func truncateOpen(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestListingCloseToOpen: the kernel keeps a directory's listing between
// opens (FOPEN_CACHE_DIR), yet a listing opened after another client
// created, removed or renamed an entry shows the change, and so does one
// after this client's own change. Each round lists on the reader first, so
// its kernel holds the listing the change makes stale.
func TestListingCloseToOpen(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	a, b := fs.Mount(t).Dir, fs.Mount(t).Dir
	must(t, os.Mkdir(filepath.Join(a, "d"), 0o755))
	list := func(dir string) []string {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, "d"))
		must(t, err)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	want := map[string]bool{}
	check := func(round int, what string) {
		t.Helper()
		got := list(b)
		if len(got) != len(want) {
			t.Fatalf("round %d, after %s: the reader lists %v, want %d entries", round, what, got, len(want))
		}
		for _, n := range got {
			if !want[n] {
				t.Fatalf("round %d, after %s: the reader lists %q, which is not there", round, what, n)
			}
		}
	}
	for round := range 30 {
		list(b) // cached on the reader
		name := fmt.Sprintf("f%02d", round)
		must(t, os.WriteFile(filepath.Join(a, "d", name), nil, 0o644))
		want[name] = true
		check(round, "a create elsewhere")
		if round%3 == 1 {
			must(t, os.Remove(filepath.Join(a, "d", name)))
			delete(want, name)
			check(round, "a removal elsewhere")
		}
		if round%3 == 2 {
			must(t, os.Rename(filepath.Join(a, "d", name), filepath.Join(a, "d", name+"-moved")))
			delete(want, name)
			want[name+"-moved"] = true
			check(round, "a rename elsewhere")
		}
		// The reader's own create.
		own := fmt.Sprintf("b%02d", round)
		must(t, os.WriteFile(filepath.Join(b, "d", own), nil, 0o644))
		want[own] = true
		check(round, "a create here")
	}
}
