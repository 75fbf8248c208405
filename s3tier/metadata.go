package s3tier

import (
	"context"

	"github.com/hafs/hafs/meta"
)

// InlineBodies reads and writes bodies kept in the store itself (files
// that were never sliced, and the inline bottom layer of those that were).
type InlineBodies interface {
	Read(ctx context.Context, ino uint64, off int64, n int) ([]byte, error)
	Write(ctx context.Context, ino uint64, off int64, data []byte) (*meta.Attr, error)
	// Fenced reports that this client may commit nothing more: held
	// writes are refused at once, as a write to the store would be.
	Fenced() bool
}

// ChunkMaps hands out slice ids and commits, replaces and plans reads of
// the chunk maps that point at slice objects.
type ChunkMaps interface {
	Layout() *meta.DataLayout
	NewSlice(ctx context.Context, length int64) (uint64, error)
	AbandonSlice(ctx context.Context, id uint64, length int64) error
	CommitSlices(ctx context.Context, ino uint64, writes []meta.ChunkWrite, end int64) (*meta.Attr, int, error)
	ReplaceChunk(ctx context.Context, ino uint64, idx int64, old, repl []meta.SliceRef, inline []byte) (bool, error)
	PlanRead(ctx context.Context, ino uint64, off int64, n int) (*meta.ReadPlan, error)
	PlanLayout(ctx context.Context, ino uint64, off int64, n int) (*meta.ReadPlan, error)
}

// DeletionQueue is the durable queue of slices whose objects are to be
// deleted, and the purge of deleted files' chunk maps that feeds it.
type DeletionQueue interface {
	PendingDeletions(ctx context.Context, limit int) ([]meta.Deletion, error)
	DoneDeletions(ctx context.Context, done []meta.Deletion) error
	PurgeStep(ctx context.Context) (bool, error)
}

// Metadata is all the data path needs of the filesystem's metadata.
// *meta.FS implements it; unit tests give their own to drive fault paths.
type Metadata interface {
	InlineBodies
	ChunkMaps
	DeletionQueue
}

var _ Metadata = (*meta.FS)(nil)
