package directio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

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

// openRead opens path for reading with O_DIRECT, or without it on a
// filesystem that refuses it; direct says which.
func openRead(path string) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		f, err = os.Open(path)
		return f, false, err
	}
	return f, err == nil, err
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
