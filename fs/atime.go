package fs

import (
	"context"
	"errors"
	"sync"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/meta"
)

// atimes holds the access times this client's reads moved and the store
// does not have yet. A read used to cost a read and a write transaction
// for its atime (relatime moves it on the first read after every change);
// now the times gather here and land in one transaction per round of the
// closer (RunCloser), as Linux's lazytime keeps them in memory. This
// client's own stat sees them at once (overlay); another client's within
// a round, and a crash loses at most a round of access times, which POSIX
// leaves to the implementation.
type atimes struct {
	mu      sync.Mutex
	pending map[uint64]int64 // inode → time of the read, Unix ns
}

// atimeBatch is how many inodes may wait before the closer runs early.
const atimeBatch = 4096

// noteRead records a read at t of ino, whose attributes at open were a.
func (r *Root) noteRead(ino uint64, a *meta.Attr, t int64) {
	if a != nil && !meta.AtimeStale(a, t) {
		return
	}
	r.atimes.mu.Lock()
	if r.atimes.pending == nil {
		r.atimes.pending = map[uint64]int64{}
	}
	r.atimes.pending[ino] = max(r.atimes.pending[ino], t)
	kick := len(r.atimes.pending) >= atimeBatch
	r.atimes.mu.Unlock()
	if kick {
		select {
		case r.closeKick <- struct{}{}:
		default:
		}
	}
}

// forgetAtime drops ino's waiting access time: an explicit one replaced it.
func (r *Root) forgetAtime(ino uint64) {
	r.atimes.mu.Lock()
	delete(r.atimes.pending, ino)
	r.atimes.mu.Unlock()
}

// overlayAtime shows this client's waiting access time of a in out, as
// the store will hold it once it lands (same rule as meta.TouchAtimes).
func (r *Root) overlayAtime(a *meta.Attr, atime *uint64, nsec *uint32) {
	r.atimes.mu.Lock()
	t, ok := r.atimes.pending[a.Ino]
	r.atimes.mu.Unlock()
	if ok && t > a.Ctime && meta.AtimeStale(a, t) {
		*atime, *nsec = uint64(t/1e9), uint32(t%1e9)
	}
}

// flushAtimes writes the waiting access times in one transaction. On a
// full store or a fenced client they are dropped (an access time is best
// effort); on another failure they wait for the next round.
func (r *Root) flushAtimes(ctx context.Context) {
	r.atimes.mu.Lock()
	batch := r.atimes.pending
	r.atimes.pending = nil
	r.atimes.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := r.m.TouchAtimes(ctx, batch)
	if err == nil || errors.Is(err, fdbstore.ErrStoreFull) || errors.Is(err, meta.ErrFenced) {
		return
	}
	r.log.Warn("could not record access times; retrying", "inodes", len(batch), "err", err)
	r.atimes.mu.Lock()
	if r.atimes.pending == nil {
		r.atimes.pending = map[uint64]int64{}
	}
	for ino, t := range batch {
		r.atimes.pending[ino] = max(r.atimes.pending[ino], t)
	}
	r.atimes.mu.Unlock()
}
