package meta

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/test/teststore"
)

// internalFS is a fresh filesystem for the tests of this package's
// internals, with a helper that creates a node.
func internalFS(t *testing.T) (*FS, func(dir uint64, name string, mode uint32) uint64) {
	ctx := context.Background()
	s := teststore.Open(t, teststore.URL(t))
	if _, err := Mkfs(ctx, s, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	return m, func(dir uint64, name string, mode uint32) uint64 {
		t.Helper()
		a, err := m.Create(ctx, dir, name, NewNode{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return a.Ino
	}
}

// TestQuotaWalkRenameBehind: an entry renamed within a directory the walk
// is listing, to a name before the walk's position, is still labeled and
// counted (the walk goes in cookie order, and a rename takes a new cookie).
func TestQuotaWalkRenameBehind(t *testing.T) {
	ctx := context.Background()
	m, mk := internalFS(t)
	top := mk(RootIno, "top", syscall.S_IFDIR|0o755)
	sub := mk(top, "sub", syscall.S_IFDIR|0o755)
	const n = 300
	for i := range n {
		mk(sub, fmt.Sprintf("f%03d", i), syscall.S_IFREG|0o644)
	}
	err := m.transact(ctx, func(tx fdbstore.Tx) error {
		d, err := m.getAttr(tx, top)
		if err != nil {
			return err
		}
		d.Flags |= AttrQuotaDir
		m.putAttr(tx, d)
		return m.putQuotaRec(tx, top, &quotaRec{State: quotaSetting})
	})
	if err != nil {
		t.Fatal(err)
	}
	page := func(dir, after uint64) (last uint64) {
		t.Helper()
		err := m.transact(ctx, func(tx fdbstore.Tx) error {
			var err error
			_, last, err = m.relabelPage(tx, dir, after, 0, top, true)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	page(top, 0)
	last := page(sub, 0)
	if err := m.Rename(ctx, sub, fmt.Sprintf("f%03d", n-1), sub, "a", 0); err != nil {
		t.Fatal(err)
	}
	for last != 0 {
		last = page(sub, last)
	}
	err = m.transact(ctx, func(tx fdbstore.Tx) error { // the walk's end, as QuotaSet's
		return m.putQuotaRec(tx, top, &quotaRec{})
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.QuotaGet(ctx, top)
	if err != nil || q.UsedInodes != n+1 {
		t.Fatalf("quota: %+v, %v; want %d inodes", q, err, n+1)
	}
	rep, err := m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Error("fsck:", p)
	}
}

// TestQuotaSetResumes: a quota set interrupted after labeling a directory
// but before listing it is finished by running it again: the directory's
// entries are labeled and counted, once.
func TestQuotaSetResumes(t *testing.T) {
	ctx := context.Background()
	m, mk := internalFS(t)
	top := mk(RootIno, "top", syscall.S_IFDIR|0o755)
	sub := mk(top, "sub", syscall.S_IFDIR|0o755)
	mk(sub, "f", syscall.S_IFREG|0o644)
	// What the first run had committed: the record and flag, and the first
	// page of top (sub labeled and counted), not sub's listing.
	err := m.transact(ctx, func(tx fdbstore.Tx) error {
		d, err := m.getAttr(tx, top)
		if err != nil {
			return err
		}
		d.Flags |= AttrQuotaDir
		m.putAttr(tx, d)
		a, err := m.getAttr(tx, sub)
		if err != nil {
			return err
		}
		a.Qid = top
		m.putAttr(tx, a)
		tx.Add(m.k.quotaUse(top, "inodes"), 1)
		return m.putQuotaRec(tx, top, &quotaRec{Inodes: 10, State: quotaSetting})
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.Check(ctx); err != nil || len(rep.Problems) == 0 {
		t.Fatalf("fsck of an interrupted quota set: %v, %v; want it reported", rep, err)
	}
	if err := m.QuotaSet(ctx, top, QuotaLimits{Inodes: 10}); err != nil {
		t.Fatal(err)
	}
	q, err := m.QuotaGet(ctx, top)
	if err != nil || q.UsedInodes != 2 || q.State != "" {
		t.Fatalf("after the second run: %+v, %v; want 2 inodes, set", q, err)
	}
	rep, err := m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Error("fsck:", p)
	}
}
