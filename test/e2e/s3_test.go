package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
	"github.com/hafs/hafs/test/minio"
)

// s3FS makes a filesystem whose large bodies live in a fresh MinIO.
func s3FS(t *testing.T) (*FS, *minio.Server, *routing.S3) {
	t.Helper()
	srv := minio.Start(t)
	fs := NewFS(t, FSOptions{Bucket: srv.Endpoint + "/hafs-e2e", Env: srv.Env()})
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	site, err := routing.ParseBucketURL(srv.Endpoint + "/hafs-e2e")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := routing.OpenS3(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	return fs, srv, obj
}

// sliceObjects lists the slice objects in the bucket.
func sliceObjects(t *testing.T, obj routing.ObjectStore) map[uint64]int64 {
	t.Helper()
	out := map[uint64]int64{}
	err := obj.List(context.Background(), s3tier.ObjectPrefix, func(o routing.Object) error {
		if id, ok := s3tier.ParseObjectKey(o.Key); ok {
			out[id] = o.Size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dropCaches empties the kernel's page cache, so reads reach the mount.
func dropCaches(t testing.TB) {
	t.Helper()
	unix.Sync()
	must(t, os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200))
}

// hafsAdmin runs the admin binary on fs and returns its output.
func hafsAdmin(t *testing.T, fs *FS, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "hafs"), append(args[:1:1], append(fs.storeArgs(), args[1:]...)...)...)
	cmd.Env = append(os.Environ(), fs.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestS3RandomWorkload applies random writes, overwrites, appends,
// truncates and holes through the mount to a file and to a reference kept
// in memory, and compares them byte for byte: through the mount, after a
// remount with the page cache dropped, and through a second mount.
func TestS3RandomWorkload(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	a := fs.Mount(t)
	path := filepath.Join(a.Dir, "f")
	fd := openFD(t, path, unix.O_RDWR|unix.O_CREAT, 0o644)
	rng := rand.New(rand.NewPCG(3, 4))
	var ref []byte
	const maxSize = 24 << 20
	for step := range 200 {
		switch op := rng.IntN(10); {
		case op < 7:
			off := rng.Int64N(maxSize)
			if rng.IntN(3) == 0 {
				off = int64(len(ref))
			}
			n := 1 + rng.IntN(3<<20)
			if rng.IntN(3) == 0 {
				n = 1 + rng.IntN(5000)
			}
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			pwrite(t, fd, data, off)
			if end := int(off) + n; end > len(ref) {
				ref = append(ref, make([]byte, end-len(ref))...)
			}
			copy(ref[off:], data)
		case op < 9:
			size := rng.Int64N(maxSize)
			must(t, unix.Ftruncate(fd, size))
			if int(size) < len(ref) {
				ref = ref[:size]
			} else {
				ref = append(ref, make([]byte, int(size)-len(ref))...)
			}
		default:
			if len(ref) > 0 {
				off := rng.Int64N(int64(len(ref)))
				n := 1 + rng.Int64N(4<<20)
				must(t, unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n))
				clear(ref[off:min(int64(len(ref)), off+n)])
			}
		}
		if step%25 == 24 {
			if got := pread(t, fd, len(ref)+10, 0); !bytes.Equal(got, ref) {
				t.Fatalf("step %d: read through the open file differs at %d (%d vs %d bytes)", step, firstDiff(got, ref), len(got), len(ref))
			}
		}
	}
	must(t, unix.Fsync(fd))
	must(t, unix.Close(fd))
	if len(sliceObjects(t, obj)) == 0 {
		t.Fatal("no object in the bucket: the body stayed inline")
	}
	b := fs.Mount(t)
	wantContent(t, filepath.Join(b.Dir, "f"), ref)
	dropCaches(t)
	wantContent(t, path, ref)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// hashFile streams a file through SHA-256.
func hashFile(t *testing.T, path string) ([32]byte, int64) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	must(t, err)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n
}

// patternReader yields size deterministic pseudo-random bytes.
type patternReader struct {
	rng  *rand.ChaCha8
	left int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	_, _ = p.rng.Read(b[:n])
	p.left -= int64(n)
	return n, nil
}

func pattern1(size int64) io.Reader {
	return &patternReader{rng: rand.NewChaCha8([32]byte{1}), left: size}
}

// TestS3LargeFile writes a 1 GiB file sequentially, reads it back on
// another mount with the page cache dropped, and deletes it: its objects
// leave the bucket within 60 s.
func TestS3LargeFile(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	a, b := fs.Mount(t), fs.Mount(t)
	const size = 1 << 30
	path := filepath.Join(a.Dir, "big")
	f, err := os.Create(path)
	must(t, err)
	h := sha256.New()
	start := time.Now()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(pattern1(size), size)); err != nil {
		t.Fatal(err)
	}
	must(t, f.Sync())
	must(t, f.Close())
	t.Logf("1 GiB written and fsync'd in %v", time.Since(start).Round(time.Millisecond))
	var want [32]byte
	copy(want[:], h.Sum(nil))
	dropCaches(t)
	start = time.Now()
	if got, n := hashFile(t, filepath.Join(b.Dir, "big")); got != want || n != size {
		t.Fatalf("read back on the other mount: %d bytes, hash differs: %v", n, got != want)
	}
	t.Logf("1 GiB read cold on the other mount in %v", time.Since(start).Round(time.Millisecond))
	if n := len(sliceObjects(t, obj)); n < size/(4<<20) {
		t.Fatalf("%d objects for 1 GiB", n)
	}
	must(t, os.Remove(path))
	eventually(t, 60*time.Second, func() error {
		if n := len(sliceObjects(t, obj)); n > 0 {
			return fmt.Errorf("%d objects of the deleted file still in the bucket", n)
		}
		return nil
	})
}

// TestS3CloseToOpen: data written and closed on one mount is what another
// mount reads after opening, for bodies inline and in objects.
func TestS3CloseToOpen(t *testing.T) {
	requireRoot(t)
	fs, _, _ := s3FS(t)
	a, b := fs.Mount(t), fs.Mount(t)
	for i, size := range []int{0, 100, 64 << 10, 1 << 20, 9<<20 + 7} {
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		p := fmt.Sprintf("cto-%d", i)
		must(t, os.WriteFile(filepath.Join(writer.Dir, p), data, 0o644))
		wantContent(t, filepath.Join(reader.Dir, p), data)
		// Overwrite the middle and read again from the other side.
		if size > 10 {
			f := openFD(t, filepath.Join(writer.Dir, p), unix.O_RDWR, 0)
			pwrite(t, f, []byte("MIDDLE"), int64(size/2))
			must(t, unix.Close(f))
			copy(data[size/2:], "MIDDLE")
			wantContent(t, filepath.Join(reader.Dir, p), data)
		}
	}
}

// TestS3CorruptObject: an object changed behind HAFS's back is detected on
// read (EIO), never returned as data.
func TestS3CorruptObject(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	a := fs.Mount(t)
	data := bytes.Repeat([]byte("precious "), 300_000)
	must(t, os.WriteFile(filepath.Join(a.Dir, "f"), data, 0o644))
	objs := sliceObjects(t, obj)
	if len(objs) == 0 {
		t.Fatal("no objects written")
	}
	for id, size := range objs {
		bad := bytes.Repeat([]byte{'#'}, int(size))
		must(t, obj.Put(context.Background(), s3tier.ObjectKey(id), bad))
	}
	b := fs.Mount(t) // a fresh client: nothing cached
	dropCaches(t)
	_, err := os.ReadFile(filepath.Join(b.Dir, "f"))
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("read of corrupted objects: %v, want EIO", err)
	}
	if !strings.Contains(b.Output(), "checksum mismatch") {
		t.Errorf("the mount did not log the checksum mismatch:\n%s", b.Output())
	}
	if v := metric(t, b, "hafs_checksum_errors_total"); v < 1 {
		t.Errorf("hafs_checksum_errors_total = %v after a mismatch, want >= 1", v)
	}
}

// metricsURL returns the base URL of a mount's metrics server, from the
// address it logged.
func metricsURL(t testing.TB, m *Mount) string {
	t.Helper()
	_, rest, ok := strings.Cut(m.Output(), " metrics=")
	if !ok {
		t.Fatalf("the mount logged no metrics address:\n%s", m.Output())
	}
	return "http://" + strings.Fields(rest)[0]
}

// metric reads one unlabelled metric from a mount's /metrics.
func metric(t *testing.T, m *Mount, name string) float64 {
	t.Helper()
	body, code := httpGet(t, metricsURL(t, m)+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: status %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

func httpGet(t testing.TB, url string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return string(b), resp.StatusCode
}

// TestS3ServerDown stops MinIO under a mount: reads of data not cached and
// writes fail with EIO within the bounded retry time, nothing acknowledged
// is lost, and all works again once the server is back.
func TestS3ServerDown(t *testing.T) {
	requireRoot(t)
	fs, srv, _ := s3FS(t)
	a := fs.Mount(t)
	kept := bytes.Repeat([]byte("acknowledged "), 500_000)
	must(t, os.WriteFile(filepath.Join(a.Dir, "kept"), kept, 0o644))
	dropCaches(t)

	if body, code := httpGet(t, metricsURL(t, a)+"/healthz"); code != 200 {
		t.Errorf("/healthz with the server up: %d %s", code, body)
	}
	srv.Stop()
	if body, code := httpGet(t, metricsURL(t, a)+"/healthz"); code != 503 || !strings.Contains(body, "primary site") {
		t.Errorf("/healthz with the server down: %d %s, want 503 naming the primary site", code, body)
	}
	start := time.Now()
	if _, err := os.ReadFile(filepath.Join(a.Dir, "kept")); !errors.Is(err, unix.EIO) {
		t.Errorf("read with the server down: %v, want EIO", err)
	}
	t.Logf("read failed after %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	f, err := os.Create(filepath.Join(a.Dir, "new"))
	must(t, err)
	_, werr := f.Write(bytes.Repeat([]byte("x"), 8<<20))
	serr := f.Sync()
	cerr := f.Close()
	if werr == nil && serr == nil && cerr == nil {
		t.Errorf("an 8 MiB write and fsync succeeded with the server down")
	}
	t.Logf("write failed after %v (write %v, fsync %v, close %v)", time.Since(start).Round(time.Millisecond), werr, serr, cerr)

	srv.Start()
	// The site's breaker opened while it was down; it closes at the first
	// successful probe after its cool-down (5 s), which /healthz shows.
	start = time.Now()
	waitHealthy(t, a)
	t.Logf("healthy again %v after the restart", time.Since(start).Round(time.Millisecond))
	wantContent(t, filepath.Join(a.Dir, "kept"), kept)
	again := bytes.Repeat([]byte("again "), 1_000_000)
	must(t, os.WriteFile(filepath.Join(a.Dir, "new"), again, 0o644))
	dropCaches(t)
	wantContent(t, filepath.Join(a.Dir, "new"), again)
}

// TestS3KillDuringWrite kills the mount with -9 in the middle of large
// writes, three times: every fsync'd byte survives, fsck is clean, and
// after gc no unreferenced object is left.
func TestS3KillDuringWrite(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	synced := 0
	for round := range 3 {
		m := fs.Mount(t, fastSessions...)
		path := filepath.Join(m.Dir, "log")
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		must(t, err)
		for range 8 {
			_, err := f.Write(chunk)
			must(t, err)
		}
		must(t, f.Sync())
		synced += 8
		// More writes in flight, not synced, then the crash once the writer
		// is partway (later each round).
		done := make(chan struct{})
		var written atomic.Int32
		go func() {
			defer close(done)
			for range 32 {
				if _, err := f.Write(chunk); err != nil {
					return
				}
				written.Add(1)
			}
		}()
		eventually(t, 30*time.Second, func() error {
			if n := written.Load(); n < int32(4*(round+1)) {
				return fmt.Errorf("%d unsynced writes so far", n)
			}
			return nil
		})
		m.Kill(t)
		<-done
		f.Close()
	}
	m := fs.Mount(t, fastSessions...)
	st, err := os.Stat(filepath.Join(m.Dir, "log"))
	must(t, err)
	if st.Size() < int64(synced)*int64(len(chunk)) {
		t.Fatalf("log is %d bytes; %d MiB were fsync'd", st.Size(), synced)
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "log"))
	must(t, err)
	for i := 0; i < len(got); i += len(chunk) {
		if !bytes.Equal(got[i:min(len(got), i+len(chunk))], chunk[:min(len(chunk), len(got)-i)]) {
			t.Fatalf("log corrupted at MiB %d", i/len(chunk))
		}
	}
	gcLeavesNoOrphans(t, fs, obj)
}

// gcLeavesNoOrphans waits until the dead sessions of killed mounts have
// expired (their unfinished uploads are then queued for deletion), runs gc,
// and wants fsck clean with every object in the bucket referenced once.
func gcLeavesNoOrphans(t *testing.T, fs *FS, obj routing.ObjectStore) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		cs := listClients(t, fs)
		if len(cs) != 1 {
			return fmt.Errorf("%d clients listed, want only the live mount", len(cs))
		}
		return nil
	})
	if out, err := hafsAdmin(t, fs, "gc", "--grace", "0s"); err != nil {
		t.Fatalf("hafs gc: %v\n%s", err, out)
	}
	out, err := hafsAdmin(t, fs, "fsck")
	if err != nil || !strings.Contains(out, "clean") {
		t.Fatalf("hafs fsck after kills: %v\n%s", err, out)
	}
	objs := sliceObjects(t, obj)
	if !strings.Contains(out, fmt.Sprintf("objects: %d in the bucket, %d references", len(objs), len(objs))) {
		t.Fatalf("after gc every object must be referenced once; bucket holds %d:\n%s", len(objs), out)
	}
}

// TestS3FsckRepairAndGC: an object lost from the bucket is reported by
// hafs fsck (exit 1); --repair turns the range into a hole and fsck is clean
// again; gc --dry-run lists an unreferenced object without deleting it, and
// gc deletes it.
func TestS3FsckRepairAndGC(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	a := fs.Mount(t)
	data := bytes.Repeat([]byte("keep me "), 200_000) // 1.6 MB: one object
	must(t, os.WriteFile(filepath.Join(a.Dir, "f"), data, 0o644))
	objs := sliceObjects(t, obj)
	if len(objs) != 1 {
		t.Fatalf("want exactly one object, bucket has %v", objs)
	}
	ctx := context.Background()
	for id := range objs {
		must(t, obj.Delete(ctx, s3tier.ObjectKey(id)))
	}
	if out, err := hafsAdmin(t, fs, "fsck"); err == nil || !strings.Contains(out, "missing") {
		t.Fatalf("fsck with a lost object: %v\n%s", err, out)
	}
	if out, err := hafsAdmin(t, fs, "fsck", "--repair"); !strings.Contains(out, "repaired") {
		t.Fatalf("fsck --repair: %v\n%s", err, out)
	}
	if out, err := hafsAdmin(t, fs, "fsck"); err != nil || !strings.Contains(out, "clean") {
		t.Fatalf("fsck after repair: %v\n%s", err, out)
	}
	b := fs.Mount(t)
	wantContent(t, filepath.Join(b.Dir, "f"), make([]byte, len(data)))

	// An object nothing references.
	must(t, obj.Put(ctx, s3tier.ObjectKey(999_999), []byte("stray")))
	out, err := hafsAdmin(t, fs, "gc", "--grace", "0s", "--dry-run")
	if err != nil || !strings.Contains(out, "would delete "+s3tier.ObjectKey(999_999)) {
		t.Fatalf("gc --dry-run: %v\n%s", err, out)
	}
	if _, ok := sliceObjects(t, obj)[999_999]; !ok {
		t.Fatal("gc --dry-run deleted the stray object")
	}
	if out, err := hafsAdmin(t, fs, "gc", "--grace", "0s"); err != nil || !strings.Contains(out, "1 deleted") {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	if _, ok := sliceObjects(t, obj)[999_999]; ok {
		t.Fatal("gc left the stray object")
	}
}

// TestS3CorruptMinIODataDir flips bytes of an object's part file inside
// MinIO's own data directory: the read must fail (MinIO's bitrot check or
// HAFS's CRC32C), never return the damaged bytes.
func TestS3CorruptMinIODataDir(t *testing.T) {
	requireRoot(t)
	fs, srv, _ := s3FS(t)
	a := fs.Mount(t)
	data := bytes.Repeat([]byte("on disk "), 400_000)
	must(t, os.WriteFile(filepath.Join(a.Dir, "f"), data, 0o644))
	var parts []string
	must(t, filepath.WalkDir(filepath.Join(srv.DataDir, "hafs-e2e"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "part.") {
			parts = append(parts, p)
		}
		return err
	}))
	if len(parts) == 0 {
		t.Fatal("no object part files in MinIO's data directory")
	}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		must(t, err)
		for i := len(b) / 3; i < len(b)/3+64; i++ {
			b[i] ^= 0x5a
		}
		must(t, os.WriteFile(p, b, 0o644))
	}
	b := fs.Mount(t)
	dropCaches(t)
	got, err := os.ReadFile(filepath.Join(b.Dir, "f"))
	if err == nil && !bytes.Equal(got, data) {
		t.Fatal("damaged bytes were returned as file data")
	}
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("read of an object damaged on MinIO's disk: %v, want EIO", err)
	}
}

// TestS3DiskCacheByDefault: a mount of a filesystem whose bodies are in a
// remote bucket keeps a disk cache by default, named by the filesystem's
// UUID, with the objects it uploads in it: what a node wrote it reads back
// from its own disk, also while the bucket's server is down, and the
// cache's hits show in /metrics. A filesystem whose bodies are in a local
// directory (hafs-mkfs's default) gets no cache.
func TestS3DiskCacheByDefault(t *testing.T) {
	requireRoot(t)
	fs, srv, _ := s3FS(t)
	xdg := t.TempDir()
	fs.Env = append(fs.Env, "XDG_CACHE_HOME="+xdg)
	m := fs.Mount(t, "--cache-dir=auto")
	want := bytes.Repeat([]byte("written here "), 400_000)
	must(t, os.WriteFile(filepath.Join(m.Dir, "f"), want, 0o644))
	objs, _ := filepath.Glob(filepath.Join(xdg, "hafs", "*", "*", "*.obj"))
	if len(objs) == 0 {
		t.Fatalf("no object under %s/hafs after writing %d bytes", xdg, len(want))
	}
	srv.Stop()
	dropCaches(t)
	wantContent(t, filepath.Join(m.Dir, "f"), want)
	if hits := metric(t, m, "hafs_disk_cache_hits_total"); hits == 0 {
		t.Error("hafs_disk_cache_hits_total is 0 after reading back through the disk cache")
	}
	srv.Start()

	local := NewFS(t, FSOptions{MkfsDefault: true})
	local.Env = append(local.Env, "XDG_CACHE_HOME="+xdg)
	l := local.Mount(t, "--cache-dir=auto")
	must(t, os.WriteFile(filepath.Join(l.Dir, "f"), want, 0o644))
	if got, _ := filepath.Glob(filepath.Join(xdg, "hafs", "*")); len(got) != 1 {
		t.Errorf("cache directories %v, want only the bucket filesystem's", got)
	}
}
