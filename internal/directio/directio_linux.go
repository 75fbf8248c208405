package directio

import (
	"errors"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// align is the alignment O_DIRECT needs of the buffer, the offset and the
// length: 4 KiB covers every logical block size in use.
const align = 4096

// minRead is the smallest read worth O_DIRECT: below it the page cache's
// read-ahead and reuse are worth the copy.
const minRead = 64 << 10

// WriteAt writes data to f at off.
func WriteAt(f *os.File, data []byte, off int64) error {
	n := len(data) &^ (align - 1)
	done := 0
	if n > 0 && off%align == 0 && aligned(data) && setDirect(f, true) == nil {
		w, err := f.WriteAt(data[:n], off)
		if serr := setDirect(f, false); serr != nil {
			return serr
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
		// On EINVAL the filesystem took the flag but not this write: the
		// rest goes through the page cache.
		done = w
	}
	if done < len(data) {
		if _, err := f.WriteAt(data[done:], off+int64(done)); err != nil {
			return err
		}
	}
	return nil
}

// ReadAt reads into dst from off of f; at the end of the file it returns
// what there was, without error.
func ReadAt(f *os.File, dst []byte, off int64) (int, error) {
	n := len(dst) &^ (align - 1)
	done := 0
	if n >= minRead && off%align == 0 && aligned(dst) && setDirect(f, true) == nil {
		got, err := f.ReadAt(dst[:n], off)
		if serr := setDirect(f, false); serr != nil {
			return got, serr
		}
		switch {
		case errors.Is(err, io.EOF):
			return got, nil
		case err != nil && !errors.Is(err, unix.EINVAL):
			return got, err
		case err == nil && n == len(dst):
			return got, nil
		}
		done = got // 0 on EINVAL: the filesystem took the flag, not the read
	}
	got, err := f.ReadAt(dst[done:], off+int64(done))
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return done + got, err
}

func aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%align == 0
}

// setDirect turns O_DIRECT on or off for f.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			ferr = err
			return
		}
		if on {
			flags |= unix.O_DIRECT
		} else {
			flags &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, flags)
	})
	if err != nil {
		return err
	}
	return ferr
}
