//go:build !unix

package sqlitestore

import "errors"

// checkWritableDir has no portable test off Unix; SQLite's own error is
// reported instead.
func checkWritableDir(string) error { return nil }

// DiskSpace is not known off Unix.
func (s *Store) DiskSpace() (total, free uint64, err error) {
	return 0, 0, errors.New("disk space: not supported on this system")
}

func diskFree(string) (uint64, error) { return 0, errors.New("not supported on this system") }
