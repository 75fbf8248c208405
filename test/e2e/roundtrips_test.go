package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
