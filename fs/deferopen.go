package fs

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/s3tier"
)

// Deferred registration of read-only opens of small files.
//
// An open registers this client as an opener of the inode in the store, so
// that an unlink by another client keeps the inode until this client's
// last close (meta.FS.Open). That is a write transaction per open, and
// reading a small file is mostly that: opening it, reading a body the
// open's own transaction read along, and closing it. A read-only open of a
// file whose body is all inline and small therefore only reads (CheckOpen-
// Inline) and queues its registration; RunCloser registers the queue in one
// transaction per round (closeDelay) and the closes that follow cancel
// registrations never made, so a file opened, read and closed within a
// round costs one read transaction.
//
// Until the registration commits, another client's unlink may remove the
// inode. The open read the whole body already, and keeps it (snapshot):
// reads through it, and fstat, still answer as for an unlinked open file.
// What this client does itself waits for nothing: an unlink or rename here
// over such an inode, and a lock on it, register first (settle).

// deferStats count deferred opens for /metrics.
type deferStats struct {
	waiting    atomic.Int64 // inodes whose opens wait for their registration
	closed     atomic.Int64 // closed before it was due: no write at all
	registered atomic.Int64 // registered in a batch, or at once by settle
	lost       atomic.Int64 // removed elsewhere (or fenced) before that
}

// snapshot is the inode and body a deferred open read.
type snapshot struct {
	attr *meta.Attr
	body []byte
}

// deferrable reports whether an open of n with flags may defer its
// registration: read-only, on what was a small inline file the last time
// this client saw its attributes (a stale guess costs a second
// transaction, see openInode).
func (n *node) deferrable(flags uint32) bool {
	return flags&syscall.O_ACCMODE == syscall.O_RDONLY && flags&syscall.O_TRUNC == 0 && n.smallHint.Load()
}

// noteAttr keeps, from attributes this client read, whether the file is
// small and inline (deferrable).
func (n *node) noteAttr(a *meta.Attr) {
	n.smallHint.Store(a.Mode&syscall.S_IFMT == syscall.S_IFREG && !a.Sliced() && a.Size <= s3tier.InlineReadMax)
}

// openDeferred is openInode's read-only open of a small inline file not
// registered here: it reads the inode and body and queues the
// registration. A file that turns out not to be small and inline is
// registered at once, as a plain open. Called with st's mutex held.
func (r *Root) openDeferred(ctx context.Context, st *openState, ino uint64, inlineMax int) (*meta.Attr, []byte, error) {
	a, body, err := r.m.CheckOpenInline(ctx, ino, inlineMax)
	if err != nil {
		return nil, nil, err
	}
	if body == nil {
		a, body, err = r.m.OpenInline(ctx, ino, inlineMax)
		st.registered = err == nil
		return a, body, err
	}
	st.snap = &snapshot{attr: a, body: body}
	if !st.deferred {
		st.deferred = true
		r.deferred.waiting.Add(1)
		r.enqueue(&r.pendOpens, ino)
	}
	return a, body, nil
}

// flushOpens registers the deferred opens still held (RunCloser).
func (r *Root) flushOpens(ctx context.Context) {
	inos, held := r.holdQueued(&r.pendOpens, func(st *openState) bool {
		return st.deferred && !st.registered && st.handles > 0
	})
	if len(inos) == 0 {
		return
	}
	err := r.registerHeld(ctx, inos, held)
	for i, st := range held {
		r.release(inos[i], st)
	}
	if err != nil {
		r.log.Warn("could not register open files; retrying", "inodes", len(inos), "err", err)
		r.requeue(&r.pendOpens, inos)
	}
}

// registerHeld registers inos, whose states are held, and records the
// outcome in each. A failure leaves them deferred, and unsure: the store
// may hold their records, which the closer must then drop. A fenced
// client registers nothing more; its deferred opens keep their snapshots.
func (r *Root) registerHeld(ctx context.Context, inos []uint64, held []*openState) error {
	gone, err := r.m.RegisterOpens(ctx, inos)
	if errors.Is(err, meta.ErrFenced) {
		for _, st := range held {
			r.undefer(st, &r.deferred.lost)
		}
		return nil
	}
	if err != nil {
		for _, st := range held {
			st.unsure = true
		}
		return err
	}
	lost := map[uint64]bool{}
	for _, ino := range gone {
		lost[ino] = true
	}
	for i, st := range held {
		if lost[inos[i]] {
			r.undefer(st, &r.deferred.lost)
			continue
		}
		r.markRegistered(st)
	}
	return nil
}

// markRegistered records that the store holds st's registration: its
// deferred opens, if any, are registered and need their snapshot no more.
// Called with st's mutex held.
func (r *Root) markRegistered(st *openState) {
	st.registered = true
	r.undefer(st, &r.deferred.registered)
	st.snap = nil
}

// undefer ends st's deferred state, if it is in one, counting how in
// outcome. Called with st's mutex held.
func (r *Root) undefer(st *openState, outcome *atomic.Int64) {
	if st.deferred {
		st.deferred = false
		r.deferred.waiting.Add(-1)
		outcome.Add(1)
	}
}

// removing runs op, an unlink or rename here that may remove the last
// name of ino (the inode the kernel has under that name, or 0), once the
// deferred opens of ino here are registered, holding ino's open state so
// that no open here defers across it (one that waits finds the inode
// unlinked, ESTALE, and the kernel looks the name up again). The rest of
// the queue goes first too: the name may lead elsewhere by now.
func (r *Root) removing(ctx context.Context, ino uint64, op func() error) error {
	if r.deferred.waiting.Load() > 0 {
		r.flushOpens(ctx)
	}
	if ino == 0 {
		return op()
	}
	st := r.acquire(ino)
	defer r.release(ino, st)
	if err := r.registerNow(ctx, ino, st); err != nil {
		return err
	}
	return op()
}

// registerNow registers st's deferred opens, if it has any. Called with
// st's mutex held.
func (r *Root) registerNow(ctx context.Context, ino uint64, st *openState) error {
	if !st.deferred || st.registered || st.handles == 0 {
		return nil
	}
	return r.registerHeld(ctx, []uint64{ino}, []*openState{st})
}

// acquireKnown is acquire for an inode this client may hold no state of:
// nil then, and none is made.
func (r *Root) acquireKnown(ino uint64) *openState {
	r.mu.Lock()
	_, ok := r.open[ino]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return r.acquire(ino)
}

// settle registers ino's deferred opens at once, if it has any: before
// this client locks it.
func (r *Root) settle(ctx context.Context, ino uint64) error {
	st := r.acquireKnown(ino)
	if st == nil {
		return nil
	}
	defer r.release(ino, st)
	return r.registerNow(ctx, ino, st)
}

// snapshotOf returns what a deferred open of ino read, while the inode
// may be gone without this client's registration to keep it, or nil.
func (r *Root) snapshotOf(ino uint64) *snapshot {
	st := r.acquireKnown(ino)
	if st == nil {
		return nil
	}
	defer r.release(ino, st)
	return st.snap
}

// gone reports whether err says the inode is no longer in the store.
func gone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESTALE)
}
