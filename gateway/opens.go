package gateway

import (
	"context"
	"sync"

	"github.com/hafs/hafs/meta"
)

// openTable counts the gateway's open handles per inode, so the store
// records the gateway as an opener exactly while one is open: an unlink by
// any client then keeps the inode (and its objects) until the last
// download of it ends.
type openTable struct {
	m  Opens
	ns Namespace

	mu    sync.Mutex
	count map[uint64]*openRef
}

// openRef is one inode's handles. Its mutex orders the transactions that
// register and drop the open, so the record covers handles > 0.
type openRef struct {
	mu      sync.Mutex
	handles int // guarded by mu
	users   int // guarded by openTable.mu
}

func newOpenTable(m Opens, ns Namespace) *openTable {
	return &openTable{m: m, ns: ns, count: map[uint64]*openRef{}}
}

func (t *openTable) ref(ino uint64) *openRef {
	t.mu.Lock()
	r := t.count[ino]
	if r == nil {
		r = &openRef{}
		t.count[ino] = r
	}
	r.users++
	t.mu.Unlock()
	r.mu.Lock()
	return r
}

func (t *openTable) unref(ino uint64, r *openRef) {
	idle := r.handles == 0
	r.mu.Unlock()
	t.mu.Lock()
	r.users--
	if r.users == 0 && idle {
		delete(t.count, ino)
	}
	t.mu.Unlock()
}

// acquire opens ino here and returns its current attributes.
func (t *openTable) acquire(ctx context.Context, ino uint64) (*meta.Attr, error) {
	r := t.ref(ino)
	defer t.unref(ino, r)
	var a *meta.Attr
	var err error
	if r.handles == 0 {
		a, err = t.m.Open(ctx, ino)
	} else {
		a, err = t.ns.GetAttr(ctx, ino)
	}
	if err != nil {
		return nil, err
	}
	r.handles++
	return a, nil
}

// release closes one handle of ino; the last drops the store's record.
func (t *openTable) release(ctx context.Context, ino uint64) error {
	r := t.ref(ino)
	defer t.unref(ino, r)
	r.handles--
	if r.handles > 0 {
		return nil
	}
	return t.m.Close(ctx, ino)
}
