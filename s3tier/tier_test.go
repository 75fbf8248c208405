package s3tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/test/minio"
	"github.com/hafs/hafs/test/teststore"
)

// smallLayout makes chunk, block and page boundaries easy to cross with
// modest amounts of data.
var smallLayout = meta.DataLayout{ChunkSize: 256 << 10, BlockSize: 64 << 10, PageSize: 4 << 10, InlineMax: 8 << 10}

type env struct {
	m    *meta.FS
	obj  *routing.S3
	tier *Tier
	srv  *minio.Server
	path string
}

// newEnv makes a filesystem with an object store on a fresh MinIO and one
// client (session) with a Tier on it.
func newEnv(t *testing.T, layout meta.DataLayout) *env {
	t.Helper()
	ctx := context.Background()
	srv := minio.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := bytesCut(kv)
		t.Setenv(k, v)
	}
	site, err := routing.ParseBucketURL(srv.Endpoint + "/tier-test")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := routing.OpenS3(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if err := routing.Probe(ctx, obj); err != nil {
		t.Fatal(err)
	}
	path := teststore.URL(t)
	s := teststore.Open(t, path)
	if _, err := meta.MkfsWith(ctx, s, "t", meta.MkfsOptions{Data: &layout}); err != nil {
		t.Fatal(err)
	}
	e := &env{obj: obj, srv: srv, path: path}
	e.m, e.tier = e.client(t, "a")
	return e
}

func bytesCut(kv string) (string, string, bool) {
	i := bytes.IndexByte([]byte(kv), '=')
	return kv[:i], kv[i+1:], i >= 0
}

// client opens another client of the filesystem with its own session.
func (e *env) client(t *testing.T, host string) (*meta.FS, *Tier) {
	t.Helper()
	ctx := context.Background()
	s := teststore.Open(t, e.path)
	m, err := meta.Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: host}, nil); err != nil {
		t.Fatal(err)
	}
	tier, err := New(m, e.obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	return m, tier
}

func (e *env) create(t *testing.T, name string) uint64 {
	t.Helper()
	a, err := e.m.Create(context.Background(), meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	return a.Ino
}

// objects lists the slice objects in the bucket.
func (e *env) objects(t *testing.T) map[uint64]int64 {
	t.Helper()
	out := map[uint64]int64{}
	err := e.obj.List(context.Background(), ObjectPrefix, func(o routing.Object) error {
		if id, ok := ParseObjectKey(o.Key); ok {
			out[id] = o.Size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t *testing.T, tier *Tier, ino uint64, size int) []byte {
	t.Helper()
	got, err := tier.Read(context.Background(), ino, 0, size+100)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRandomWorkload applies random writes, overwrites, appends, truncates
// and holes to a file and to a reference buffer, and compares them byte
// for byte after every few steps, from this client and from a fresh one
// (nothing cached).
func TestRandomWorkload(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	_, other := e.client(t, "b")
	rng := rand.New(rand.NewPCG(1, 2))
	var ref []byte
	const maxSize = 1 << 20
	for step := range 300 {
		switch op := rng.IntN(10); {
		case op < 6: // write somewhere, maybe past the end (a hole)
			off := rng.Int64N(maxSize)
			if rng.IntN(3) == 0 {
				off = int64(len(ref)) // append
			}
			n := 1 + rng.IntN(100<<10)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(64) // tiny
			}
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			// Sometimes as several contiguous writes, as the kernel sends.
			for p := 0; p < n; {
				q := min(n, p+1+rng.IntN(40<<10))
				if err := e.tier.Write(ctx, ino, off+int64(p), data[p:q]); err != nil {
					t.Fatalf("step %d: write: %v", step, err)
				}
				p = q
			}
			if end := int(off) + n; end > len(ref) {
				ref = append(ref, make([]byte, end-len(ref))...)
			}
			copy(ref[off:], data)
		case op < 8: // truncate down or up
			size := uint64(rng.Int64N(maxSize))
			if err := e.tier.Flush(ctx, ino); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.SetAttr(ctx, ino, meta.SetAttrReq{Size: &size}); err != nil {
				t.Fatalf("step %d: truncate: %v", step, err)
			}
			if int(size) < len(ref) {
				ref = ref[:size]
			} else {
				ref = append(ref, make([]byte, int(size)-len(ref))...)
			}
		case op < 9: // punch a hole
			if len(ref) == 0 {
				continue
			}
			off := rng.Int64N(int64(len(ref)))
			n := 1 + rng.Int64N(200<<10)
			if err := e.tier.Flush(ctx, ino); err != nil {
				t.Fatal(err)
			}
			if err := e.m.Fallocate(ctx, ino, off, n, meta.FallocPunchHole|meta.FallocKeepSize); err != nil {
				t.Fatalf("step %d: punch: %v", step, err)
			}
			clear(ref[off:min(int64(len(ref)), off+n)])
		default: // flush
			if err := e.tier.Flush(ctx, ino); err != nil {
				t.Fatal(err)
			}
		}
		if step%10 == 9 {
			if got := readAll(t, e.tier, ino, len(ref)); !bytes.Equal(got, ref) {
				t.Fatalf("step %d: this client reads %d bytes that differ from the reference (%d bytes) at %d",
					step, len(got), len(ref), firstDiff(got, ref))
			}
			if got := readAll(t, other, ino, len(ref)); !bytes.Equal(got, ref) {
				t.Fatalf("step %d: another client reads %d bytes that differ from the reference (%d bytes) at %d",
					step, len(got), len(ref), firstDiff(got, ref))
			}
		}
	}
	a, err := e.m.GetAttr(ctx, ino)
	if err != nil || !a.Sliced() {
		t.Fatalf("after large writes the file is not sliced: %+v %v", a, err)
	}
	// Deleting the file empties the bucket through the queue.
	if err := e.m.Unlink(ctx, meta.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Close(ctx, ino); err != nil {
		t.Fatal(err)
	}
	drain(t, e.tier)
	if objs := e.objects(t); len(objs) != 0 {
		t.Fatalf("%d objects left after the file was deleted and the queue drained", len(objs))
	}
	check(t, e.m)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func drain(t *testing.T, tier *Tier) {
	t.Helper()
	for range 100 {
		n, err := tier.DrainOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("deletion queue never drained")
}

func check(t *testing.T, m *meta.FS) {
	t.Helper()
	rep, err := m.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("fsck: %s", p)
	}
}

// TestCorruptObjectDetected: an object whose bytes changed under HAFS
// (same size, other content) reads as EIO and counts a checksum error.
func TestCorruptObjectDetected(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	data := bytes.Repeat([]byte("good data "), 5000)
	if err := e.tier.Write(ctx, ino, 0, data); err != nil {
		t.Fatal(err)
	}
	if err := e.tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	objs := e.objects(t)
	if len(objs) == 0 {
		t.Fatal("no object written")
	}
	for id, size := range objs {
		if err := e.obj.Put(ctx, ObjectKey(id), bytes.Repeat([]byte{'X'}, int(size))); err != nil {
			t.Fatal(err)
		}
	}
	_, fresh := e.client(t, "b") // nothing cached
	_, err := fresh.Read(ctx, ino, 0, len(data))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a corrupted object: %v, want EIO", err)
	}
	if fresh.CRCErrors() == 0 {
		t.Fatal("no checksum error counted")
	}
}

// TestCrashBeforeCommitLeavesNoGarbage: a client that uploaded a slice but
// died before committing it leaves an intent; cleaning up its session
// queues the object, and the deleter removes it.
func TestCrashBeforeCommitLeavesNoGarbage(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ref, err := e.tier.putSlice(ctx, bytes.Repeat([]byte("z"), 20000))
	if err != nil {
		t.Fatal(err)
	}
	if objs := e.objects(t); objs[ref.ID] != 20000 {
		t.Fatalf("uploaded object missing: %v", objs)
	}
	// "a" dies here, before CommitSlices. Another client evicts it.
	b, btier := e.client(t, "b")
	if _, err := b.Evict(ctx, e.m.SessionID()); err != nil {
		t.Fatal(err)
	}
	drain(t, btier)
	if objs := e.objects(t); len(objs) != 0 {
		t.Fatalf("objects of the dead client's unfinished upload remain: %v", objs)
	}
	check(t, b)
}

// TestBackPressure: with a tiny buffer budget, a large write completes
// (writers wait for uploads rather than grow memory) and reads back intact.
func TestBackPressure(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	tier, err := New(e.m, e.obj, Options{BufferBytes: 1, Uploads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	ino := e.create(t, "big")
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	start := time.Now()
	for p := 0; p < len(data); p += 128 << 10 {
		if err := tier.Write(ctx, ino, int64(p), data[p:min(len(data), p+128<<10)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 MiB through a 2-upload, minimum-budget tier in %v", time.Since(start).Round(time.Millisecond))
	if got := readAll(t, tier, ino, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read back differs at %d", firstDiff(got, data))
	}
}

// TestDiskCache: pages read once are served from the disk cache by a new
// tier (a remount) even with the object store down; a cached page that
// rotted on disk is detected, dropped and read again from the store.
func TestDiskCache(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	data := make([]byte, 700<<10)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	if err := e.tier.Write(ctx, ino, 0, data); err != nil {
		t.Fatal(err)
	}
	if err := e.tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	open := func() *Tier {
		tier, err := New(e.m, e.obj, Options{CacheDir: dir, DiskCacheBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tier.Close)
		return tier
	}
	if got := readAll(t, open(), ino, len(data)); !bytes.Equal(got, data) {
		t.Fatal("first read differs")
	}
	// Rot one cached page.
	var victim string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("nothing in the disk cache after a read")
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	second := open()
	if got := readAll(t, second, ino, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read through a disk cache with a rotten page differs")
	}
	if second.CRCErrors() != 1 {
		t.Fatalf("rotten cached page: %d checksum errors counted, want 1", second.CRCErrors())
	}
	e.srv.Stop()
	if got := readAll(t, open(), ino, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read from the disk cache with the object store down differs")
	}
}

// TestCompaction: a chunk fragmented by many small writes is rewritten as
// whole slices with the same content, and the old objects are deleted.
func TestCompaction(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	ref := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 60 {
		off := rng.IntN(len(ref) - 20000)
		data := make([]byte, 9000+rng.IntN(10000))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		copy(ref[off:], data)
		if err := e.tier.Write(ctx, ino, int64(off), data); err != nil {
			t.Fatal(err)
		}
		if err := e.tier.Flush(ctx, ino); err != nil {
			t.Fatal(err)
		}
	}
	size := uint64(len(ref))
	if _, err := e.m.SetAttr(ctx, ino, meta.SetAttrReq{Size: &size}); err != nil {
		t.Fatal(err)
	}
	before := len(e.objects(t))
	if err := e.tier.compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	drain(t, e.tier)
	after := len(e.objects(t))
	if after >= before || after > 4 {
		t.Fatalf("compaction left %d objects (from %d); want the chunk in at most 4 whole slices", after, before)
	}
	_, fresh := e.client(t, "b")
	if got := readAll(t, fresh, ino, len(ref)); !bytes.Equal(got, ref) {
		t.Fatalf("content changed by compaction at %d", firstDiff(got, ref))
	}
	check(t, e.m)
}

// TestOverwriteWhileUploading: a small write over the start of a block
// that is still uploading must land on top of it, whatever finishes first.
func TestOverwriteWhileUploading(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	for round := range 5 {
		ino := e.create(t, fmt.Sprintf("f%d", round))
		block := bytes.Repeat([]byte{'A'}, int(smallLayout.BlockSize))
		if err := e.tier.Write(ctx, ino, 0, block); err != nil { // fills a block: upload starts
			t.Fatal(err)
		}
		if err := e.tier.Write(ctx, ino, 0, []byte("patch")); err != nil {
			t.Fatal(err)
		}
		if err := e.tier.Flush(ctx, ino); err != nil {
			t.Fatal(err)
		}
		want := append([]byte("patch"), block[5:]...)
		_, fresh := e.client(t, "b")
		if got := readAll(t, fresh, ino, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("round %d: the patch written after the block is not on top (first bytes %q)", round, got[:8])
		}
	}
}

// TestReadersWhileWriting: reads of a file by this client while it is
// being written (each read flushes) never lose a write.
func TestReadersWhileWriting(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if _, err := e.tier.Read(ctx, ino, 0, 4096); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var want []byte
	for i := range 300 {
		piece := bytes.Repeat([]byte{byte(i)}, 3000)
		if err := e.tier.Write(ctx, ino, int64(len(want)), piece); err != nil {
			t.Fatal(err)
		}
		want = append(want, piece...)
	}
	<-done
	if err := e.tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, e.tier, ino, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("after concurrent reads the file differs at %d (%d vs %d bytes)", firstDiff(got, want), len(got), len(want))
	}
}

// TestCompactionRefusedAfterInlinePunch: a compaction that read the inline
// part before a punch must not swap its copy in after it.
func TestCompactionRefusedAfterInlinePunch(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	ino := e.create(t, "f")
	inline := bytes.Repeat([]byte{'i'}, int(smallLayout.InlineMax))
	if err := e.tier.Write(ctx, ino, 0, inline); err != nil { // stays inline
		t.Fatal(err)
	}
	if err := e.tier.Write(ctx, ino, 20000, []byte("sliced")); err != nil { // past the threshold: sliced
		t.Fatal(err)
	}
	if err := e.tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	p, err := e.m.PlanRead(ctx, ino, 0, int(smallLayout.ChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	seen := bytes.Clone(p.Base[:smallLayout.InlineMax])
	if err := e.m.Fallocate(ctx, ino, 100, 1000, meta.FallocPunchHole|meta.FallocKeepSize); err != nil {
		t.Fatal(err)
	}
	old := p.Chunks[0]
	ok, err := e.m.ReplaceChunk(ctx, ino, 0, old, old, seen)
	if err != nil || ok {
		t.Fatalf("ReplaceChunk after the inline part changed: %v, %v; want refused", ok, err)
	}
}

// TestDiskCacheKeepsWrites: a tier with a disk cache keeps the objects it
// uploads there, so it reads back what it wrote without a fetch, also with
// the object store down; an object that rotted on disk is caught by its
// checksums, dropped, and read from the store instead.
func TestDiskCacheKeepsWrites(t *testing.T) {
	e := newEnv(t, smallLayout)
	ctx := context.Background()
	dir := t.TempDir()
	tier, err := New(e.m, e.obj, Options{CacheDir: dir, DiskCacheBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	ino := e.create(t, "f")
	data := make([]byte, 900<<10)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	if err := tier.Write(ctx, ino, 0, data); err != nil {
		t.Fatal(err)
	}
	if err := tier.Flush(ctx, ino); err != nil {
		t.Fatal(err)
	}
	var objects []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".obj") {
			objects = append(objects, p)
		}
		return nil
	})
	if len(objects) == 0 {
		t.Fatal("no object in the disk cache after a write")
	}
	e.srv.Stop()
	if got := readAll(t, tier, ino, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read back from the disk cache with the store down differs at %d", firstDiff(got, data))
	}
	if n := tier.ctr.fetches.Load(); n != 0 {
		t.Errorf("%d fetches from the object store, want none", n)
	}
	if tier.ctr.diskHits.Load() == 0 {
		t.Error("no disk cache hit counted")
	}
	// Rot an object; a fresh tier (a remount) finds it bad and goes to the
	// store, which is back.
	b, err := os.ReadFile(objects[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(objects[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.Start()
	second, err := New(e.m, e.obj, Options{CacheDir: dir, DiskCacheBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Close)
	if got := readAll(t, second, ino, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read through a rotten cached object differs at %d", firstDiff(got, data))
	}
	if second.CRCErrors() != 1 {
		t.Errorf("rotten cached object: %d checksum errors counted, want 1", second.CRCErrors())
	}
	if _, err := os.Stat(objects[0]); !os.IsNotExist(err) {
		t.Errorf("the rotten object is still in the cache (%v)", err)
	}
}
