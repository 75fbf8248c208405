package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/test/etcd"
	"github.com/hafs/hafs/test/minio"
)

func statfsOf(t *testing.T, dir string) unix.Statfs_t {
	t.Helper()
	var st unix.Statfs_t
	must(t, unix.Statfs(dir, &st))
	if st.Bfree > st.Blocks || st.Bavail > st.Bfree || st.Ffree > st.Files {
		t.Fatalf("statfs of %s: %d blocks, %d free, %d available; %d files, %d free", dir,
			st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree)
	}
	return st
}

func usedBytes(st unix.Statfs_t) int64 { return int64(st.Blocks-st.Bfree) * int64(st.Bsize) }

// TestSpaceCapacity: with --capacity and --inodes, df shows them; used
// space is allocated bytes (a sparse truncate to 1T or 4E uses nothing and
// free space never wraps), fallocate reserves or fails with ENOSPC, writes
// and creates past the limits fail with ENOSPC, rm gives the space back,
// and hafs config changes the limits of the mounted filesystem.
func TestSpaceCapacity(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{MkfsArgs: []string{"--capacity", "16M", "--inodes", "50"}})
	m := fs.Mount(t)
	st := statfsOf(t, m.Dir)
	if total := int64(st.Blocks) * st.Bsize; total != 16<<20 || st.Files != 50 || st.Ffree != 49 {
		t.Fatalf("statfs: %d bytes, %d inodes (%d free); want 16 MiB, 50 (49 free)", total, st.Files, st.Ffree)
	}

	sparse := filepath.Join(m.Dir, "sparse")
	for _, size := range []int64{1 << 40, 4 << 60} {
		must(t, os.WriteFile(sparse, nil, 0o644))
		must(t, unix.Truncate(sparse, size))
		if st := statfsOf(t, m.Dir); usedBytes(st) != 0 || stat(t, sparse).Blocks != 0 {
			t.Errorf("truncate -s %d: df used %d bytes, the file %d blocks; want 0", size, usedBytes(st), stat(t, sparse).Blocks)
		}
	}

	data := make([]byte, 1<<20)
	must(t, os.WriteFile(filepath.Join(m.Dir, "one-mib"), data, 0o644))
	if used := usedBytes(statfsOf(t, m.Dir)); used != 1<<20 {
		t.Errorf("after writing 1 MiB: df used %d bytes", used)
	}

	fd := openFD(t, filepath.Join(m.Dir, "reserved"), unix.O_RDWR|unix.O_CREAT, 0o644)
	wantErrno(t, "fallocate -l 2T on a 16 MiB filesystem", unix.Fallocate(fd, 0, 0, 2<<40), unix.ENOSPC)
	must(t, unix.Fallocate(fd, 0, 0, 4<<20))
	if st := fstat(t, fd); st.Size != 4<<20 || st.Blocks != 4<<20/512 {
		t.Errorf("fallocate -l 4M: size %d, %d blocks", st.Size, st.Blocks)
	}
	if used := usedBytes(statfsOf(t, m.Dir)); used != 5<<20 {
		t.Errorf("after fallocate of 4 MiB: df used %d bytes, want 5 MiB", used)
	}
	must(t, unix.Close(fd))

	// Writes until the capacity refuses: ENOSPC, not EIO, before 16 MiB.
	big := openFD(t, filepath.Join(m.Dir, "big"), unix.O_WRONLY|unix.O_CREAT, 0o644)
	var written int64
	for ; written < 32<<20; written += int64(len(data)) {
		if _, err := unix.Pwrite(big, data, written); err != nil {
			wantErrno(t, "a write past the capacity", err, unix.ENOSPC)
			break
		}
	}
	must(t, unix.Close(big))
	if written+5<<20 > 16<<20 || written < 8<<20 {
		t.Errorf("the writes stopped after %d bytes, with 5 MiB already used of 16 MiB", written)
	}
	for _, name := range []string{"big", "reserved", "one-mib", "sparse"} {
		must(t, os.Remove(filepath.Join(m.Dir, name)))
	}
	// The kernel releases a closed file after close(2) returns; an
	// unlinked file's space goes at its release.
	eventually(t, 10*time.Second, func() error {
		if used := usedBytes(statfsOf(t, m.Dir)); used != 0 {
			return fmt.Errorf("every file removed: df used %d bytes", used)
		}
		return nil
	})

	// The inode limit, lowered on the mounted filesystem.
	if out, err := hafsAdmin(t, fs, "config", "--inodes", "5"); err != nil || !strings.Contains(out, "inodes:   5 (1 used)") {
		t.Fatalf("hafs config --inodes 5: %v\n%s", err, out)
	}
	for i := range 5 {
		err := os.WriteFile(filepath.Join(m.Dir, "f"+string(rune('a'+i))), nil, 0o644)
		if i < 4 {
			must(t, err)
		} else {
			wantErrno(t, "the sixth inode of 5", err, unix.ENOSPC)
		}
	}
	if st := statfsOf(t, m.Dir); st.Files != 5 || st.Ffree != 0 {
		t.Errorf("statfs after the inode limit: %d files, %d free; want 5, 0", st.Files, st.Ffree)
	}
	if out, err := hafsAdmin(t, fs, "config", "--capacity", "-5"); err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("hafs config --capacity -5: %v, want a one-line error; output:\n%s", err, out)
	}
}

// TestSpaceNoLimit: without --capacity, a filesystem keeping its bodies in
// the embedded store reports that store's disk, and fallocate beyond the
// disk's free space fails with ENOSPC instead of returning 0 at once.
func TestSpaceNoLimit(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	path, ok := strings.CutPrefix(fs.Store, "sqlite://")
	if !ok {
		t.Skipf("store %s: the disk check is the embedded store's", fs.Store)
	}
	m := fs.Mount(t)
	var disk unix.Statfs_t
	must(t, unix.Statfs(filepath.Dir(path), &disk))
	st := statfsOf(t, m.Dir)
	total, diskFree := int64(st.Blocks)*st.Bsize, int64(disk.Bavail)*disk.Bsize
	// Other processes write to the same disk meanwhile: within 1%.
	if d := total - diskFree; d < -diskFree/100 || d > diskFree/100 {
		t.Errorf("statfs without a capacity: %d bytes, the store's disk has %d free", total, diskFree)
	}
	fd := openFD(t, filepath.Join(m.Dir, "f"), unix.O_RDWR|unix.O_CREAT, 0o644)
	defer unix.Close(fd)
	if diskFree < 2<<40 {
		wantErrno(t, "fallocate -l 2T beyond the store's disk", unix.Fallocate(fd, 0, 0, 2<<40), unix.ENOSPC)
	}
	must(t, unix.Fallocate(fd, 0, 0, 1<<20))
	if used := usedBytes(statfsOf(t, m.Dir)); used != 1<<20 {
		t.Errorf("after fallocate of 1 MiB: df used %d bytes", used)
	}
}

// TestSpaceEtcd: without --capacity, a filesystem keeping its bodies in
// etcd reports the cluster's backend quota (etcd's default 2 GiB, or the
// URL's quota-backend-bytes), less what the database uses.
func TestSpaceEtcd(t *testing.T) {
	requireRoot(t)
	c := etcd.Start(t, 1)
	for _, tc := range []struct {
		query string
		quota int64
	}{{"", 2 << 30}, {"?quota-backend-bytes=1073741824", 1 << 30}} {
		fs := NewFS(t, FSOptions{Store: c.StoreURL("space") + tc.query})
		m := fs.Mount(t)
		st := statfsOf(t, m.Dir)
		if total := int64(st.Blocks) * st.Bsize; total != tc.quota || st.Bfree == 0 || st.Bfree >= st.Blocks {
			t.Errorf("statfs on etcd%s: %d bytes, %d of %d blocks free; want %d bytes, some used by the database",
				tc.query, total, st.Bfree, st.Blocks, tc.quota)
		}
		m.Unmount(t)
	}
}

// TestSpaceCapacityS3: with bodies in a bucket, the capacity bounds the
// slices too: writing past it fails with ENOSPC by the fsync at the
// latest, df never shows more than the capacity used, and rm gives the
// space back.
func TestSpaceCapacityS3(t *testing.T) {
	requireRoot(t)
	srv := minio.Start(t)
	fs := NewFS(t, FSOptions{Bucket: srv.Endpoint + "/hafs-capacity", Env: srv.Env(),
		MkfsArgs: []string{"--capacity", "6M"}})
	m := fs.Mount(t)
	path := filepath.Join(m.Dir, "big")
	fd := openFD(t, path, unix.O_WRONLY|unix.O_CREAT, 0o644)
	data := bytes.Repeat([]byte("s3"), 1<<19) // 1 MiB
	var err error
	for off := int64(0); off < 12<<20 && err == nil; off += int64(len(data)) {
		_, err = unix.Pwrite(fd, data, off)
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	wantErrno(t, "writing 12 MiB into 6 MiB of capacity, by the fsync", err, unix.ENOSPC)
	_ = unix.Close(fd) // may repeat the write-back error
	if used := usedBytes(statfsOf(t, m.Dir)); used > 6<<20 {
		t.Errorf("df used %d bytes of a 6 MiB capacity", used)
	}
	must(t, os.Remove(path))
	eventually(t, 10*time.Second, func() error {
		if used := usedBytes(statfsOf(t, m.Dir)); used != 0 {
			return fmt.Errorf("the file removed: df used %d bytes", used)
		}
		return nil
	})
}
