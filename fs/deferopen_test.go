package fs

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/meta"
)

// openMeta is fakeMeta with the open registrations: it records which
// inodes were registered and closed, and can have an inode removed by
// "another client".
type openMeta struct {
	fakeMeta
	body       []byte
	removed    bool
	registered [][]uint64
	closed     [][]uint64
	openInline int
	unlinked   []string
}

func (m *openMeta) attr() (*meta.Attr, error) {
	if m.removed {
		return nil, syscall.ENOENT
	}
	a := *m.names["f"]
	return &a, nil
}

func (m *openMeta) CheckOpenInline(context.Context, uint64, int) (*meta.Attr, []byte, error) {
	a, err := m.attr()
	if err != nil {
		return nil, nil, syscall.ESTALE
	}
	return a, m.body, nil
}

func (m *openMeta) OpenInline(ctx context.Context, ino uint64, max int) (*meta.Attr, []byte, error) {
	m.openInline++
	return m.CheckOpenInline(ctx, ino, max)
}

func (m *openMeta) RegisterOpens(_ context.Context, inos []uint64) ([]uint64, error) {
	m.registered = append(m.registered, slices.Clone(inos))
	if m.removed {
		return inos, nil
	}
	return nil, nil
}

func (m *openMeta) CloseMany(_ context.Context, inos []uint64) (int, error) {
	m.closed = append(m.closed, slices.Clone(inos))
	return len(inos), nil
}

func (m *openMeta) GetAttr(context.Context, uint64) (*meta.Attr, error) { return m.attr() }

func (m *openMeta) TouchAtimes(context.Context, map[uint64]int64) error { return nil }

func (m *openMeta) Unlink(_ context.Context, _ uint64, name string) error {
	m.unlinked = append(m.unlinked, name)
	return nil
}

// storeBodies reads through to the fake store: ENOENT once the inode is
// removed.
type storeBodies struct {
	noBodies
	m *openMeta
}

func (b storeBodies) ReadInto(_ context.Context, _ uint64, off int64, dst []byte) (int, error) {
	if b.m.removed {
		return 0, syscall.ENOENT
	}
	return copy(dst, b.m.body[min(off, int64(len(b.m.body))):]), nil
}

// openFixture mounts the fake with one small inline file "f" and opens it
// read-only through the raw API.
func openFixture(t *testing.T) (*Root, fuse.RawFileSystem, *openMeta, uint64, uint64) {
	t.Helper()
	m := &openMeta{fakeMeta: fakeMeta{names: map[string]*meta.Attr{
		"f": {Ino: 42, Mode: syscall.S_IFREG | 0o644, Nlink: 1, Size: 5},
	}}, body: []byte("hello")}
	root := NewRoot(m, Options{Data: storeBodies{m: m}, Locks: noLocks{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	raw := gofs.NewNodeFS(root, &gofs.Options{})
	st, entry := lookup(raw, "f")
	if !st.Ok() {
		t.Fatalf("lookup: %v", st)
	}
	var out fuse.OpenOut
	if st := raw.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: entry.NodeId}, Flags: syscall.O_RDONLY}, &out); !st.Ok() {
		t.Fatalf("open: %v", st)
	}
	if m.openInline != 0 {
		t.Fatalf("a read-only open of a small file registered at once (%d write transactions)", m.openInline)
	}
	return root, raw, m, entry.NodeId, out.Fh
}

func release(raw fuse.RawFileSystem, node, fh uint64) {
	raw.Release(nil, &fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: node}, Fh: fh})
}

// TestDeferredOpenClosedFirst: an open closed before the next round is
// never registered, and leaves nothing to drop.
func TestDeferredOpenClosedFirst(t *testing.T) {
	root, raw, m, node, fh := openFixture(t)
	release(raw, node, fh)
	root.FlushCloses(context.Background())
	if len(m.registered) != 0 || len(m.closed) != 0 {
		t.Fatalf("registered %v, closed %v: want neither", m.registered, m.closed)
	}
	if got := root.deferred.closed.Load(); got != 1 {
		t.Errorf("closed-first count %d, want 1", got)
	}
}

// TestDeferredOpenRegistered: an open still held at the next round is
// registered then, and its close drops the registration.
func TestDeferredOpenRegistered(t *testing.T) {
	root, raw, m, node, fh := openFixture(t)
	root.FlushCloses(context.Background())
	if !slices.EqualFunc(m.registered, [][]uint64{{42}}, slices.Equal) {
		t.Fatalf("registered %v, want [[42]]", m.registered)
	}
	release(raw, node, fh)
	root.FlushCloses(context.Background())
	if !slices.EqualFunc(m.closed, [][]uint64{{42}}, slices.Equal) {
		t.Fatalf("closed %v, want [[42]]", m.closed)
	}
	if w := root.deferred.waiting.Load(); w != 0 {
		t.Errorf("%d still waiting", w)
	}
}

// TestDeferredOpenLost: removed elsewhere before its registration, the
// file reads and stats through the open as an unlinked open file.
func TestDeferredOpenLost(t *testing.T) {
	root, raw, m, node, fh := openFixture(t)
	m.removed = true
	root.FlushCloses(context.Background())
	if got := root.deferred.lost.Load(); got != 1 {
		t.Fatalf("lost count %d, want 1", got)
	}
	buf := make([]byte, 16)
	res, st := raw.Read(nil, &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Fh: fh, Size: 16}, buf)
	if !st.Ok() {
		t.Fatalf("read: %v", st)
	}
	if got, _ := res.Bytes(buf); string(got) != "hello" {
		t.Fatalf("read %q, want %q", got, "hello")
	}
	var out fuse.AttrOut
	if st := raw.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: node}, Flags_: fuse.FUSE_GETATTR_FH, Fh_: fh}, &out); !st.Ok() {
		t.Fatalf("getattr: %v", st)
	}
	if out.Nlink != 0 || out.Size != 5 {
		t.Errorf("getattr: nlink %d size %d, want 0 and 5", out.Nlink, out.Size)
	}
	release(raw, node, fh)
	root.FlushCloses(context.Background())
	if len(m.closed) != 0 {
		t.Errorf("closed %v: nothing was registered", m.closed)
	}
	if st := raw.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: node}}, &out); st != fuse.ENOENT {
		t.Errorf("getattr after the last close: %v, want ENOENT", st)
	}
}

// TestDeferredOpenSettledByUnlink: this client's own unlink registers the
// open first, so the store keeps the file for it.
func TestDeferredOpenSettledByUnlink(t *testing.T) {
	_, raw, m, _, _ := openFixture(t)
	if st := raw.Unlink(nil, &fuse.InHeader{NodeId: fuse.FUSE_ROOT_ID}, "f"); !st.Ok() {
		t.Fatalf("unlink: %v", st)
	}
	if !slices.EqualFunc(m.registered, [][]uint64{{42}}, slices.Equal) || !slices.Equal(m.unlinked, []string{"f"}) {
		t.Fatalf("registered %v then unlinked %v, want [[42]] then [f]", m.registered, m.unlinked)
	}
}
