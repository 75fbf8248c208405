//go:build linux

package sqlitestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

// TestUnwritable opens stores that cannot be written: each must fail in
// Open with one line naming the path and the problem, not with SQLite's
// "unable to open database file" or later, at the first commit. Root
// ignores file modes, so as root the directory is made read-only by a
// read-only bind mount of itself; as any other user by its mode.
func TestUnwritable(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	// A store whose own file is read-only, and one whose file is writable
	// but whose directory is not (SQLite must create -wal and -shm there).
	roFile := filepath.Join(ro, "meta.db")
	rwFile := filepath.Join(ro, "writable.db")
	rwSource := filepath.Join(dir, "source.db")
	for _, path := range []string{roFile, rwSource} {
		s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if os.Geteuid() == 0 {
		// The bind mount of rwSource over rwFile keeps that one file
		// writable inside the read-only directory.
		if err := os.WriteFile(rwFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		mount(t, ro, ro, syscall.MS_BIND)
		mount(t, ro, ro, syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY)
		mount(t, rwSource, rwFile, syscall.MS_BIND)
	} else {
		if err := os.Rename(rwSource, rwFile); err != nil {
			t.Fatal(err)
		}
		chmod(t, roFile, 0o444, 0o644)
		chmod(t, ro, 0o555, 0o755)
	}
	cases := []struct {
		name, path string
		create     bool
		want       string
	}{
		{"read-only file", roFile, false, "sqlite store " + roFile + " cannot be opened for writing: "},
		{"read-only file, create", roFile, true, "sqlite store " + roFile + " cannot be opened for writing: "},
		{"read-only directory", rwFile, false, "sqlite store " + rwFile + ": directory " + ro + " is not writable"},
		{"create in read-only directory", filepath.Join(ro, "new.db"), true, "create sqlite store " + filepath.Join(ro, "new.db") + ": "},
	}
	for _, tc := range cases {
		s, err := sqlitestore.Open(context.Background(), tc.path, sqlitestore.Options{Create: tc.create})
		if err == nil {
			s.Close()
			t.Errorf("%s: opened a store that cannot be written", tc.name)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: err = %q, want one line containing %q", tc.name, msg, tc.want)
		}
		if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: err = %v, want it to wrap EROFS or EACCES", tc.name, err)
		}
	}
}

// mount calls mount(2) and undoes it when the test ends. Without the
// privilege to mount it fails: the suite needs that privilege anyway (it
// mounts FUSE filesystems), so a skip would only hide an untested path.
func mount(t *testing.T, source, target string, flags uintptr) {
	t.Helper()
	err := syscall.Mount(source, target, "", flags, "")
	if err != nil {
		t.Fatalf("mount %s on %s: %v", source, target, err)
	}
	if flags&syscall.MS_REMOUNT != 0 {
		return // undone with the mount it changed
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
			_ = syscall.Unmount(target, syscall.MNT_DETACH)
		}
	})
}

// chmod sets path's mode and restores it when the test ends, so that the
// test's directory can be removed.
func chmod(t *testing.T, path string, mode, restore os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, restore) })
}
