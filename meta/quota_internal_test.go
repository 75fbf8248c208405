package meta

import (
	"context"
	"syscall"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/test/teststore"
)

// TestQuotaSetResumes: a quota set interrupted after labeling a directory
// but before listing it is finished by running it again: the directory's
// entries are labeled and counted, once.
func TestQuotaSetResumes(t *testing.T) {
	ctx := context.Background()
	s := teststore.Open(t, teststore.URL(t))
	if _, err := Mkfs(ctx, s, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(dir uint64, name string, mode uint32) uint64 {
		a, err := m.Create(ctx, dir, name, NewNode{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return a.Ino
	}
	top := mk(RootIno, "top", syscall.S_IFDIR|0o755)
	sub := mk(top, "sub", syscall.S_IFDIR|0o755)
	mk(sub, "f", syscall.S_IFREG|0o644)
	// What the first run had committed: the record and flag, and the first
	// page of top (sub labeled and counted), not sub's listing.
	err = m.transact(ctx, func(tx fdbstore.Tx) error {
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
