package fs

import (
	"context"

	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
)

// The small interfaces below are what the node layer needs of the
// filesystem's metadata, one per kind of FUSE operation, as go-fuse's own
// API is cut. *meta.FS implements them all; unit tests give fakes to drive
// the error paths without a store.

// Namespace resolves and changes names.
type Namespace interface {
	Lookup(ctx context.Context, dir uint64, name string) (*meta.Attr, error)
	LookupHint(ctx context.Context, dir uint64, name string, hint uint64) (*meta.Attr, error)
	Create(ctx context.Context, dir uint64, name string, n meta.NewNode) (*meta.Attr, error)
	Link(ctx context.Context, ino, dir uint64, name string) (*meta.Attr, error)
	Unlink(ctx context.Context, dir uint64, name string) error
	Rmdir(ctx context.Context, dir uint64, name string) error
	Rename(ctx context.Context, dir uint64, name string, newDir uint64, newName string, flags uint32) error
	ReadDir(ctx context.Context, dir uint64, after uint64, limit int) ([]meta.DirEntry, error)
	ReadDirPlus(ctx context.Context, dir uint64, after uint64, limit int) (*meta.Attr, []meta.DirEntry, error)
}

// Attributes reads and changes inode attributes and the filesystem's
// usage.
type Attributes interface {
	GetAttr(ctx context.Context, ino uint64) (*meta.Attr, error)
	DirAttr(ctx context.Context, ino uint64) (*meta.Attr, error)
	SetAttr(ctx context.Context, ino uint64, r meta.SetAttrReq) (*meta.Attr, error)
	TouchAtimes(ctx context.Context, reads map[uint64]int64) error
	Statfs(ctx context.Context) (meta.Statfs, error)
}

// Opens records which inodes this client holds open, so that an inode
// unlinked elsewhere outlives its last close anywhere.
type Opens interface {
	OpenInline(ctx context.Context, ino uint64, max int) (*meta.Attr, []byte, error)
	OpenByName(ctx context.Context, dir uint64, name string, want uint64) (*meta.Attr, bool, error)
	CheckOpenInline(ctx context.Context, ino uint64, max int) (*meta.Attr, []byte, error)
	RegisterOpens(ctx context.Context, inos []uint64) (gone []uint64, err error)
	CloseMany(ctx context.Context, inos []uint64) (closed int, err error)
}

// FileSpace changes and inspects the allocation of a file's bytes, and
// makes committed changes durable.
type FileSpace interface {
	Fallocate(ctx context.Context, ino uint64, off, length int64, mode uint32) error
	Lseek(ctx context.Context, ino uint64, off int64, whence int) (int64, error)
	Sync(ctx context.Context) error
}

// Xattrs are extended attributes.
type Xattrs interface {
	GetXattr(ctx context.Context, ino uint64, name string) ([]byte, error)
	SetXattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) error
	RemoveXattr(ctx context.Context, ino uint64, name string) error
	ListXattr(ctx context.Context, ino uint64) ([]string, error)
}

// Metadata is all the node layer needs of the metadata, under the session
// whose id owns this client's locks.
type Metadata interface {
	Namespace
	Attributes
	Opens
	FileSpace
	Xattrs
	SessionID() string
}

// Bodies moves file bodies (s3tier.Tier): writes are buffered per inode
// and reach other clients at Flush.
type Bodies interface {
	Write(ctx context.Context, ino uint64, off int64, data []byte) error
	WriteThrough(ctx context.Context, ino uint64, off int64, data []byte) error
	ReadInto(ctx context.Context, ino uint64, off int64, dst []byte) (int, error)
	Flush(ctx context.Context, ino uint64) error
	Invalidate(ino uint64)
	SeedInline(ino uint64, a *meta.Attr, body []byte)
	PendingEnd(ino uint64) int64
}

// LockTable holds the POSIX and flock locks of every client (locks.Manager).
type LockTable interface {
	Test(ctx context.Context, ino uint64, req locks.Lock) (locks.Lock, bool, error)
	TryLock(ctx context.Context, ino uint64, req locks.Lock) error
	Lock(ctx context.Context, ino uint64, req locks.Lock) error
	ReleaseOwner(ctx context.Context, ino uint64, o locks.Owner, flock bool) error
	ReleasePid(ctx context.Context, ino uint64, session string, pid uint32) error
	ReleasePosixSession(ctx context.Context, ino uint64, session string) error
}

var (
	_ Metadata  = (*meta.FS)(nil)
	_ LockTable = (*locks.Manager)(nil)
)
