package e2e

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// capNetBindService is a version-2 security.capability value granting
// CAP_NET_BIND_SERVICE (permitted and effective).
func capNetBindService() []byte {
	v := make([]byte, 20)
	binary.LittleEndian.PutUint32(v[0:], 0x02000001) // VFS_CAP_REVISION_2 | effective
	binary.LittleEndian.PutUint32(v[4:], 1<<unix.CAP_NET_BIND_SERVICE)
	return v
}

func hasCapability(t *testing.T, path string) bool {
	t.Helper()
	_, err := unix.Getxattr(path, "security.capability", make([]byte, 64))
	if errors.Is(err, unix.ENODATA) {
		return false
	}
	must(t, err)
	return true
}

// TestWriteDropsCapability: a write drops the file's capabilities, as on a
// local filesystem, whether they were set by this client while the file
// was open or by another client before this one opened it; and writes do
// not each cost a transaction for the kernel's capability check.
func TestWriteDropsCapability(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	a, b := fs.Mount(t), fs.Mount(t)
	pa, pb := filepath.Join(a.Dir, "tool"), filepath.Join(b.Dir, "tool")

	f, err := os.OpenFile(pa, os.O_WRONLY|os.O_CREATE, 0o755)
	must(t, err)
	defer f.Close()
	block := make([]byte, 32<<10)
	before := txCount(t, a, "read")
	const writes = 200
	for range writes {
		_, err := f.Write(block)
		must(t, err)
	}
	if used := txCount(t, a, "read") - before; used > writes/4 {
		t.Errorf("%d writes took %.0f read transactions: one per write for the capability check", writes, used)
	}

	// Set on this client while open, then a write through the open file.
	must(t, unix.Setxattr(pa, "security.capability", capNetBindService(), 0))
	if !hasCapability(t, pa) {
		t.Fatal("security.capability set, then not there")
	}
	_, err = f.Write(block)
	must(t, err)
	if hasCapability(t, pa) {
		t.Error("a write through an open file kept the capability this client set")
	}
	must(t, f.Close())

	// Set on the other client, then an open and a write here.
	must(t, unix.Setxattr(pb, "security.capability", capNetBindService(), 0))
	g, err := os.OpenFile(pa, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = g.Write(block)
	must(t, err)
	must(t, g.Close())
	if hasCapability(t, pb) {
		t.Error("a write after an open kept the capability another client set before the open")
	}
}
