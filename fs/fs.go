package fs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/meta"
)

// Options tune a mount.
type Options struct {
	// EntryTimeout and AttrTimeout are how long the kernel may cache names
	// and attributes; they bound how stale another client's changes can
	// look. NegativeTimeout caches "no such file".
	EntryTimeout, AttrTimeout, NegativeTimeout time.Duration
	ReadOnly                                   bool
	Logger                                     *slog.Logger
	// Locks holds the filesystem's POSIX and flock locks; it must fence
	// with the same session as the metadata.
	Locks LockTable
	// Data moves file bodies (inline in the store, or the object store):
	// an s3tier.Tier. Required.
	Data Bodies
}

// Root is the shared state of one mount and the root directory's node.
type Root struct {
	node
	m     Metadata
	locks LockTable
	data  Bodies
	opts  Options
	log   *slog.Logger

	mu sync.Mutex
	// open holds, per inode with open handles here (or an open or close
	// under way), how many; see openInode.
	open map[uint64]*openState
	// pending are inodes closed here whose store registration is still to
	// be dropped (RunCloser); closeKick wakes it early.
	pendMu    sync.Mutex
	pending   map[uint64]struct{}
	pendOpens map[uint64]struct{} // deferred registrations (deferopen.go)
	deferred  deferStats
	closeKick chan struct{}
	atimes    atimes // access times still to land (atime.go); RunCloser writes them
	// posixLocked are inodes on which a process of this client took a
	// POSIX lock, so that close knows when releasing is worth a transaction.
	posixLocked map[uint64]bool
	// retries are names whose open just failed with ESTALE (reopen.go).
	retries retryNames
	// handles numbers open files: a flock's owner (see flockOwnedByHandle).
	handles atomic.Uint64
}

// NewRoot returns the root node for mounting filesystem m.
func NewRoot(m Metadata, opts Options) *Root {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Data == nil || opts.Locks == nil {
		panic("fs.NewRoot: Options.Data and Options.Locks are required")
	}
	r := &Root{m: m, locks: opts.Locks, data: opts.Data, opts: opts, log: opts.Logger, open: map[uint64]*openState{},
		posixLocked: map[uint64]bool{}, pending: map[uint64]struct{}{}, pendOpens: map[uint64]struct{}{}, closeKick: make(chan struct{}, 1)}
	r.node.root = r
	r.node.ino = meta.RootIno
	return r
}

// MountOptions returns go-fuse options matching these Options.
func (r *Root) MountOptions() *gofs.Options {
	return &gofs.Options{
		EntryTimeout:    &r.opts.EntryTimeout,
		AttrTimeout:     &r.opts.AttrTimeout,
		NegativeTimeout: &r.opts.NegativeTimeout,
		// Inode numbers are the store's, stable across mounts and clients.
		FirstAutomaticIno: 1 << 62,
		// Mode 0 is a valid mode; go-fuse would otherwise turn it into 0644.
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: meta.RootIno, Mode: syscall.S_IFDIR},
	}
}

// openState is one inode's open handles in this client. Its mutex orders
// the store transactions that register the client as an opener and drop
// that registration, so the store's record always covers handles > 0.
type openState struct {
	mu         sync.Mutex
	handles    int  // guarded by mu
	registered bool // guarded by mu: the store records this client as an opener
	users      int  // guarded by Root.mu: goroutines holding or waiting for mu
	// pinned: a lookup registered an open that no open took over yet; it
	// counts as one of handles (see reopen.go). pinGen numbers pins.
	pinned bool   // guarded by mu
	pinGen uint64 // guarded by mu
	// deferred: read-only opens counted in handles wait for their
	// registration, and snap is what they read (deferopen.go); unsure: a
	// registration failed, so the store may hold a record to drop.
	deferred bool      // guarded by mu
	unsure   bool      // guarded by mu
	snap     *snapshot // guarded by mu
}

// acquire returns ino's state with its mutex held.
func (r *Root) acquire(ino uint64) *openState {
	r.mu.Lock()
	st := r.open[ino]
	if st == nil {
		st = &openState{}
		r.open[ino] = st
	}
	st.users++
	r.mu.Unlock()
	st.mu.Lock()
	return st
}

// release unlocks st and forgets it once nobody uses it, no handle is open
// and the store holds no registration. With users at zero nobody else
// touched it since our unlock.
func (r *Root) release(ino uint64, st *openState) {
	st.mu.Unlock()
	r.mu.Lock()
	st.users--
	if st.users == 0 && st.handles == 0 && !st.registered && !st.unsure {
		delete(r.open, ino)
	}
	r.mu.Unlock()
}

// openInode counts a new handle on ino and returns the inode as the open
// found it (nil for created). The first one in this client registers the
// open in the store (see meta.FS.Open), unless created is set (Create
// registered it in its own transaction) or a lookup pinned the inode for
// this open (reopen.go). While a registration is in place (handles open
// here, or an earlier open's, see RunCloser) a read checks the inode as
// meta.FS.Open would: every open reads the inode, which close-to-open
// needs (cache.go).
func (r *Root) openInode(ctx context.Context, ino uint64, created, deferrable bool, inlineMax int) (*meta.Attr, []byte, syscall.Errno) {
	st := r.acquire(ino)
	defer r.release(ino, st)
	var a *meta.Attr
	var body []byte // a small file's body, read by the open's transaction
	var err error
	switch {
	case created:
		st.registered = true
	case st.pinned:
		// The pin's handle becomes this open's.
		if a, err = r.takePin(ctx, st, ino); err != nil {
			return nil, nil, r.errno("open", err)
		}
		return a, nil, 0
	case !st.registered && deferrable:
		a, body, err = r.openDeferred(ctx, st, ino, inlineMax)
	case !st.registered:
		a, body, err = r.m.OpenInline(ctx, ino, inlineMax)
		st.registered = err == nil
	default:
		a, body, err = r.m.CheckOpenInline(ctx, ino, inlineMax)
	}
	if err != nil {
		if errors.Is(err, fdbstore.ErrMaybeCommitted) && !st.registered {
			// The registration may stand: the closer drops it.
			st.unsure = true
			r.queueClose(ino)
		}
		return nil, nil, r.errno("open", err)
	}
	if st.registered {
		r.markRegistered(st)
	}
	st.handles++
	return a, body, 0
}

// closeInode drops one handle on ino and reports whether it was the last
// one here. The registration stays until RunCloser drops it, in a batch:
// a file closed and opened again soon costs no transaction, and a thousand
// closes cost one. onLast, when not nil, runs when the last handle goes,
// before an open of the inode here can count a new one: the kernel sends
// RELEASE after close without waiting, so the next open (and a lock taken
// through it) may already be on its way, and what onLast drops must not
// include what that open takes.
func (r *Root) closeInode(ctx context.Context, ino uint64, onLast func() syscall.Errno) (bool, syscall.Errno) {
	st := r.acquire(ino)
	defer r.release(ino, st)
	st.handles--
	if st.handles > 0 {
		return false, 0
	}
	// Opens whose registration was deferred and never made leave nothing
	// to drop.
	r.undefer(st, &r.deferred.closed)
	st.snap = nil
	if st.registered || st.unsure {
		r.queueClose(ino)
	}
	if onLast != nil {
		if e := onLast(); e != 0 {
			return true, e
		}
	}
	return true, 0
}

// queueClose has RunCloser drop ino's registration, unless an open takes
// it over first.
func (r *Root) queueClose(ino uint64) { r.enqueue(&r.pending, ino) }

// enqueue adds ino to the closer's queue *q (r.pending or r.pendOpens,
// which the closer swaps under pendMu), waking the closer when the queue
// makes a batch.
func (r *Root) enqueue(q *map[uint64]struct{}, ino uint64) {
	r.pendMu.Lock()
	(*q)[ino] = struct{}{}
	kick := len(*q) >= closeBatch
	r.pendMu.Unlock()
	if kick {
		r.kickCloser()
	}
}

// requeue puts inos back on *q for the next round, without waking the
// closer: a store that failed is not retried at once.
func (r *Root) requeue(q *map[uint64]struct{}, inos []uint64) {
	r.pendMu.Lock()
	for _, ino := range inos {
		(*q)[ino] = struct{}{}
	}
	r.pendMu.Unlock()
}

// holdQueued empties the closer's queue *q and returns its inodes that
// are still due, with their states held; it releases the others.
func (r *Root) holdQueued(q *map[uint64]struct{}, due func(*openState) bool) (inos []uint64, held []*openState) {
	r.pendMu.Lock()
	batch := *q
	*q = map[uint64]struct{}{}
	r.pendMu.Unlock()
	for ino := range batch {
		st := r.acquire(ino)
		if due(st) {
			inos = append(inos, ino)
			held = append(held, st)
			continue
		}
		r.release(ino, st)
	}
	return inos, held
}

// kickCloser wakes RunCloser before its next round.
func (r *Root) kickCloser() {
	select {
	case r.closeKick <- struct{}{}:
	default:
	}
}

// Batching of registrations dropped after the last close.
const (
	closeBatch = 256
	closeDelay = 200 * time.Millisecond
)

// RunCloser registers, every closeDelay (or at once when closeBatch have
// gathered), the deferred opens still held (deferopen.go), and drops the
// store registrations of inodes this client no longer has open, in one
// transaction per batch; an inode that lost its last link meanwhile is
// removed then. It returns when ctx is done, after a last
// round.
func (r *Root) RunCloser(ctx context.Context) {
	t := time.NewTicker(closeDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.FlushCloses(context.WithoutCancel(ctx))
			return
		case <-t.C:
		case <-r.closeKick:
		}
		r.FlushCloses(ctx)
	}
}

// FlushCloses registers the deferred opens still held, writes the waiting
// access times and drops the registrations of every inode closed since
// the last round. The inodes' mutexes are held across each transaction, so
// an open racing with it waits and then registers afresh.
func (r *Root) FlushCloses(ctx context.Context) {
	r.flushOpens(ctx)
	r.flushAtimes(ctx) // first: an inode a close removes takes its atime along
	inos, held := r.holdQueued(&r.pending, func(st *openState) bool {
		return st.handles == 0 && (st.registered || st.unsure)
	})
	if len(inos) == 0 {
		return
	}
	closed, err := r.m.CloseMany(ctx, inos)
	for i, st := range held {
		if i < closed {
			st.registered, st.unsure = false, false
		}
		r.release(inos[i], st)
	}
	if err != nil {
		r.log.Warn("could not drop open registrations; retrying", "inodes", len(inos)-closed, "err", err)
		r.requeue(&r.pending, inos[closed:])
	}
}

func (r *Root) writable() syscall.Errno {
	if r.opts.ReadOnly {
		return syscall.EROFS
	}
	return 0
}

// fillAttr copies a stored inode into a FUSE attribute reply, with the
// size grown to cover this client's writes still on their way to the
// store, so the kernel never shrinks its view of a file being written.
func (r *Root) fillAttr(a *meta.Attr, out *fuse.Attr) {
	fillAttr(a, out)
	r.overlayAtime(a, &out.Atime, &out.Atimensec)
	if end := r.data.PendingEnd(a.Ino); end > int64(out.Size) {
		out.Size = uint64(end)
		out.Blocks = (out.Size + 511) / 512
	}
}

// fillAttr copies a stored inode into a FUSE attribute reply.
func fillAttr(a *meta.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.Uid, a.Gid
	out.Rdev = a.Rdev
	out.Size = a.Size
	out.Blocks = a.Blocks()
	out.Blksize = 4096
	out.Atime, out.Atimensec = uint64(a.Atime/1e9), uint32(a.Atime%1e9)
	out.Mtime, out.Mtimensec = uint64(a.Mtime/1e9), uint32(a.Mtime%1e9)
	out.Ctime, out.Ctimensec = uint64(a.Ctime/1e9), uint32(a.Ctime%1e9)
}

func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// detach keeps a request's values but drops its cancellation. The kernel
// interrupts a request whenever the calling thread gets a signal (Go
// programs get one for every preemption), and an operation cut short after
// its transaction committed would report EINTR for a change that happened;
// the application would retry and see EEXIST or ENOENT. Store operations
// are bounded by the store's own timeout instead.
func detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
