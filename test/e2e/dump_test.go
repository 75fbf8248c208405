package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
	"github.com/hafs/hafs/test/etcd"
	"github.com/hafs/hafs/test/minio"
)

// treeDigest describes everything a mount shows of a tree: per path its
// type, mode, owner, size, content hash, symlink target, xattrs, link count
// and which paths share an inode.
func treeDigest(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d size=%d nlink=%d blocks=%d mtime=%d", rel, st.Mode, st.Uid, st.Gid,
			st.Size, st.Nlink, st.Blocks, st.Mtim.Nano())
		if first, ok := inodes[st.Ino]; ok {
			line += " same-inode-as=" + first
		} else {
			inodes[st.Ino] = rel
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" sha256=%x", sha256.Sum256(data))
		case unix.S_IFLNK:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			line += " target=" + target
		}
		buf := make([]byte, 4096)
		n, err := unix.Llistxattr(path, buf)
		if err != nil {
			return err
		}
		names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
		sort.Strings(names)
		for _, name := range names {
			if name == "" {
				continue
			}
			v := make([]byte, 65536)
			m, err := unix.Lgetxattr(path, name, v)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" xattr:%s=%x", name, sha256.Sum256(v[:m]))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// hafsIO runs the admin binary with stdin from in and returns its stdout;
// stderr (the progress lines) is returned apart.
func hafsIO(t *testing.T, env []string, in []byte, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "hafs"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(in)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// dumpOf runs hafs dump on fs and returns it.
func dumpOf(t *testing.T, fs *FS) []byte {
	t.Helper()
	out, errOut, err := hafsIO(t, fs.Env, nil, append([]string{"dump"}, fs.storeArgs()...)...)
	if err != nil || !bytes.Contains(errOut, []byte("dumped filesystem")) {
		t.Fatalf("hafs dump: %v\n%s", err, errOut)
	}
	return out
}

// loadInto runs hafs load of dump into store and returns the new FS.
func loadInto(t *testing.T, env []string, dump []byte, store string) *FS {
	t.Helper()
	_, errOut, err := hafsIO(t, env, dump, "load", "--store", store)
	if err != nil {
		t.Fatalf("hafs load --store %s: %v\n%s", store, err, errOut)
	}
	fs := &FS{Store: store, Env: env}
	t.Cleanup(func() { fs.Check(t) })
	return fs
}

// body is a dump without its header line (which holds the dump's time).
func body(dump []byte) []byte {
	_, rest, _ := bytes.Cut(dump, []byte("\n"))
	return rest
}

// TestDumpLoadRoundTrip: a filesystem with inline and sliced (MinIO) files,
// a sparse file, xattrs, symlinks, hard links and directories is dumped
// while mounted, loaded into etcd (whose dump is byte-identical), mounted
// there and compared, dumped again and loaded into a fresh embedded store,
// mounted and compared; fsck is clean on all three; a load into a store
// that holds the filesystem is refused.
func TestDumpLoadRoundTrip(t *testing.T) {
	requireRoot(t)
	srv := minio.Start(t)
	src := NewFS(t, FSOptions{Store: "sqlite://" + filepath.Join(t.TempDir(), "meta.db"),
		Bucket: srv.Endpoint + "/hafs-dump", Env: srv.Env()})
	cluster := etcd.Start(t, 1)
	m := src.Mount(t)
	must(t, os.MkdirAll(filepath.Join(m.Dir, "a/b/c"), 0o750))
	writeFile(t, filepath.Join(m.Dir, "a/inline"), "small body, kept in the store")
	big := bytes.Repeat([]byte("sliced body in the bucket "), 200_000) // ~5 MiB
	must(t, os.WriteFile(filepath.Join(m.Dir, "a/b/sliced"), big, 0o600))
	must(t, os.WriteFile(filepath.Join(m.Dir, "a/b/c/empty"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(m.Dir, "sparse"), []byte("head"), 0o644))
	must(t, unix.Truncate(filepath.Join(m.Dir, "sparse"), 20<<20))
	must(t, os.Symlink("a/b/sliced", filepath.Join(m.Dir, "link")))
	must(t, os.Link(filepath.Join(m.Dir, "a/inline"), filepath.Join(m.Dir, "a/b/hard")))
	must(t, unix.Setxattr(filepath.Join(m.Dir, "a/inline"), "user.note", []byte("hello"), 0))
	must(t, unix.Setxattr(filepath.Join(m.Dir, "a/b"), "user.big", bytes.Repeat([]byte{7}, 30_000), 0))
	must(t, unix.Chown(filepath.Join(m.Dir, "a/b/c/empty"), 1234, 5678))
	want := treeDigest(t, m.Dir)

	dumpA := dumpOf(t, src) // while mounted
	m.Unmount(t)
	if !bytes.HasPrefix(dumpA, []byte(`{"format":"hafs-dump","version":1,`)) {
		t.Fatalf("dump header: %.100s", dumpA)
	}

	onEtcd := loadInto(t, src.Env, dumpA, cluster.StoreURL("dump"))
	if dumpB := dumpOf(t, onEtcd); !bytes.Equal(body(dumpA), body(dumpB)) {
		t.Fatalf("the dump of the loaded etcd store differs from the one loaded (%d and %d bytes)", len(dumpA), len(dumpB))
	}
	if _, errOut, err := hafsIO(t, src.Env, dumpA, "load", "--store", onEtcd.Store); err == nil ||
		!bytes.Contains(errOut, []byte("already holds")) || bytes.Count(bytes.TrimSpace(errOut), []byte("\n")) != 0 {
		t.Errorf("a load into a store holding the filesystem: %v, want a one-line refusal; stderr:\n%s", err, errOut)
	}
	e := onEtcd.Mount(t)
	if got := treeDigest(t, e.Dir); got != want {
		t.Errorf("on etcd the tree differs:\n%s\nwant:\n%s", got, want)
	}
	e.Unmount(t)

	back := loadInto(t, src.Env, dumpOf(t, onEtcd), "sqlite://"+filepath.Join(t.TempDir(), "back.db"))
	b := back.Mount(t)
	if got := treeDigest(t, b.Dir); got != want {
		t.Errorf("back on the embedded store the tree differs:\n%s\nwant:\n%s", got, want)
	}
	wantContent(t, filepath.Join(b.Dir, "a/b/sliced"), big)
	b.Unmount(t)
}

// TestMetadataBackup: a mount with --backup-interval puts gzip-compressed
// dumps into the primary bucket and keeps the newest --backup-keep; the
// newest loads into a fresh store as a filesystem that has the files
// written before it, fsck-clean.
func TestMetadataBackup(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	m := fs.Mount(t, "--backup-interval", "300ms", "--backup-keep", "2")
	// backups lists the backups in the bucket and when each was taken.
	backups := func() (keys []string, taken []time.Time) {
		err := obj.List(context.Background(), s3tier.BackupPrefix, func(o routing.Object) error {
			stamp := strings.TrimSuffix(o.Key[strings.LastIndex(o.Key, "-")+1:], ".json.gz")
			at, err := time.Parse("20060102T150405.000Z", stamp)
			if err != nil {
				return fmt.Errorf("backup key %s: %w", o.Key, err)
			}
			keys, taken = append(keys, o.Key), append(taken, at)
			return nil
		})
		must(t, err)
		return keys, taken
	}
	eventually(t, 30*time.Second, func() error {
		if keys, _ := backups(); len(keys) == 0 {
			return fmt.Errorf("no backup in the bucket")
		}
		return nil
	})
	writeFile(t, filepath.Join(m.Dir, "before-backup"), "in the backup")
	created := time.Now().UTC().Truncate(time.Millisecond)
	var keys []string
	eventually(t, 30*time.Second, func() error {
		// Both kept backups were named after the file was written (in a
		// later millisecond), and one before it is gone: the oldest are
		// deleted (keep 2). The newest began after the older was named,
		// so its snapshot holds the file.
		var taken []time.Time
		keys, taken = backups()
		if len(keys) != 2 || !taken[0].After(created) {
			return fmt.Errorf("backups in the bucket: %v, want 2 taken after %v", keys, created)
		}
		return nil
	})
	data, err := obj.Get(context.Background(), keys[len(keys)-1], 0, -1)
	must(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(data))
	must(t, err)
	dump, err := io.ReadAll(zr)
	must(t, err)
	restored := loadInto(t, fs.Env, dump, "sqlite://"+filepath.Join(t.TempDir(), "restored.db"))
	r := restored.Mount(t)
	wantContent(t, filepath.Join(r.Dir, "before-backup"), []byte("in the backup"))
}
