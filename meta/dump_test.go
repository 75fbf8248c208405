package meta_test

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

// TestDumpLoad: a dump loaded into another store dumps the same; the
// loaded filesystem is fsck-clean, has its files, and lost the file that
// was open-unlinked at the dump; sessions are not carried; bad, truncated
// or foreign input and a store already holding the name are refused.
func TestDumpLoad(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: "dumper"}, nil); err != nil {
		t.Fatal(err)
	}
	a, err := m.Create(ctx, meta.RootIno, "kept", meta.NewNode{Mode: syscall.S_IFREG | 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Write(ctx, a.Ino, 0, []byte("kept body")); err != nil {
		t.Fatal(err)
	}
	if err := m.SetXattr(ctx, a.Ino, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	open, err := m.Create(ctx, meta.RootIno, "open-unlinked", meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Write(ctx, open.Ino, 0, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlink(ctx, meta.RootIno, "open-unlinked"); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	var calls int
	n, err := meta.Dump(ctx, m.Store(), "t", &dump, func(keys, bytes int64) { calls++ })
	if err != nil || n == 0 || calls == 0 {
		t.Fatalf("dump: %d keys, %d progress calls, %v", n, calls, err)
	}
	if strings.Contains(dump.String(), "dumper") {
		t.Error("the dump holds the session")
	}

	s2 := teststore.Open(t, teststore.URL(t))
	name, loaded, err := meta.Load(ctx, s2, "", bytes.NewReader(dump.Bytes()), nil)
	if err != nil || name != "t" || loaded != n {
		t.Fatalf("load: %q, %d keys, %v; want t, %d", name, loaded, err, n)
	}
	m2, err := meta.Open(ctx, s2, "t")
	if err != nil {
		t.Fatal(err)
	}
	check(t, m2)
	if got, err := m2.Lookup(ctx, meta.RootIno, "kept"); err != nil || got.Size != 9 {
		t.Fatalf("kept after load: %+v, %v", got, err)
	}
	if _, err := m2.GetAttr(ctx, open.Ino); err == nil {
		t.Error("the open-unlinked inode survived the load")
	}
	if st, err := m2.Statfs(ctx); err != nil || st.Inodes != 2 || st.Alloc != 9 {
		t.Errorf("statfs after load: %+v, %v; want 2 inodes, 9 bytes", st, err)
	}
	if _, _, err := meta.Load(ctx, s2, "", bytes.NewReader(dump.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second load into the same store: %v", err)
	}
	for what, in := range map[string]string{
		"empty":      "",
		"not a dump": `{"hello":1}` + "\n",
		"version 9":  `{"format":"hafs-dump","version":9}` + "\n",
		"truncated":  dump.String()[:dump.Len()/2],
		"no trailer": strings.TrimSuffix(dump.String(), lastLine(dump.String())),
	} {
		if _, _, err := meta.Load(ctx, teststore.Open(t, teststore.URL(t)), "x", strings.NewReader(in), nil); err == nil {
			t.Errorf("load of %s input succeeded", what)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:] + "\n"
}
