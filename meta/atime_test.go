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
	if err := m.CloseMany(ctx, []uint64{fresh.Ino}); err != nil {
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
