//go:build !linux

package directio

import "os"

// WriteAt writes data to f at off (through the page cache: O_DIRECT is
// Linux's).
func WriteAt(f *os.File, data []byte, off int64) error {
	_, err := f.WriteAt(data, off)
	return err
}

// openRead opens path for reading; direct is always false here.
func openRead(path string) (f *os.File, direct bool, err error) {
	f, err = os.Open(path)
	return f, false, err
}
