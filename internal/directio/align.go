package directio

import (
	"errors"
	"io"
	"os"
	"unsafe"
)

// align is the alignment O_DIRECT needs of the buffer, the offset and the
// length: 4 KiB covers every logical block size in use.
const align = 4096

func aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%align == 0
}

// readAll is f.ReadAt with the end of the file not an error: the caller
// checks lengths.
func readAll(f *os.File, dst []byte, off int64) (int, error) {
	got, err := f.ReadAt(dst, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return got, err
}
