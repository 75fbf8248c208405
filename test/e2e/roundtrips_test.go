package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The store round trips of common operations, counted with the mount's
// hafs_store_transactions_total. Background work (heartbeats, the deleter)
// adds a few transactions of its own, so the bounds leave room for them
// while still failing if an operation costs a transaction per entry or per
// write.

func txCount(t *testing.T, m *Mount, kind string) float64 {
	t.Helper()
	return metric(t, m, fmt.Sprintf(`hafs_store_transactions_total{kind=%q}`, kind))
}

// TestReaddirPlusOneSnapshot: listing a directory of 300 files answers the
// kernel's READDIRPLUS lookups from the listing's own transaction instead of
// one per name, and the attributes it hands the kernel are the files'.
func TestReaddirPlusOneSnapshot(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	dir := filepath.Join(m.Dir, "d")
	must(t, os.Mkdir(dir, 0o755))
	const n = 300
	for i := range n {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte("x"), i), 0o600+os.FileMode(i%2)*0o044))
	}
	m.Unmount(t)
	m = fs.Mount(t) // nothing cached by the kernel
	dir = filepath.Join(m.Dir, "d")
	before := txCount(t, m, "read")
	ents, err := os.ReadDir(dir)
	must(t, err)
	used := txCount(t, m, "read") - before
	if len(ents) != n {
		t.Fatalf("listed %d entries, want %d", len(ents), n)
	}
	t.Logf("listing %d entries took %.0f read transactions", n, used)
	if used > n/10 {
		t.Errorf("listing %d entries took %.0f read transactions: a lookup per name", n, used)
	}
	for i, e := range ents {
		info, err := e.Info()
		must(t, err)
		wantMode := os.FileMode(0o600) + os.FileMode(i%2)*0o044
		if info.Size() != int64(i) || info.Mode().Perm() != wantMode {
			t.Errorf("%s: size %d mode %v, want %d and %v", e.Name(), info.Size(), info.Mode().Perm(), i, wantMode)
		}
	}
}

// TestSmallWritesOneCommit: a 50 KiB file written in GNU tar's 10 KiB
// records costs its create and one commit at close, not a transaction per
// record; another mount reads it whole after the close.
func TestSmallWritesOneCommit(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	other := fs.Mount(t)
	want := bytes.Repeat([]byte("0123456789"), 5<<10)
	before := txCount(t, m, "write")
	f, err := os.Create(filepath.Join(m.Dir, "f"))
	must(t, err)
	for off := 0; off < len(want); off += 10 << 10 {
		if _, err := f.Write(want[off : off+10<<10]); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Close())
	used := txCount(t, m, "write") - before
	t.Logf("create + 5 writes of 10 KiB + close took %.0f read-write transactions", used)
	if used > 4 {
		t.Errorf("create + 5 writes of 10 KiB + close took %.0f read-write transactions, want at most 4 (create, one commit, room for a heartbeat)", used)
	}
	got, err := os.ReadFile(filepath.Join(other.Dir, "f"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("the other mount read %d bytes (%v) after the close, want the %d written", len(got), err, len(want))
	}
}

// TestSmallFileReadsTwoRoundTrips: reading 100 small files with a cold
// kernel cache costs each its lookup and its open (which reads the body
// along), both read transactions, not a transaction for the read, another
// for the access time, or a write to register an open the close ends at
// once (fs/deferopen.go). The bytes are the files', the access time
// this mount shows at once is the read's, and the other mount sees it once
// the batch of access times lands.
func TestSmallFileReadsTwoRoundTrips(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	const n = 100
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37) }
	for i := range n {
		must(t, os.WriteFile(filepath.Join(m.Dir, fmt.Sprintf("f%03d", i)), body(i), 0o644))
	}
	m.Unmount(t)
	m = fs.Mount(t) // nothing cached by the kernel
	other := fs.Mount(t)
	path := func(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("f%03d", i)) }
	st0, err := os.Stat(path(other.Dir, 0))
	must(t, err)
	start := time.Now()
	beforeR, beforeW := txCount(t, m, "read"), txCount(t, m, "write")
	for i := range n {
		got, err := os.ReadFile(path(m.Dir, i))
		must(t, err)
		if !bytes.Equal(got, body(i)) {
			t.Fatalf("f%03d: read %d bytes, want its %d", i, len(got), len(body(i)))
		}
	}
	reads, writes := txCount(t, m, "read")-beforeR, txCount(t, m, "write")-beforeW
	t.Logf("reading %d small files took %.0f read and %.0f read-write transactions", n, reads, writes)
	// Per file a lookup and an open, both reads; the room is for the
	// heartbeats, the closer's rounds and the access times' batches.
	if reads+writes > 2*n+10 {
		t.Errorf("reading %d small files took %.0f transactions, want about 2 per file", n, reads+writes)
	}
	if writes > 10 {
		t.Errorf("reading %d small files took %.0f read-write transactions, want a few batches", n, writes)
	}
	atimeOf := func(dir string) time.Time {
		st, err := os.Stat(path(dir, 0))
		must(t, err)
		return time.Unix(st.Sys().(*syscall.Stat_t).Atim.Unix())
	}
	if a := atimeOf(m.Dir); a.Before(start.Truncate(time.Second)) {
		t.Errorf("atime %v on the reading mount, want the read's (after %v)", a, start)
	}
	eventually(t, 10*time.Second, func() error {
		if a := atimeOf(other.Dir); !a.After(time.Unix(st0.Sys().(*syscall.Stat_t).Atim.Unix())) {
			return fmt.Errorf("atime %v on the other mount, want the read's (after %v)", a, start)
		}
		return nil
	})
}
