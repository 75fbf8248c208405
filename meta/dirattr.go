package meta

import (
	"context"
	"sync"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// Directory attributes this client just wrote.
//
// After every create, unlink, rename or mkdir the kernel drops what it
// knows of the parent directory's attributes (the change moved its mtime),
// and its next permission check in that directory asks for them again: a
// read transaction per namespace operation, a fifth to a third of what a
// create or unlink costs. The transaction that changed the directory wrote
// those attributes, so this client remembers them for a moment
// (recentFor) and DirAttr answers from there. That is a copy younger than
// the kernel's own attribute cache (--attr-timeout) may be, of this
// client's own commit; another client's change to the directory in the
// same moment shows a moment later, as it would through a cached
// attribute. Opens of a directory (close-to-open of listings) always read
// the store.

// recentFor is how long a directory's written attributes answer DirAttr.
const recentFor = 100 * time.Millisecond

// maxRecent bounds the directories remembered; past it they are forgotten.
const maxRecent = 1024

// recentDirs holds directory attributes this client's commits wrote.
type recentDirs struct {
	mu   sync.Mutex
	dirs map[uint64]recentDir
}

type recentDir struct {
	a  *Attr
	at time.Time // monotonic: when the commit that wrote it returned
}

// note remembers the directories of a transaction that just committed.
func (r *recentDirs) note(dirs map[uint64]*Attr) {
	if len(dirs) == 0 {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirs == nil || len(r.dirs)+len(dirs) > maxRecent {
		r.dirs = map[uint64]recentDir{}
	}
	for ino, a := range dirs {
		r.dirs[ino] = recentDir{a: a, at: now}
	}
}

// get returns ino's attributes if a commit of this client wrote them within
// recentFor.
func (r *recentDirs) get(ino uint64) *Attr {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.dirs[ino]
	if !ok || time.Since(d.at) >= recentFor {
		return nil
	}
	c := *d.a
	return &c
}

// DirAttr is GetAttr for the kernel's attribute requests: a directory
// whose attributes this client's commit wrote a moment ago is answered
// from that commit (see recentDirs), anything else from the store.
func (f *FS) DirAttr(ctx context.Context, ino uint64) (*Attr, error) {
	if a := f.recent.get(ino); a != nil {
		return a, nil
	}
	return f.GetAttr(ctx, ino)
}

// recordingTx is a read-write transaction that notes the directory
// attributes it writes (putAttr), for recentDirs once it commits.
type recordingTx struct {
	fdbstore.Tx
	dirs map[uint64]*Attr
}

// GetMany keeps the store's batched reads (fdbstore.MultiGetter) visible
// through the wrapper.
func (t *recordingTx) GetMany(keys [][]byte) ([][]byte, error) {
	return fdbstore.GetMany(t.Tx, keys)
}

// noteDir records a directory's attributes written in tx.
func noteDir(tx fdbstore.Tx, a *Attr) {
	if rt, ok := tx.(*recordingTx); ok && a.IsDir() {
		if rt.dirs == nil {
			rt.dirs = map[uint64]*Attr{}
		}
		c := *a
		rt.dirs[a.Ino] = &c
	}
}
