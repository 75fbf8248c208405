package meta_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/settle"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

// TestUnknownOutcomes runs namespace and data operations on a store that
// reports a third of its commits' outcomes as unknown, half of them after
// committing. Through settle every operation answers as if nothing had
// happened: no EEXIST for a create that landed, no ENOENT for an unlink
// that did, exact counters, and a clean fsck.
func TestUnknownOutcomes(t *testing.T) {
	ctx := context.Background()
	raw := teststore.Open(t, teststore.URL(t))
	fault := faultstore.Wrap(raw, 0, 11).WithUnknownResults(0.33)
	st := settle.Wrap(fault)
	if _, err := meta.Mkfs(ctx, st, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(ctx, st, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: "u"}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		name := fmt.Sprintf("f%d", i)
		f, err := m.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := m.Write(ctx, f.Ino, 0, []byte(name)); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
		if err := m.SetXattr(ctx, f.Ino, "user.k", []byte(name), 0); err != nil {
			t.Fatalf("setxattr %s: %v", name, err)
		}
		if _, err := m.Link(ctx, f.Ino, meta.RootIno, name+".link"); err != nil {
			t.Fatalf("link %s: %v", name, err)
		}
		if err := m.Rename(ctx, meta.RootIno, name+".link", meta.RootIno, name+".moved", 0); err != nil {
			t.Fatalf("rename %s: %v", name, err)
		}
		if err := m.Unlink(ctx, meta.RootIno, name+".moved"); err != nil {
			t.Fatalf("unlink %s: %v", name, err)
		}
		if _, err := m.Create(ctx, meta.RootIno, "d"+name, meta.NewNode{Mode: syscall.S_IFDIR | 0o755}); err != nil {
			t.Fatalf("mkdir d%s: %v", name, err)
		}
		if err := m.Rmdir(ctx, meta.RootIno, "d"+name); err != nil {
			t.Fatalf("rmdir d%s: %v", name, err)
		}
	}
	landed, lost := fault.UnknownResults()
	if landed == 0 || lost == 0 {
		t.Fatalf("unknown outcomes injected: %d landed, %d not: the settling paths were not exercised", landed, lost)
	}
	t.Logf("%d commits reported unknown after landing, %d without", landed, lost)
	ents, err := m.ReadDir(ctx, meta.RootIno, 0, 0)
	if err != nil || len(ents) != n {
		t.Fatalf("readdir: %d entries, %v; want %d", len(ents), err, n)
	}
	for i := range n {
		name := fmt.Sprintf("f%d", i)
		a, err := m.Lookup(ctx, meta.RootIno, name)
		if err != nil || a.Nlink != 1 || a.Size != uint64(len(name)) {
			t.Fatalf("%s: %+v, %v; want one link and %d bytes", name, a, err, len(name))
		}
	}
	sf, err := m.Statfs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes := 0
	for i := range n {
		wantBytes += len(fmt.Sprintf("f%d", i))
	}
	if sf.Inodes != n+1 || sf.Bytes != int64(wantBytes) {
		t.Fatalf("statfs counters %d inodes, %d bytes; want %d and %d", sf.Inodes, sf.Bytes, n+1, wantBytes)
	}
	check(t, m)
	// Without settle, the same store leaves the caller with the error.
	bare, err := meta.Open(ctx, faultstore.Wrap(raw, 0, 12).WithUnknownResults(1), "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := bare.StartSession(ctx, meta.SessionInfo{Hostname: "bare"}, nil); !errors.Is(err, fdbstore.ErrMaybeCommitted) {
		t.Fatalf("a session on the bare store: %v, want ErrMaybeCommitted", err)
	}
}
