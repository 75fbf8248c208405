package gateway

import (
	"context"

	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
)

// Namespace resolves and changes names (*meta.FS).
type Namespace interface {
	Lookup(ctx context.Context, dir uint64, name string) (*meta.Attr, error)
	Create(ctx context.Context, dir uint64, name string, n meta.NewNode) (*meta.Attr, error)
	Unlink(ctx context.Context, dir uint64, name string) error
	Rmdir(ctx context.Context, dir uint64, name string) error
	Rename(ctx context.Context, dir uint64, name string, newDir uint64, newName string, flags uint32) error
	ReadDir(ctx context.Context, dir uint64, after uint64, limit int) ([]meta.DirEntry, error)
	GetAttr(ctx context.Context, ino uint64) (*meta.Attr, error)
}

// Opens registers the inodes this client reads or writes, so that an
// unlink by another client keeps them until the gateway is done.
type Opens interface {
	Open(ctx context.Context, ino uint64) (*meta.Attr, error)
	Close(ctx context.Context, ino uint64) error
}

// Xattrs keep WebDAV dead properties.
type Xattrs interface {
	GetXattr(ctx context.Context, ino uint64, name string) ([]byte, error)
	SetXattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) error
	RemoveXattr(ctx context.Context, ino uint64, name string) error
	ListXattr(ctx context.Context, ino uint64) ([]string, error)
}

// Metadata is all the gateway needs of the filesystem's metadata, under
// the session that owns its locks.
type Metadata interface {
	Namespace
	Opens
	Xattrs
	SessionID() string
	Fenced() bool
	// Sessions lists the registered clients: a listing removes the PUT
	// leftovers of gateways that are gone (sweep.go).
	Sessions(ctx context.Context) ([]meta.SessionStatus, error)
}

// Bodies moves file bodies (s3tier.Tier): writes are buffered per inode
// and committed at Flush.
type Bodies interface {
	Write(ctx context.Context, ino uint64, off int64, data []byte) error
	ReadInto(ctx context.Context, ino uint64, off int64, dst []byte) (int, error)
	Flush(ctx context.Context, ino uint64) error
	Invalidate(ino uint64)
}

// LockTable holds every client's locks (locks.Manager).
type LockTable interface {
	TryLock(ctx context.Context, ino uint64, req locks.Lock) error
	ReleaseOwner(ctx context.Context, ino uint64, o locks.Owner, flock bool) error
}

var (
	_ Metadata  = (*meta.FS)(nil)
	_ LockTable = (*locks.Manager)(nil)
)
