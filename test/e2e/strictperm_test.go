package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStrictPermissionsAcrossMounts: with -o strict_permissions, a chmod
// on one mount holds at once for another mount's users, even while that
// mount's kernel still caches the old attributes (a 30 s attr timeout
// here): opens, creates, unlinks and renames are checked against the
// committed inode in their transactions.
func TestStrictPermissionsAcrossMounts(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	opts := []string{"--attr-timeout", "30s", "--entry-timeout", "30s", "-o", "strict_permissions,allow_other"}
	a, b := fs.Mount(t, opts...).Dir, fs.Mount(t, opts...).Dir
	dirA, dirB := filepath.Join(a, "d"), filepath.Join(b, "d")
	must(t, os.Mkdir(dirA, 0o777))
	must(t, os.Chmod(dirA, 0o777))
	writeFile(t, filepath.Join(dirA, "f"), "secret")
	must(t, os.Chmod(filepath.Join(dirA, "f"), 0o666))

	// nobody uses the files through b: b's kernel now caches d as 0777
	// and f as 0666.
	f, g, h := filepath.Join(dirB, "f"), filepath.Join(dirB, "g"), filepath.Join(dirB, "h")
	nobody.run(t,
		step{do("stat", f), 0},
		step{do("open", f, unix.O_RDONLY), 0},
		step{do("open", f, unix.O_WRONLY), 0},
		step{do("create", g, 0o644), 0},
		step{do("stat", g), 0},
	)

	// Root takes both away on a.
	must(t, os.Chmod(filepath.Join(dirA, "f"), 0o600))
	must(t, os.Chmod(dirA, 0o755))

	// At once on b, whatever its kernel cached.
	nobody.run(t,
		step{do("open", f, unix.O_RDONLY), unix.EACCES},
		step{do("open", f, unix.O_WRONLY), unix.EACCES},
		step{do("truncate", f, 0), unix.EACCES},
		step{do("create", h, 0o644), unix.EACCES},
		step{do("unlink", g), unix.EACCES},
		step{do("rename", g, h), unix.EACCES},
		step{do("chmod", f, 0o666), unix.EPERM},
		step{do("setxattr", f, "user.x", "v"), unix.EACCES},
	)
	if got, err := os.ReadFile(filepath.Join(a, "d", "f")); err != nil || string(got) != "secret" {
		t.Errorf("f holds %q (%v) after refused writes, want secret", got, err)
	}
	if _, err := os.Stat(filepath.Join(a, "d", "g")); err != nil {
		t.Errorf("g after a refused unlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a, "d", "h")); !os.IsNotExist(err) {
		t.Errorf("h after a refused create and rename: %v, want it missing", err)
	}

	// And given back: allowed at once too (the kernel's cache of the
	// directory is still the 0777 it saw first).
	must(t, os.Chmod(filepath.Join(dirA, "f"), 0o644))
	nobody.run(t, step{do("open", f, unix.O_RDONLY), 0}, step{do("open", f, unix.O_WRONLY), unix.EACCES})
}
