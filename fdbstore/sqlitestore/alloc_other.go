//go:build !linux

package sqlitestore

import "os"

// allocate writes n bytes of zeros: without fallocate, that is how the
// blocks get allocated.
func allocate(f *os.File, n int64) error {
	_, err := f.WriteAt(make([]byte, n), 0)
	return err
}
