package meta_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
)

// TestOpenByName: a lookup that registers the open in its own transaction
// keeps the file it found, even when the name moves on before the open
// arrives; a name that moved on before the lookup registers nothing.
func TestOpenByName(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0.05)
	a, b := client(t, m, "a"), client(t, m, "b")
	mk := func(name, data string) *meta.Attr {
		t.Helper()
		f, err := a.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(ctx, f.Ino, 0, []byte(data)); err != nil {
			t.Fatal(err)
		}
		return f
	}
	old := mk("config", "old")
	got, opened, err := b.OpenByName(ctx, meta.RootIno, "config", old.Ino)
	if err != nil || !opened || got.Ino != old.Ino {
		t.Fatalf("OpenByName of the file the name holds: %+v, opened %v, %v", got, opened, err)
	}
	// Replaced right after b's lookup: the file stays for b.
	mk("config.tmp", "new")
	if err := a.Rename(ctx, meta.RootIno, "config.tmp", meta.RootIno, "config", 0); err != nil {
		t.Fatal(err)
	}
	if data, err := b.Read(ctx, old.Ino, 0, 10); err != nil || string(data) != "old" {
		t.Fatalf("read of the pinned file after its replacement: %q, %v", data, err)
	}
	if _, err := b.CheckOpen(ctx, old.Ino); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("CheckOpen of the replaced file: %v, want ESTALE (its name is gone)", err)
	}
	check(t, m)

	// The name moved on before the lookup: nothing registered for want.
	cur, opened, err := b.OpenByName(ctx, meta.RootIno, "config", old.Ino)
	if err != nil || opened || cur.Ino == old.Ino {
		t.Fatalf("OpenByName expecting the replaced file: %+v, opened %v, %v; want the new file, not opened", cur, opened, err)
	}
	if err := a.Unlink(ctx, meta.RootIno, "config"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAttr(ctx, cur.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("unlinked file nobody opened: %v, want it gone", err)
	}
	if err := b.Close(ctx, old.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAttr(ctx, old.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("pinned file after b's close: %v, want it gone", err)
	}
	if _, _, err := b.OpenByName(ctx, meta.RootIno, "config", old.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("OpenByName of a missing name: %v, want ENOENT", err)
	}
	check(t, m)
}
