package directio

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
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
				checkReads(t, p, data)
			}
		}
	}
}

// checkReads reads file p, whose contents are want, at a few offsets and
// lengths, into big aligned buffers (the direct path) and odd ones.
func checkReads(t *testing.T, p string, want []byte) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 8<<20+align) // a large allocation: page-aligned
	for _, off := range []int{0, 4096, 64 << 10, 3, len(want) - 1} {
		for _, n := range []int{64 << 10, 1 << 20, 64<<10 + 7, 100, 8 << 20} {
			for _, skew := range []int{0, 1} {
				if off < 0 || off > len(want) {
					continue
				}
				dst := buf[skew : skew+n]
				got, err := ReadAt(f, dst, int64(off))
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
