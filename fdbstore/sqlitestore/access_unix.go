//go:build unix

package sqlitestore

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// checkWritableDir reports why the calling process cannot create files in
// dir, as access(2) judges it: a read-only file system fails even for root.
func checkWritableDir(dir string) error {
	return unix.Access(dir, unix.W_OK)
}

// DiskSpace reports the bytes of the disk holding the database, in all and
// free to an unprivileged writer (meta.DiskSpacer), so a filesystem with no
// configured capacity reports its disk.
func (s *Store) DiskSpace() (total, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(s.path), &st); err != nil {
		return 0, 0, fmt.Errorf("statfs of the store's disk: %w", err)
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// diskFree returns the bytes free to unprivileged writers on path's disk.
func diskFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
