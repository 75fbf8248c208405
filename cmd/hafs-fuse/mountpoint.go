package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// checkMountpoint refuses a missing, non-directory or already mounted path,
// and returns it absolute with symlinks resolved: the kernel mounts on the
// directory a symlink leads to, and the mount table lists that one.
func checkMountpoint(mnt string) (string, error) {
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("mount point %s does not exist", abs)
	case err != nil:
		return "", fmt.Errorf("mount point %s: %w", abs, errors.Unwrap(err))
	case !st.IsDir():
		return "", fmt.Errorf("mount point %s is not a directory", abs)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if err := checkNotMounted(abs); err != nil {
		return "", err
	}
	return abs, nil
}

func checkNotMounted(abs string) error {
	if mounted, err := isMountpoint(abs); err != nil {
		return err
	} else if mounted {
		return fmt.Errorf("mount point %s is already mounted", abs)
	}
	return nil
}

// checkEmpty refuses a mount point holding files, which the mount would
// hide (they come back after unmounting, but programs would not see them
// meanwhile), unless nonempty says to mount over them.
func checkEmpty(abs string, nonempty bool) error {
	if nonempty {
		return nil
	}
	d, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mount point: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty: the mount would hide its files (use -o nonempty or --nonempty to mount over them)", abs)
	}
	return nil
}

// claimMountpoint makes the checks of abs hold until the mount is made:
// it takes an exclusive lock keyed by the directory's device and inode
// (so every path to it, symlinks included, shares it) and checks again,
// under the lock, that nothing is mounted there. Two hafs-fuse started at
// once on one directory then mount it once: the loser either finds the
// lock held or, once the winner mounted and released it, the mount.
// Call release once the mount syscall has returned.
func claimMountpoint(abs string, nonempty bool) (release func(), err error) {
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return nil, fmt.Errorf("mount point %s: %w", abs, err)
	}
	dir := "/run/lock"
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("hafs-mount-%d-%d.lock", st.Dev, st.Ino))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, os.ErrPermission) {
		f, err = os.Open(path) // another user's lock file: flock needs no write access
	}
	if err != nil {
		return nil, fmt.Errorf("lock of mount point %s: %w", abs, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("mount point %s is being mounted by another process", abs)
		}
		return nil, fmt.Errorf("lock of mount point %s: %w", abs, err)
	}
	release = sync.OnceFunc(func() { f.Close() })
	if err := checkNotMounted(abs); err != nil {
		release()
		return nil, err
	}
	if err := checkEmpty(abs, nonempty); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// isMountpoint reports whether path is the mount point of a mounted
// filesystem, per /proc/self/mountinfo.
func isMountpoint(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == path {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes the octal escapes of spaces and such in mountinfo.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
