package meta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

// quotaFS is a filesystem with helpers for the quota tests.
type quotaFS struct {
	t   *testing.T
	m   *meta.FS
	s   fdbstore.Store
	ctx context.Context
}

func newQuotaFS(t *testing.T) *quotaFS {
	t.Helper()
	s := teststore.Open(t, teststore.URL(t))
	ctx := context.Background()
	if _, err := meta.Mkfs(ctx, s, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	return &quotaFS{t: t, m: m, s: s, ctx: ctx}
}

func (q *quotaFS) mk(dir uint64, name string, mode uint32) uint64 {
	q.t.Helper()
	a, err := q.m.Create(q.ctx, dir, name, meta.NewNode{Mode: mode})
	if err != nil {
		q.t.Fatalf("create %q: %v", name, err)
	}
	return a.Ino
}

func (q *quotaFS) write(ino uint64, off int64, n int) error {
	_, err := q.m.Write(q.ctx, ino, off, make([]byte, n))
	return err
}

// usage asserts the usage of the quota on dir.
func (q *quotaFS) usage(dir uint64, bytes, inodes int64) {
	q.t.Helper()
	got, err := q.m.QuotaGet(q.ctx, dir)
	if err != nil {
		q.t.Fatal(err)
	}
	if got.UsedBytes != bytes || got.UsedInodes != inodes {
		q.t.Fatalf("quota on %d (%s): %d bytes, %d inodes used, want %d, %d",
			dir, got.Path, got.UsedBytes, got.UsedInodes, bytes, inodes)
	}
}

const (
	reg = syscall.S_IFREG | 0o644
	dir = syscall.S_IFDIR | 0o755
)

// TestQuotaUsage: a quota's usage follows creates, writes, truncates,
// fallocate, links, unlinks, rmdir and the last close of an unlinked file
// exactly, limits refuse with EDQUOT changing nothing, rename and link out
// of the quota are EXDEV, and fsck agrees throughout.
func TestQuotaUsage(t *testing.T) {
	q := newQuotaFS(t)
	ctx := q.ctx
	d := q.mk(meta.RootIno, "q", dir)
	if err := q.m.QuotaSet(ctx, d, meta.QuotaLimits{Bytes: 1 << 20, Inodes: 5}); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 0, 0)
	f := q.mk(d, "f", reg)
	sub := q.mk(d, "sub", dir)
	g := q.mk(sub, "g", reg)
	q.usage(d, 0, 3)
	if err := q.write(f, 0, 300_000); err != nil {
		t.Fatal(err)
	}
	if err := q.write(g, 0, 100_000); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 400_000, 3)
	size := uint64(1000)
	if _, err := q.m.SetAttr(ctx, g, meta.SetAttrReq{Size: &size}); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 301_000, 3)
	if err := q.m.Fallocate(ctx, g, 0, 200_000, 0); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 500_000, 3)
	check(t, q.m)

	// Past the byte limit: EDQUOT, and the file and the filesystem's
	// counters are as they were.
	before, err := q.m.Statfs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.write(f, 300_000, 700_000); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("write past the quota: %v, want EDQUOT", err)
	}
	if err := q.m.Fallocate(ctx, f, 0, 2<<20, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("fallocate past the quota: %v, want EDQUOT", err)
	}
	if a, err := q.m.GetAttr(ctx, f); err != nil || a.Size != 300_000 || a.Alloc != 300_000 {
		t.Fatalf("after EDQUOT: %+v, %v", a, err)
	}
	q.usage(d, 500_000, 3)
	if after, err := q.m.Statfs(ctx); err != nil || after.Alloc != before.Alloc || after.Bytes != before.Bytes {
		t.Fatalf("statfs after EDQUOT: %+v, %v; before: %+v", after, err, before)
	}
	// Past the inode limit.
	q.mk(d, "l1", syscall.S_IFLNK|0o777)
	q.mk(sub, "e", reg)
	if _, err := q.m.Create(ctx, d, "x", meta.NewNode{Mode: reg}); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("sixth inode: %v, want EDQUOT", err)
	}
	if _, err := q.m.Lookup(ctx, d, "x"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("a refused create left %q: %v", "x", err)
	}
	q.usage(d, 500_000, 5)
	testQuotaBorder(t, q, d, sub, f, g)
}

// testQuotaBorder goes on from TestQuotaUsage: outside the quota nothing
// is limited, moves across its border are EXDEV, and unlink, the last
// close of an unlinked file and rmdir give back what they counted.
func testQuotaBorder(t *testing.T, q *quotaFS, d, sub, f, g uint64) {
	ctx := q.ctx
	// The root has no quota: outside, nothing is limited.
	out := q.mk(meta.RootIno, "out", reg)
	if err := q.write(out, 0, 2<<20); err != nil {
		t.Fatal(err)
	}
	// Across the quota's border: EXDEV; inside it: fine.
	if err := q.m.Rename(ctx, d, "f", meta.RootIno, "f", 0); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename out of the quota: %v, want EXDEV", err)
	}
	if err := q.m.Rename(ctx, meta.RootIno, "out", sub, "out", 0); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename into the quota: %v, want EXDEV", err)
	}
	if _, err := q.m.Link(ctx, f, meta.RootIno, "fl"); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("link out of the quota: %v, want EXDEV", err)
	}
	if err := q.m.Rename(ctx, d, "f", sub, "f2", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := q.m.Link(ctx, f, d, "f3"); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 500_000, 5) // a link is no new inode
	// Frees: unlink of both links, and the last close of an open one.
	for _, n := range []struct {
		dir  uint64
		name string
	}{{sub, "f2"}, {d, "f3"}} {
		if err := q.m.Unlink(ctx, n.dir, n.name); err != nil {
			t.Fatal(err)
		}
	}
	q.usage(d, 200_000, 4)
	cl := client(t, q.m, "a")
	if _, err := cl.Open(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := q.m.Unlink(ctx, sub, "g"); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 200_000, 4) // open, unlinked: still counted
	check(t, q.m)
	if err := cl.Close(ctx, g); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 0, 3)
	if err := q.m.Unlink(ctx, sub, "e"); err != nil {
		t.Fatal(err)
	}
	if err := q.m.Rmdir(ctx, d, "sub"); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 0, 1)
	check(t, q.m)
}

// TestQuotaNested: a quota inside another counts in both; the inner limit
// refuses even when the outer has room, and the outer's when the inner
// has; quota set on a non-empty directory (around an existing quota too)
// counts what is there; unset gives the labels back; fsck agrees.
func TestQuotaNested(t *testing.T) {
	q := newQuotaFS(t)
	ctx := q.ctx
	a := q.mk(meta.RootIno, "a", dir)
	b := q.mk(a, "b", dir)
	c := q.mk(b, "c", dir)
	fa := q.mk(a, "fa", reg)
	fc := q.mk(c, "fc", reg)
	for _, w := range []struct {
		ino uint64
		n   int
	}{{fa, 10_000}, {fc, 20_000}} {
		if err := q.write(w.ino, 0, w.n); err != nil {
			t.Fatal(err)
		}
	}
	// The inner quota first, then one around it, both on full directories.
	if err := q.m.QuotaSet(ctx, b, meta.QuotaLimits{Bytes: 50_000}); err != nil {
		t.Fatal(err)
	}
	q.usage(b, 20_000, 2) // c and fc
	check(t, q.m)
	if err := q.m.QuotaSet(ctx, a, meta.QuotaLimits{Bytes: 100_000, Inodes: 100}); err != nil {
		t.Fatal(err)
	}
	q.usage(a, 30_000, 4) // b, fa, and b's two
	check(t, q.m)
	// The inner limit binds first.
	if err := q.write(fc, 20_000, 40_000); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("write past the inner quota: %v, want EDQUOT", err)
	}
	if err := q.write(fc, 20_000, 30_000); err != nil {
		t.Fatal(err)
	}
	q.usage(b, 50_000, 2)
	q.usage(a, 60_000, 4)
	// Then the outer one, outside the inner.
	if err := q.write(fa, 10_000, 50_000); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("write past the outer quota: %v, want EDQUOT", err)
	}
	// A rename between the two quotas is EXDEV; of the inner directory
	// itself within the outer quota, fine.
	if err := q.m.Rename(ctx, c, "fc", a, "fc", 0); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename from the inner quota to the outer: %v, want EXDEV", err)
	}
	if err := q.m.Rename(ctx, a, "b", a, "b2", 0); err != nil {
		t.Fatal(err)
	}
	check(t, q.m)
	list, err := q.m.QuotaList(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if list[0].Path != "/a" || list[1].Path != "/a/b2" || list[1].Parent != a {
		t.Fatalf("list: %+v", list)
	}
	// Unset the outer: the inner stays exact, the labels go back.
	if err := q.m.QuotaUnset(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := q.m.QuotaGet(ctx, a); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("quota after unset: %v", err)
	}
	q.usage(b, 50_000, 2)
	if err := q.write(fa, 10_000, 500_000); err != nil {
		t.Fatalf("write without the outer quota: %v", err)
	}
	check(t, q.m)
	if err := q.m.QuotaUnset(ctx, b); err != nil {
		t.Fatal(err)
	}
	if list, err := q.m.QuotaList(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after unsetting both: %+v, %v", list, err)
	}
	if err := q.m.Rename(ctx, c, "fc", meta.RootIno, "fc", 0); err != nil {
		t.Fatalf("rename once no quota is left: %v", err)
	}
	check(t, q.m)
}

// TestQuotaFsck: fsck reports a quota whose usage counter was corrupted,
// and an inode whose label its directory does not give.
func TestQuotaFsck(t *testing.T) {
	q := newQuotaFS(t)
	d := q.mk(meta.RootIno, "q", dir)
	if err := q.m.QuotaSet(q.ctx, d, meta.QuotaLimits{Inodes: 10}); err != nil {
		t.Fatal(err)
	}
	q.mk(d, "f", reg)
	check(t, q.m)
	key := tuple.Pack("hafs", "t", "qused", int64(d), "inodes")
	if err := q.s.Transact(q.ctx, func(tx fdbstore.Tx) error { tx.Add(key, 1); return nil }); err != nil {
		t.Fatal(err)
	}
	rep, err := q.m.Check(q.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "usage 0 bytes, 2 inodes") {
		t.Fatalf("fsck of a corrupted usage: %q", rep.Problems)
	}
}

// TestQuotaLargeDir: quota set and unset on a directory larger than one
// page stay within the store's transaction limits and count exactly.
func TestQuotaLargeDir(t *testing.T) {
	q := newQuotaFS(t)
	d := q.mk(meta.RootIno, "big", dir)
	s := q.mk(d, "s", dir)
	const n = 600
	for i := range n {
		q.mk(s, "f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i), reg)
	}
	if err := q.m.QuotaSet(q.ctx, d, meta.QuotaLimits{Inodes: n + 1}); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 0, n+1)
	if _, err := q.m.Create(q.ctx, s, "one-more", meta.NewNode{Mode: reg}); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("create past %d inodes: %v, want EDQUOT", n+1, err)
	}
	check(t, q.m)
	if err := q.m.QuotaUnset(q.ctx, d); err != nil {
		t.Fatal(err)
	}
	q.mk(s, "one-more", reg)
	check(t, q.m)
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// TestQuotaDumpLoad: a dump carries the quotas; the loaded filesystem's
// usage is exact (less the open-unlinked file the load deletes) and fsck
// is clean.
func TestQuotaDumpLoad(t *testing.T) {
	q := newQuotaFS(t)
	ctx := q.ctx
	d := q.mk(meta.RootIno, "q", dir)
	if err := q.m.QuotaSet(ctx, d, meta.QuotaLimits{Bytes: 1 << 20, Inodes: 3}); err != nil {
		t.Fatal(err)
	}
	f := q.mk(d, "f", reg)
	if err := q.write(f, 0, 5000); err != nil {
		t.Fatal(err)
	}
	cl := client(t, q.m, "a")
	o, err := cl.Create(ctx, d, "open", meta.NewNode{Mode: reg, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Write(ctx, o.Ino, 0, make([]byte, 700)); err != nil {
		t.Fatal(err)
	}
	if err := cl.Unlink(ctx, d, "open"); err != nil {
		t.Fatal(err)
	}
	q.usage(d, 5700, 2)
	var dump bytes.Buffer
	if _, err := meta.Dump(ctx, q.s, "t", &dump, nil); err != nil {
		t.Fatal(err)
	}
	s2 := teststore.Open(t, teststore.URL(t))
	if _, _, err := meta.Load(ctx, s2, "", bytes.NewReader(dump.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	m2, err := meta.Open(ctx, s2, "t")
	if err != nil {
		t.Fatal(err)
	}
	q2 := &quotaFS{t: t, m: m2, s: s2, ctx: ctx}
	q2.usage(d, 5000, 1)
	check(t, m2)
	q2.mk(d, "g", reg)
	q2.mk(d, "h", reg)
	if _, err := m2.Create(ctx, d, "i", meta.NewNode{Mode: reg}); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("the loaded quota's inode limit: %v, want EDQUOT", err)
	}
}

// TestQuotaSetConcurrent: quota set and unset walk a tree while other
// goroutines create, write, rename within it and remove; with retried
// conflicts and commits of unknown outcome, the usage stays exact and fsck
// is clean.
func TestQuotaSetConcurrent(t *testing.T) {
	m := newFS(t, 0.02)
	ctx := context.Background()
	q := &quotaFS{t: t, m: m, s: m.Store(), ctx: ctx}
	top := q.mk(meta.RootIno, "top", dir)
	var subs []uint64
	for i := range 4 {
		s := q.mk(top, fmt.Sprint("s", i), dir)
		subs = append(subs, s)
		for j := range 240 {
			q.mk(s, fmt.Sprint("old", j), reg)
		}
	}
	work := func(g, round int) {
		s := subs[g]
		for i := range 60 {
			a, err := m.Create(ctx, s, fmt.Sprint("new", i), meta.NewNode{Mode: reg})
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			if _, err := m.Write(ctx, a.Ino, 0, make([]byte, 1000+i)); err != nil {
				t.Errorf("write: %v", err)
			}
			old := round*60 + i
			// To a name the walk may have passed: it must still be counted.
			err = m.Rename(ctx, s, fmt.Sprint("old", old), s, fmt.Sprint("a-moved", old), 0)
			if err != nil {
				t.Errorf("rename: %v", err)
			}
			if err := m.Unlink(ctx, s, fmt.Sprint("old", old+120)); err != nil {
				t.Errorf("unlink: %v", err)
			}
		}
	}
	for round, op := range []func() error{
		func() error { return m.QuotaSet(ctx, top, meta.QuotaLimits{Inodes: 1 << 20}) },
		func() error { return m.QuotaUnset(ctx, top) },
	} {
		var wg sync.WaitGroup
		for g := range subs {
			wg.Go(func() { work(g, round) })
		}
		if err := op(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		check(t, m)
		for _, s := range subs {
			for i := range 60 {
				_ = m.Unlink(ctx, s, fmt.Sprint("new", i)) // for the next round's creates
			}
		}
	}
}

// TestQuotaRmdir: removing a quota directory removes its quota; while an
// open-unlinked file still counts against it, the record stays (listed as
// removed) so that the file's last close gives the space back to the
// enclosing quota too, and then goes.
func TestQuotaRmdir(t *testing.T) {
	q := newQuotaFS(t)
	ctx := q.ctx
	outer := q.mk(meta.RootIno, "outer", dir)
	inner := q.mk(outer, "inner", dir)
	for _, d := range []uint64{outer, inner} {
		if err := q.m.QuotaSet(ctx, d, meta.QuotaLimits{Bytes: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	cl := client(t, q.m, "a")
	o, err := cl.Create(ctx, inner, "o", meta.NewNode{Mode: reg, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Write(ctx, o.Ino, 0, make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	q.usage(outer, 4000, 2)
	if err := cl.Unlink(ctx, inner, "o"); err != nil {
		t.Fatal(err)
	}
	if err := q.m.Rmdir(ctx, outer, "inner"); err != nil {
		t.Fatal(err)
	}
	q.usage(outer, 4000, 1) // the open file, no longer the directory
	list, err := q.m.QuotaList(ctx)
	if err != nil || len(list) != 2 || list[1].State != "removed" || list[1].Path != "" {
		t.Fatalf("list with a removed quota directory: %+v, %v", list, err)
	}
	check(t, q.m)
	if err := cl.Close(ctx, o.Ino); err != nil {
		t.Fatal(err)
	}
	q.usage(outer, 0, 0)
	if list, err := q.m.QuotaList(ctx); err != nil || len(list) != 1 {
		t.Fatalf("list after the last close: %+v, %v", list, err)
	}
	check(t, q.m)
	// An empty quota directory goes with its quota at once.
	e := q.mk(outer, "e", dir)
	if err := q.m.QuotaSet(ctx, e, meta.QuotaLimits{Inodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := q.m.Rmdir(ctx, outer, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.m.QuotaGet(ctx, e); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("quota of a removed empty directory: %v", err)
	}
	check(t, q.m)
}
