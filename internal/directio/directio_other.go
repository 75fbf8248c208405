//go:build !linux

package directio

import (
	"errors"
	"io"
	"os"
)

// WriteAt writes data to f at off (through the page cache: O_DIRECT is
// Linux's).
func WriteAt(f *os.File, data []byte, off int64) error {
	_, err := f.WriteAt(data, off)
	return err
}

// ReadAt reads into dst from off of f; at the end of the file it returns
// what there was, without error.
func ReadAt(f *os.File, dst []byte, off int64) (int, error) {
	got, err := f.ReadAt(dst, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return got, err
}
