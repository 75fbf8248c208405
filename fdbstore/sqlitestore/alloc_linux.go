package sqlitestore

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocate makes f n bytes long with its blocks allocated, so the reserve
// really holds the space (a sparse file would hold none).
func allocate(f *os.File, n int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, n)
}
