package fs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/meta"
)

// These tests drive the node layer through go-fuse's raw request API, with
// no kernel and no store: fakes of the Metadata, Bodies and LockTable
// interfaces answer, so each error path of the store maps to the errno an
// application must see.

// fakeMeta answers Lookup and Create from a map; err, when set, is what
// every call fails with. The embedded Metadata is nil: an operation the
// test does not expect panics.
type fakeMeta struct {
	Metadata
	names map[string]*meta.Attr
	err   error
	next  uint64
}

func (m *fakeMeta) SessionID() string { return "test-session" }

func (m *fakeMeta) Lookup(ctx context.Context, dir uint64, name string) (*meta.Attr, error) {
	if m.err != nil {
		return nil, m.err
	}
	a, ok := m.names[name]
	if !ok {
		return nil, fmt.Errorf("lookup %q: %w", name, syscall.ENOENT)
	}
	return a, nil
}

func (m *fakeMeta) LookupHint(ctx context.Context, dir uint64, name string, _ uint64) (*meta.Attr, error) {
	return m.Lookup(ctx, dir, name)
}

func (m *fakeMeta) Create(ctx context.Context, dir uint64, name string, n meta.NewNode) (*meta.Attr, error) {
	if m.err != nil {
		return nil, m.err
	}
	m.next++
	a := &meta.Attr{Ino: 100 + m.next, Mode: n.Mode, Nlink: 1, Parent: dir}
	m.names[name] = a
	return a, nil
}

// noBodies holds no buffered data; noLocks is never reached here.
type noBodies struct{ Bodies }

func (noBodies) PendingEnd(uint64) int64               { return -1 }
func (noBodies) Invalidate(uint64)                     {}
func (noBodies) SeedInline(uint64, *meta.Attr, []byte) {}
func (noBodies) Flush(context.Context, uint64) error   { return nil }

type noLocks struct{ LockTable }

func rawFS(t *testing.T, m *fakeMeta) fuse.RawFileSystem {
	t.Helper()
	root := NewRoot(m, Options{Data: noBodies{}, Locks: noLocks{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return gofs.NewNodeFS(root, &gofs.Options{})
}

func lookup(fs fuse.RawFileSystem, name string) (fuse.Status, *fuse.EntryOut) {
	out := &fuse.EntryOut{}
	st := fs.Lookup(nil, &fuse.InHeader{NodeId: fuse.FUSE_ROOT_ID}, name, out)
	return st, out
}

func TestLookupAttributes(t *testing.T) {
	m := &fakeMeta{names: map[string]*meta.Attr{
		"f": {Ino: 42, Mode: syscall.S_IFREG | 0o640, Nlink: 3, Size: 12345, Uid: 7, Gid: 8},
	}}
	fs := rawFS(t, m)
	st, out := lookup(fs, "f")
	if !st.Ok() {
		t.Fatalf("lookup: %v", st)
	}
	if out.Ino != 42 || out.Mode != syscall.S_IFREG|0o640 || out.Nlink != 3 || out.Size != 12345 ||
		out.Owner.Uid != 7 || out.Owner.Gid != 8 {
		t.Fatalf("entry %+v does not carry the inode's attributes", out.Attr)
	}
}

// TestErrnoMapping: the store's and meta's errors reach the application as
// the errno POSIX gives them, and anything unexpected as EIO.
func TestErrnoMapping(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"missing", fmt.Errorf("lookup: %w", syscall.ENOENT), syscall.ENOENT},
		{"fenced", meta.ErrFenced, syscall.EIO},
		{"name too long for a key", fmt.Errorf("create: %w", fdbstore.ErrKeyTooLarge), syscall.ENAMETOOLONG},
		{"transaction too large", fmt.Errorf("write: %w", fdbstore.ErrTxTooLarge), syscall.EFBIG},
		{"store full", fmt.Errorf("commit: %w: disk full", fdbstore.ErrStoreFull), syscall.ENOSPC},
		{"interrupted", context.Canceled, syscall.EINTR},
		{"store timed out", fdbstore.ErrTimeout, syscall.EIO},
		{"outcome unknown", fdbstore.ErrMaybeCommitted, syscall.EIO},
		{"corrupt row", fmt.Errorf("inode 7: %w", fdbstore.ErrCorrupt), syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := rawFS(t, &fakeMeta{names: map[string]*meta.Attr{}, err: tc.err})
			if st, _ := lookup(fs, "x"); st != fuse.Status(tc.want) {
				t.Errorf("lookup failing with %v: %v, want %v", tc.err, st, tc.want)
			}
			out := &fuse.CreateOut{}
			in := &fuse.CreateIn{InHeader: fuse.InHeader{NodeId: fuse.FUSE_ROOT_ID}, Mode: 0o644}
			if st := fs.Create(nil, in, "x", out); st != fuse.Status(tc.want) {
				t.Errorf("create failing with %v: %v, want %v", tc.err, st, tc.want)
			}
		})
	}
}

// TestReadOnlyRefusesWrites: a read-only mount answers EROFS before it asks
// the store anything.
func TestReadOnlyRefusesWrites(t *testing.T) {
	m := &fakeMeta{names: map[string]*meta.Attr{}}
	root := NewRoot(m, Options{Data: noBodies{}, Locks: noLocks{}, ReadOnly: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fs := gofs.NewNodeFS(root, &gofs.Options{})
	in := &fuse.MkdirIn{InHeader: fuse.InHeader{NodeId: fuse.FUSE_ROOT_ID}, Mode: 0o755}
	if st := fs.Mkdir(nil, in, "d", &fuse.EntryOut{}); st != fuse.EROFS {
		t.Fatalf("mkdir on a read-only mount: %v, want EROFS", st)
	}
	if len(m.names) != 0 {
		t.Fatalf("a read-only mount created %v", m.names)
	}
}

// TestXattrNames: names Linux's filesystems refuse are refused before the
// store is asked (the fake store would panic if it were).
func TestXattrNames(t *testing.T) {
	for name, want := range map[string]syscall.Errno{
		"user.x": 0, "trusted.x": 0, "security.x": 0,
		"foo": syscall.EOPNOTSUPP, "xuser.x": syscall.EOPNOTSUPP, "": syscall.EOPNOTSUPP,
		"system.foo": syscall.EOPNOTSUPP, "system.posix_acl_access": syscall.EOPNOTSUPP,
		"system.posix_acl_default": syscall.EOPNOTSUPP,
		"user.":                    syscall.EINVAL, "security.": syscall.EINVAL,
	} {
		if got := xattrNameErrno(name); got != want {
			t.Errorf("xattr name %q: %v, want %v", name, got, want)
		}
	}
	n := &node{}
	if _, e := n.Getxattr(context.Background(), "foo", nil); e != syscall.EOPNOTSUPP {
		t.Errorf("getxattr foo: %v, want EOPNOTSUPP", e)
	}
	if e := n.Setxattr(context.Background(), "system.foo", []byte("v"), 0); e != syscall.EOPNOTSUPP {
		t.Errorf("setxattr system.foo: %v, want EOPNOTSUPP", e)
	}
	if e := n.Removexattr(context.Background(), "user."); e != syscall.EINVAL {
		t.Errorf("removexattr user.: %v, want EINVAL", e)
	}
}
