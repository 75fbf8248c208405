package meta_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/meta"
)

// TestTouchAtimes: a batch of reads moves the access times that relatime
// says it should, leaves alone one a utimes set after the read, skips an
// inode removed meanwhile, and an open hands back a small inline body.
func TestTouchAtimes(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	mk := func(name string) *meta.Attr {
		a, err := m.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fresh, later, gone := mk("fresh"), mk("later"), mk("gone")
	read := time.Now().UnixNano()
	old := read - int64(time.Hour)
	// A utimes after the read: its ctime is later than the read's time.
	if _, err := m.SetAttr(ctx, later.Ino, meta.SetAttrReq{Atime: &old, Mtime: &old}); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlink(ctx, meta.RootIno, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := m.TouchAtimes(ctx, map[uint64]int64{fresh.Ino: read, later.Ino: read, gone.Ino: read}); err != nil {
		t.Fatal(err)
	}
	if a, _ := m.GetAttr(ctx, fresh.Ino); a.Atime != read {
		t.Errorf("fresh file: atime %d, want the read's %d", a.Atime, read)
	}
	if a, _ := m.GetAttr(ctx, later.Ino); a.Atime != old {
		t.Errorf("file given times after the read: atime %d, want the utimes' %d", a.Atime, old)
	}
	// Read again at once: relatime leaves an atime newer than the change.
	if err := m.TouchAtimes(ctx, map[uint64]int64{fresh.Ino: read + 1}); err != nil {
		t.Fatal(err)
	}
	if a, _ := m.GetAttr(ctx, fresh.Ino); a.Atime != read {
		t.Errorf("second read: atime %d, want it left at %d", a.Atime, read)
	}

	want := []byte("small body")
	if _, err := m.Write(ctx, fresh.Ino, 0, want); err != nil {
		t.Fatal(err)
	}
	a, body, err := m.OpenInline(ctx, fresh.Ino, 64)
	if err != nil || !bytes.Equal(body, want) || a.Size != uint64(len(want)) {
		t.Errorf("OpenInline: %q, %v; want %q", body, err, want)
	}
	if _, body, err := m.CheckOpenInline(ctx, fresh.Ino, 4); err != nil || body != nil {
		t.Errorf("CheckOpenInline under the body's size: %q, %v; want no body", body, err)
	}
	if err := m.Close(ctx, fresh.Ino); err != nil {
		t.Fatal(err)
	}
	check(t, m)
}

// TestLayoutValidate: a layout whose page checksums would fill a chunk's
// slice list is refused (a 4 KiB page in a 64 MiB chunk once made every
// commit of a whole chunk fail), and the default one is taken.
func TestLayoutValidate(t *testing.T) {
	for _, c := range []struct {
		l  meta.DataLayout
		ok bool
	}{
		{meta.DataLayout{ChunkSize: 64 << 20, BlockSize: 4 << 20, PageSize: 64 << 10, InlineMax: 64 << 10}, true},
		{meta.DataLayout{ChunkSize: 64 << 20, BlockSize: 4 << 20, PageSize: 16 << 10}, true},
		{meta.DataLayout{ChunkSize: 64 << 20, BlockSize: 4 << 20, PageSize: 4 << 10}, false},
		{meta.DataLayout{ChunkSize: 4 << 20, BlockSize: 4 << 20, PageSize: 4 << 10}, true},
		{meta.DataLayout{ChunkSize: 4 << 20, BlockSize: 4 << 20, PageSize: 3000}, false},
	} {
		if err := c.l.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", c.l, err, c.ok)
		}
	}
}

// TestDirAttrAfterOwnChange: right after this client created an entry in
// a directory, DirAttr answers with the attributes that create wrote (the
// new mtime) without a read transaction; a change by another client shows
// once the moment (100 ms) is over, and never later.
func TestDirAttrAfterOwnChange(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0)
	a, b := client(t, m, "a"), client(t, m, "b")
	d, err := a.Create(ctx, meta.RootIno, "d", meta.NewNode{Mode: syscall.S_IFDIR | 0o755})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, d.Ino, "f", meta.NewNode{Mode: syscall.S_IFREG | 0o644}); err != nil {
		t.Fatal(err)
	}
	reads, _ := a.TxCounts()
	got, err := a.DirAttr(ctx, d.Ino)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := b.GetAttr(ctx, d.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := a.TxCounts(); after != reads {
		t.Errorf("DirAttr right after the create took %d read transactions, want none", after-reads)
	}
	if got.Mtime != stored.Mtime || got.Ctime != stored.Ctime || got.Mode != stored.Mode {
		t.Errorf("DirAttr = mtime %d ctime %d mode %o, the store has %d %d %o", got.Mtime, got.Ctime, got.Mode,
			stored.Mtime, stored.Ctime, stored.Mode)
	}
	mode := uint32(0o700)
	if _, err := b.SetAttr(ctx, d.Ino, meta.SetAttrReq{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := a.DirAttr(ctx, d.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if got.Mode&0o7777 == mode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another client's chmod not seen through DirAttr after 5 s: mode %o", got.Mode&0o7777)
		}
		time.Sleep(10 * time.Millisecond) // poll
	}
}
