package directio

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// dirs are where the tests write: the test's temporary directory (a disk
// filesystem that takes O_DIRECT) and /dev/shm (tmpfs, which refused
// O_DIRECT before Linux 6.6) when there is one.
func dirs(t *testing.T) []string {
	ds := []string{t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "directio-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		ds = append(ds, d)
	}
	return ds
}

// TestRoundTrip writes buffers of awkward lengths, at aligned and unaligned
// addresses, and reads them back whole and in pieces, across the end of
// the file too: what goes around the page cache must read the same as
// what goes through it.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{1, 4095, 4096, 4097, 64 << 10, 64<<10 + 123, 1<<20 - 1, 4 << 20}
	for _, dir := range dirs(t) {
		for _, n := range lengths {
			for _, skew := range []int{0, 1, 512} {
				backing := make([]byte, n+skew+align)
				data := backing[skew : skew+n]
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				p := filepath.Join(dir, "obj")
				f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				if err := WriteAt(f, data, 0); err != nil {
					t.Fatalf("%s: write %d bytes (skew %d): %v", dir, n, skew, err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				onDisk, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(onDisk, data) {
					t.Fatalf("%s: %d bytes (skew %d) written, file differs (%d bytes)", dir, n, skew, len(onDisk))
				}
				checkReads(t, NewFiles(4), p, data)
			}
		}
	}
}

// checkReads reads file p through files, whose contents are want, at a few offsets and
// lengths, into big aligned buffers (the direct path) and odd ones.
func checkReads(t *testing.T, files *Files, p string, want []byte) {
	t.Helper()
	defer files.Forget(p)
	buf := make([]byte, 8<<20+align) // a large allocation: page-aligned
	for _, off := range []int{0, 4096, 64 << 10, 3, len(want) - 1} {
		for _, n := range []int{64 << 10, 1 << 20, 64<<10 + 7, 100, 8 << 20} {
			for _, skew := range []int{0, 1} {
				if off < 0 || off > len(want) {
					continue
				}
				dst := buf[skew : skew+n]
				got, err := files.ReadAt(p, dst, int64(off))
				if err != nil {
					t.Fatalf("read %d at %d (skew %d) of %d bytes: %v", n, off, skew, len(want), err)
				}
				wantN := min(n, len(want)-off)
				if got != wantN || !bytes.Equal(dst[:got], want[off:off+wantN]) {
					t.Fatalf("read %d at %d (skew %d) of %d bytes: got %d bytes, want %d, equal %v",
						n, off, skew, len(want), got, wantN, bytes.Equal(dst[:got], want[off:off+got]))
				}
			}
		}
	}
}

// TestFilesKeepsFewOpen reads more files than the cache keeps, from
// several goroutines at once, forgetting some on the way (as a delete
// does): every read returns its file's bytes, and no more descriptors
// stay open than the cache's size.
func TestFilesKeepsFewOpen(t *testing.T) {
	dir := t.TempDir()
	const nfiles, keep = 40, 8
	want := make([][]byte, nfiles)
	paths := make([]string, nfiles)
	for i := range nfiles {
		want[i] = bytes.Repeat([]byte{byte(i)}, 128<<10+i)
		paths[i] = filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(paths[i], want[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := openFDs(t)
	files := NewFiles(keep)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for j := range 400 {
				i := (j*7 + g*13) % nfiles
				if j%50 == 0 {
					files.Forget(paths[i])
				}
				got, err := files.ReadAt(paths[i], buf[:64<<10], 64<<10)
				if err != nil || got != 64<<10 || !bytes.Equal(buf[:got], want[i][64<<10:128<<10]) {
					errs <- fmt.Errorf("file %d: read %d bytes, err %v, equal %v", i, got, err, bytes.Equal(buf[:got], want[i][64<<10:64<<10+got]))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if open := openFDs(t) - before; open > keep {
		t.Fatalf("%d descriptors open after the reads, want at most %d", open, keep)
	}
	files.Close()
	if open := openFDs(t) - before; open > 0 {
		t.Fatalf("%d descriptors still open after Close", open)
	}
	buf := make([]byte, 64<<10)
	if got, err := files.ReadAt(paths[3], buf, 0); err != nil || !bytes.Equal(buf[:got], want[3][:64<<10]) {
		t.Fatalf("read after Close: %d bytes, %v", got, err)
	}
	if open := openFDs(t) - before; open > 0 {
		t.Fatalf("%d descriptors open after a read after Close", open)
	}
	if _, err := files.ReadAt(filepath.Join(dir, "missing"), make([]byte, 4096), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read of a missing file: %v, want not-exist", err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFilesCloseIdle: a descriptor nobody reads through is closed after
// the idle time, so a file deleted by another process frees its space.
func TestFilesCloseIdle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(p, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	files := NewFiles(8)
	files.idle = 50 * time.Millisecond
	if _, err := files.ReadAt(p, make([]byte, 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if open := openFDs(t) - before; open != 1 {
		t.Fatalf("%d descriptors kept after a read, want 1", open)
	}
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > before {
		if time.Now().After(deadline) {
			t.Fatalf("descriptor still open %v after its last read (idle time %v)", 10*time.Second, files.idle)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
