//go:build unix

package sqlitestore

import "golang.org/x/sys/unix"

// checkWritableDir reports why the calling process cannot create files in
// dir, as access(2) judges it: a read-only file system fails even for root.
func checkWritableDir(dir string) error {
	return unix.Access(dir, unix.W_OK)
}
