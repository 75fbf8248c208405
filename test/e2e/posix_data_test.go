package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// File data and directory listings.

// pattern is n bytes that differ from zero and from their neighbours, so a
// misplaced or zeroed block shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + 1
	}
	return b
}

func zeros(n int) []byte { return make([]byte, n) }

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func checkTruncate(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	writeFile(t, f, "hello")
	must(t, unix.Truncate(f, 10))
	wantContent(t, f, []byte("hello\x00\x00\x00\x00\x00"))
	must(t, unix.Truncate(f, 2))
	wantContent(t, f, []byte("he"))
	must(t, unix.Truncate(f, 6)) // the cut bytes must not come back
	wantContent(t, f, []byte("he\x00\x00\x00\x00"))

	// Across block boundaries, whatever the block size.
	data := pattern(300_000)
	must(t, os.WriteFile(f, data, 0o644))
	must(t, unix.Truncate(f, 70_001))
	must(t, unix.Truncate(f, 300_000))
	wantContent(t, f, concat(data[:70_001], zeros(300_000-70_001)))

	fd := openFile(t, f, unix.O_RDWR, 0)
	must(t, unix.Ftruncate(fd, 4096))
	if st := fstat(t, fd); st.Size != 4096 {
		t.Errorf("ftruncate: size %d, want 4096", st.Size)
	}
	if got := pread(t, fd, 200, 4000); !bytes.Equal(got, data[4000:4096]) {
		t.Errorf("read across the new end: %s, want %s", abbrev(got), abbrev(data[4000:4096]))
	}
	must(t, unix.Ftruncate(fd, 0))
	if got := pread(t, fd, 10, 0); len(got) != 0 {
		t.Errorf("read after ftruncate to 0: %q", got)
	}

	// A large sparse file.
	sparse := filepath.Join(d, "sparse")
	writeFile(t, sparse, "")
	must(t, unix.Truncate(sparse, 1<<30))
	if st := lstat(t, sparse); st.Size != 1<<30 {
		t.Errorf("sparse: size %d, want 1 GiB", st.Size)
	}
	if got := pread(t, openFile(t, sparse, unix.O_RDONLY, 0), 3, 1<<29); !bytes.Equal(got, zeros(3)) {
		t.Errorf("read inside a hole: %q", got)
	}
	must(t, unix.Truncate(sparse, 0))

	ro := openFile(t, f, unix.O_RDONLY, 0)
	wantErrnos(t, []errnoCase{
		{"truncate a dir", func() error { return unix.Truncate(d, 0) }, unix.EISDIR},
		{"truncate to a negative size", func() error { return unix.Truncate(f, -1) }, unix.EINVAL},
		{"truncate a missing name", func() error { return unix.Truncate(filepath.Join(d, "missing"), 0) }, unix.ENOENT},
		{"ftruncate an O_RDONLY fd", func() error { return unix.Ftruncate(ro, 0) }, unix.EINVAL},
	})
}

func checkFallocate(t *testing.T, d string) {
	const mib = 1 << 20
	fd := openFile(t, filepath.Join(d, "alloc"), unix.O_RDWR|unix.O_CREAT, 0o644)
	wantSize := func(what string, fd int, want int64) {
		t.Helper()
		if st := fstat(t, fd); st.Size != want {
			t.Errorf("%s: size %d, want %d", what, st.Size, want)
		}
	}
	must(t, unix.Fallocate(fd, 0, 0, mib))
	wantSize("fallocate mode 0", fd, mib)
	if got := pread(t, fd, 4096, mib/2); !bytes.Equal(got, zeros(4096)) {
		t.Errorf("allocated range reads %s, want zeros", abbrev(got))
	}
	must(t, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, mib, mib))
	wantSize("FALLOC_FL_KEEP_SIZE", fd, mib)
	pwrite(t, fd, pattern(4096), 0)
	must(t, unix.Fallocate(fd, 0, 0, 8192)) // inside the file: nothing changes
	wantSize("fallocate inside the file", fd, mib)
	if got := pread(t, fd, 4096, 0); !bytes.Equal(got, pattern(4096)) {
		t.Errorf("fallocate over data changed it: %s", abbrev(got))
	}

	const blk = 65536
	data := bytes.Repeat([]byte{0xAB}, 3*blk)
	p := filepath.Join(d, "punch")
	must(t, os.WriteFile(p, data, 0o644))
	pfd := openFile(t, p, unix.O_RDWR, 0)
	punch := unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
	must(t, unix.Fallocate(pfd, uint32(punch), blk, blk))
	must(t, unix.Fallocate(pfd, uint32(punch), 1000, 3000))    // not block-aligned
	must(t, unix.Fallocate(pfd, uint32(punch), 3*blk-10, blk)) // past the end
	wantSize("after PUNCH_HOLE|KEEP_SIZE", pfd, 3*blk)
	want := concat(data[:1000], zeros(3000), data[4000:blk], zeros(blk), data[2*blk:3*blk-10], zeros(10))
	wantContent(t, p, want)

	// A hole over several whole blocks with partial blocks at both edges.
	wide := bytes.Repeat([]byte{0xCD}, 6*blk)
	wp := filepath.Join(d, "punch-wide")
	must(t, os.WriteFile(wp, wide, 0o644))
	wfd := openFD(t, wp, unix.O_RDWR, 0)
	must(t, unix.Fallocate(wfd, uint32(punch), blk/2, 4*blk+100))
	must(t, unix.Close(wfd))
	wantContent(t, wp, concat(wide[:blk/2], zeros(4*blk+100), wide[blk/2+4*blk+100:]))

	ro := openFile(t, p, unix.O_RDONLY, 0)
	wantErrnos(t, []errnoCase{
		{"PUNCH_HOLE without KEEP_SIZE", func() error { return unix.Fallocate(pfd, unix.FALLOC_FL_PUNCH_HOLE, 0, 10) }, unix.EOPNOTSUPP},
		{"fallocate an O_RDONLY fd", func() error { return unix.Fallocate(ro, 0, 0, 10) }, unix.EBADF},
		{"fallocate length 0", func() error { return unix.Fallocate(pfd, 0, 0, 0) }, unix.EINVAL},
		{"fallocate at a negative offset", func() error { return unix.Fallocate(pfd, 0, -1, 10) }, unix.EINVAL},
	})
	wantContent(t, p, want)
}

func checkSeekDataHole(t *testing.T, d string) {
	const size = 1 << 20
	seek := func(fd int, off int64, whence int) (int64, error) { return unix.Seek(fd, off, whence) }
	wantSeek := func(what string, fd int, off int64, whence int, lo, hi int64) {
		t.Helper()
		got, err := seek(fd, off, whence)
		if err != nil || got < lo || got > hi {
			t.Errorf("%s: %d, %v; want an offset in [%d, %d]", what, got, err, lo, hi)
		}
	}

	// Data at the start, then a hole to the end.
	fd := openFile(t, filepath.Join(d, "head"), unix.O_RDWR|unix.O_CREAT, 0o644)
	pwrite(t, fd, pattern(4096), 0)
	must(t, unix.Ftruncate(fd, size))
	wantSeek("SEEK_DATA at 0 with data at 0", fd, 0, unix.SEEK_DATA, 0, 0)
	wantSeek("SEEK_HOLE at 0", fd, 0, unix.SEEK_HOLE, 4096, size)
	wantSeek("SEEK_DATA at 100", fd, 100, unix.SEEK_DATA, 100, 100)

	// A hole, then data at 512 KiB.
	fd2 := openFile(t, filepath.Join(d, "tail"), unix.O_RDWR|unix.O_CREAT, 0o644)
	pwrite(t, fd2, pattern(4096), size/2)
	wantSeek("SEEK_DATA at 0 before data at 512 KiB", fd2, 0, unix.SEEK_DATA, 0, size/2)
	wantSeek("SEEK_HOLE at 0, data ending at EOF", fd2, 0, unix.SEEK_HOLE, 0, size/2+4096)
	wantSeek("SEEK_HOLE inside the last data", fd2, size/2+10, unix.SEEK_HOLE, size/2+4096, size/2+4096)

	// No hole at all: the implicit hole at EOF.
	fd3 := openFile(t, filepath.Join(d, "full"), unix.O_RDWR|unix.O_CREAT, 0o644)
	pwrite(t, fd3, pattern(10000), 0)
	wantSeek("SEEK_HOLE in a file without holes", fd3, 0, unix.SEEK_HOLE, 10000, 10000)

	empty := openFile(t, filepath.Join(d, "empty"), unix.O_RDWR|unix.O_CREAT, 0o644)
	wantErrnos(t, []errnoCase{
		{"SEEK_DATA at EOF", func() error { _, err := seek(fd, size, unix.SEEK_DATA); return err }, unix.ENXIO},
		{"SEEK_DATA past EOF", func() error { _, err := seek(fd, size+1, unix.SEEK_DATA); return err }, unix.ENXIO},
		{"SEEK_HOLE at EOF", func() error { _, err := seek(fd, size, unix.SEEK_HOLE); return err }, unix.ENXIO},
		{"SEEK_DATA in an empty file", func() error { _, err := seek(empty, 0, unix.SEEK_DATA); return err }, unix.ENXIO},
		{"SEEK_DATA at a negative offset", func() error { _, err := seek(fd, -1, unix.SEEK_DATA); return err }, unix.ENXIO},
	})
}

func checkUnlinkedOpen(t *testing.T, d string) {
	f := filepath.Join(d, "f")
	rw := openFile(t, f, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
	pwrite(t, rw, []byte("hello"), 0)
	ro := openFile(t, f, unix.O_RDONLY, 0)
	oldIno := fstat(t, rw).Ino
	must(t, unix.Unlink(f))
	wantMissing(t, f)
	if st := fstat(t, rw); st.Nlink != 0 || st.Size != 5 {
		t.Errorf("unlinked open file: nlink %d size %d, want 0 and 5", st.Nlink, st.Size)
	}
	if got := pread(t, ro, 100, 0); string(got) != "hello" {
		t.Errorf("read after unlink: %q", got)
	}
	pwrite(t, rw, []byte(" world"), 5)
	if got := pread(t, ro, 100, 0); string(got) != "hello world" {
		t.Errorf("read of a write after unlink: %q", got)
	}
	big := pattern(1 << 20)
	pwrite(t, rw, big, 1<<20)
	if got := pread(t, ro, 1<<20, 1<<20); !bytes.Equal(got, big) {
		t.Errorf("1 MiB written after unlink reads back as %s", abbrev(got))
	}
	must(t, unix.Ftruncate(rw, 3))
	if got := pread(t, ro, 100, 0); string(got) != "hel" {
		t.Errorf("read after ftruncate of an unlinked file: %q", got)
	}
	must(t, unix.Fchmod(rw, 0o600))
	if st := fstat(t, ro); perm(st) != 0o600 {
		t.Errorf("fchmod of an unlinked file: mode %#o", perm(st))
	}

	// The name is free again, for an unrelated file.
	writeFile(t, f, "new")
	if st := lstat(t, f); st.Ino == oldIno {
		t.Errorf("new file reuses the open unlinked file's inode %d", oldIno)
	}
	if got := pread(t, ro, 100, 0); string(got) != "hel" {
		t.Errorf("unlinked file after its name was reused: %q", got)
	}

	// Renaming over an open file unlinks it the same way.
	g, h := filepath.Join(d, "g"), filepath.Join(d, "h")
	writeFile(t, g, "old")
	gfd := openFile(t, g, unix.O_RDONLY, 0)
	writeFile(t, h, "replacement")
	must(t, unix.Rename(h, g))
	if got := pread(t, gfd, 100, 0); string(got) != "old" {
		t.Errorf("file renamed over while open: %q, want %q", got, "old")
	}
	wantContent(t, g, []byte("replacement"))
}

// dirent is one entry of getdents64.
type dirent struct {
	ino  uint64
	typ  uint8
	name string
}

// readDir lists path with getdents64 through a small buffer, so a listing
// of many entries takes many calls. onPage runs after each call.
func readDir(t testing.TB, path string, onPage func()) []dirent {
	t.Helper()
	fd := openFile(t, path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	var out []dirent
	buf := make([]byte, 1024)
	for {
		n, err := unix.Getdents(fd, buf)
		must(t, err)
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			name := b[19:reclen]
			out = append(out, dirent{
				ino:  binary.NativeEndian.Uint64(b[0:8]),
				typ:  b[18],
				name: string(name[:bytes.IndexByte(name, 0)]),
			})
			b = b[reclen:]
		}
		if onPage != nil {
			onPage()
		}
	}
}

func checkReaddir(t *testing.T, d string) {
	const n = 1000
	want := map[string]uint8{".": unix.DT_DIR, "..": unix.DT_DIR}
	for i := range n {
		name := fmt.Sprintf("file-%04d", i)
		writeFile(t, filepath.Join(d, name), "")
		want[name] = unix.DT_REG
	}
	must(t, unix.Mkdir(filepath.Join(d, "dir"), 0o755))
	must(t, unix.Symlink("dir", filepath.Join(d, "link")))
	must(t, unix.Mkfifo(filepath.Join(d, "fifo"), 0o644))
	must(t, unix.Mknod(filepath.Join(d, "sock"), unix.S_IFSOCK|0o644, 0))
	must(t, unix.Mknod(filepath.Join(d, "chr"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	for name, typ := range map[string]uint8{"dir": unix.DT_DIR, "link": unix.DT_LNK, "fifo": unix.DT_FIFO, "sock": unix.DT_SOCK, "chr": unix.DT_CHR} {
		want[name] = typ
	}
	wantListing(t, d, want)

	for i := 0; i < n; i += 2 {
		name := fmt.Sprintf("file-%04d", i)
		must(t, unix.Unlink(filepath.Join(d, name)))
		delete(want, name)
	}
	wantListing(t, d, want)
}

// wantListing requires d to list exactly the names in want, each once, with
// its d_type and with d_ino equal to the entry's st_ino.
func wantListing(t *testing.T, d string, want map[string]uint8) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range readDir(t, d, nil) {
		if seen[e.name] {
			t.Errorf("readdir: %q listed twice", e.name)
		}
		seen[e.name] = true
		typ, ok := want[e.name]
		if !ok {
			t.Errorf("readdir: unexpected %q", e.name)
			continue
		}
		if e.typ != typ {
			t.Errorf("readdir: %q has d_type %d, want %d", e.name, e.typ, typ)
		}
		if st := lstat(t, filepath.Join(d, e.name)); st.Ino != e.ino {
			t.Errorf("readdir: %q has d_ino %d, st_ino %d", e.name, e.ino, st.Ino)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("readdir: %q missing", name)
		}
	}
}

// checkReaddirWhileChanging lists a directory page by page while another
// goroutine creates and deletes in it: every entry present throughout must
// show exactly once, and no entry twice.
func checkReaddirWhileChanging(t *testing.T, d string) {
	const stable = 500
	for i := range stable {
		writeFile(t, filepath.Join(d, fmt.Sprintf("s-%04d", i)), "")
	}
	for round := range 3 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var churnErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := filepath.Join(d, fmt.Sprintf("t-%d-%d", round, i))
				if churnErr = os.WriteFile(p, nil, 0o644); churnErr != nil {
					return
				}
				if i%2 == 0 {
					if churnErr = os.Remove(p); churnErr != nil {
						return
					}
				}
			}
		}()
		pages := 0
		entries := readDir(t, d, func() { pages++ })
		close(stop)
		wg.Wait()
		must(t, churnErr)

		count := map[string]int{}
		for _, e := range entries {
			count[e.name]++
			if count[e.name] == 2 {
				t.Errorf("round %d: %q listed twice", round, e.name)
			}
		}
		for i := range stable {
			if name := fmt.Sprintf("s-%04d", i); count[name] != 1 {
				t.Errorf("round %d: stable entry %q listed %d times", round, name, count[name])
			}
		}
		if pages < 10 {
			t.Errorf("round %d: listing took %d pages; the check needs many", round, pages)
		}
	}
}
