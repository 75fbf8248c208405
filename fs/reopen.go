package fs

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/hafs/hafs/meta"
)

// Opens through names another client changed.
//
// The kernel caches names for --entry-timeout. An open through a cached
// name whose file another client deleted since, or replaced by rename,
// reaches an inode with no links: meta refuses it with ESTALE, and the
// kernel looks the name up again and retries the open, once. Reading the
// unlinked file instead would show what the name no longer holds after a
// lock was granted, which protocols built on locks cannot survive (sqlite3
// would take a journal deleted at commit for a hot one and roll the commit
// back). Under steady replacement, though (a configuration file rewritten
// by rename many times a second), the file the retry's lookup finds may be
// replaced before the retried open arrives, and that second ESTALE would
// reach the application.
//
// So the ESTALE notes the name the open came through (retries), and each
// lookup of that name until the retried open arrives registers this client
// as an opener of the inode it finds, in the transaction that reads the
// name (a pin): the inode then stays until this client closes it, whatever
// becomes of the name, as for any open file. The kernel looks the name up
// twice when the first lookup finds another inode than its cached one (once
// to revalidate, once afresh), and the name may move between the two: both
// pin. The retried open takes over its inode's pin and ends the retry; a
// pin no open takes is dropped after pinTTL, and a lookup that finds
// nothing ends the retry, so that no later lookup pins. Each open thus
// reaches the file its name held at a moment during the open call, never
// an error, and never one the name had left before the call.

// Bounds of the bookkeeping: a retry's lookup and open follow the ESTALE
// within microseconds; these only keep the maps from holding on to what
// never came.
const (
	retryTTL   = time.Second     // a noted name waits this long for its open
	pinTTL     = 5 * time.Second // a pin waits this long for its open
	maxRetries = 1024            // noted names kept at most
)

// retryName is a name an open came through: directory inode and name.
type retryName struct {
	dir  uint64
	name string
}

// retryNames are the names whose open just failed with ESTALE.
type retryNames struct {
	mu    sync.Mutex
	names map[retryName]time.Time // guarded by mu: when the open failed
}

// nameOf returns the name through which the kernel reached n, as this
// mount's tree knows it (its newest name), and whether it knows one.
func nameOf(n *node) (retryName, bool) {
	name, parent := n.Parent()
	if parent == nil {
		return retryName{}, false
	}
	return retryName{dir: parent.StableAttr().Ino, name: name}, true
}

// noteRetry records the name through which n was just opened with ESTALE.
// A node whose name was looked up again meanwhile has none: its retry goes
// unpinned, as without pins.
func (r *Root) noteRetry(n *node) {
	k, ok := nameOf(n)
	if !ok {
		return
	}
	now := time.Now()
	r.retries.mu.Lock()
	defer r.retries.mu.Unlock()
	if r.retries.names == nil || len(r.retries.names) >= maxRetries {
		r.retries.names = map[retryName]time.Time{}
	}
	r.retries.names[k] = now
}

// retrying reports whether an open through name in dir failed with ESTALE
// within retryTTL and has not been retried yet.
func (r *Root) retrying(dir uint64, name string) bool {
	r.retries.mu.Lock()
	defer r.retries.mu.Unlock()
	at, ok := r.retries.names[retryName{dir: dir, name: name}]
	return ok && time.Since(at) < retryTTL
}

// endRetry forgets a noted name: its open was retried, or its lookup found
// nothing to open.
func (r *Root) endRetry(k retryName) {
	r.retries.mu.Lock()
	defer r.retries.mu.Unlock()
	delete(r.retries.names, k)
}

// retried ends the retry of the name n was opened through, if any.
func (r *Root) retried(n *node) {
	r.retries.mu.Lock()
	pending := len(r.retries.names) > 0
	r.retries.mu.Unlock()
	if !pending {
		return
	}
	if k, ok := nameOf(n); ok {
		r.endRetry(k)
	}
}

// pinLookup looks name up in dir and pins the regular file it finds (see
// above). The inode's open state is held across the transaction, so the
// closer cannot drop the registration it makes; the name is read first to
// learn which inode to hold, and again, with the registration, to check it
// still leads there.
func (r *Root) pinLookup(ctx context.Context, dir uint64, name string) (*meta.Attr, error) {
	a, err := r.m.Lookup(ctx, dir, name)
	// A name that moves on between the two reads is read again: at most a
	// few times, then the lookup goes unpinned, as without pins.
	for try := 0; err == nil && a.IsReg() && try < 4; try++ {
		st := r.acquire(a.Ino)
		b, opened, oerr := r.m.OpenByName(ctx, dir, name, a.Ino)
		if oerr == nil && opened {
			r.pin(a.Ino, st)
		}
		r.release(a.Ino, st)
		if err = oerr; err == nil {
			a = b
		}
		if opened {
			break
		}
	}
	if errors.Is(err, syscall.ENOENT) {
		r.endRetry(retryName{dir: dir, name: name}) // no open follows
	}
	return a, err
}

// pin counts the registration OpenByName made as a handle, so the closer
// keeps it, until an open takes it over (openInode) or pinTTL passes.
// Called with st's mutex held.
func (r *Root) pin(ino uint64, st *openState) {
	r.markRegistered(st)
	if !st.pinned {
		st.pinned = true
		st.handles++
	}
	// A second pin before an open shares the first one's handle and
	// extends its time: only the newest timer may drop it.
	st.pinGen++
	gen := st.pinGen
	time.AfterFunc(pinTTL, func() { r.unpin(ino, gen) })
}

// unpin drops a pin no open took over, as a close would.
func (r *Root) unpin(ino, gen uint64) {
	st := r.acquire(ino)
	stale := st.pinned && st.pinGen == gen
	if stale {
		st.pinned = false
	}
	r.release(ino, st)
	if stale {
		if _, e := r.closeInode(context.Background(), ino, nil); e != 0 {
			r.log.Warn("dropping an unused pin", "ino", ino, "errno", e)
		}
	}
}

// takePin turns ino's pin into the handle of the open under way and
// returns the inode as the open sees it. Called with st's mutex held and
// st pinned.
func (r *Root) takePin(ctx context.Context, st *openState, ino uint64) (*meta.Attr, error) {
	// The inode is registered as open by this client, so it exists even if
	// it lost its last link since the lookup.
	a, err := r.m.GetAttr(ctx, ino)
	if errors.Is(err, syscall.ENOENT) {
		err = syscall.ESTALE // cannot happen while registered; as meta.Open
	}
	if err != nil {
		return nil, err
	}
	st.pinned = false
	return a, nil
}
