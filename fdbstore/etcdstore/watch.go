package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"

	"google.golang.org/grpc/metadata"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hafs/hafs/fdbstore"
)

// errWatchCanceled is the Err of a watch stopped by Cancel.
var errWatchCanceled = errors.New("watch canceled")

// watchSet is the store's running watches, so that they can be woken
// when a member leaves the balancer.
type watchSet struct {
	mu   sync.Mutex
	gen  uint64 // bumped by restart
	live map[*watch]context.CancelFunc
}

// add registers w, running under cancel, and returns ctx keyed to the
// current generation: the client shares one gRPC stream among watches
// whose contexts carry the same metadata, so watches started after a
// restart get a new stream, on a member still in the balancer, instead of
// joining the old one.
func (ws *watchSet) add(ctx context.Context, w *watch, cancel context.CancelFunc) context.Context {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.live == nil {
		ws.live = map[*watch]context.CancelFunc{}
	}
	ws.live[w] = cancel
	return metadata.AppendToOutgoingContext(ctx, "hafs-watch-gen", strconv.FormatUint(ws.gen, 10))
}

func (ws *watchSet) remove(w *watch) {
	ws.mu.Lock()
	delete(ws.live, w)
	ws.mu.Unlock()
}

// restart wakes every running watch (its waiter reads again and, if it
// still waits, watches anew) and ends their streams.
func (ws *watchSet) restart() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.gen++
	for w, cancel := range ws.live {
		w.fail(nil)
		cancel()
	}
	clear(ws.live)
}

// watch is one fdbstore.Watch: an etcd watch of the key from the revision
// after the commit, so no change between the commit and the watch's
// start is missed.
type watch struct {
	s   *Store
	key []byte

	mu     sync.Mutex
	cancel context.CancelFunc // set by start
	once   sync.Once
	done   chan struct{}
	err    error
}

func newWatch(s *Store, key []byte) *watch {
	return &watch{s: s, key: bytes.Clone(key), done: make(chan struct{})}
}

// Done implements fdbstore.Watch.
func (w *watch) Done() <-chan struct{} { return w.done }

// Err implements fdbstore.Watch.
func (w *watch) Err() error {
	<-w.done
	return w.err
}

// Cancel implements fdbstore.Watch.
func (w *watch) Cancel() {
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	w.fail(errWatchCanceled)
}

func (w *watch) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}

func (w *watch) cancelFunc() context.CancelFunc {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancel
}

// start watches for a value other than the one the key had at revision
// rev, the commit's: value when the transaction wrote it (known), else
// read at rev.
func (w *watch) start(rev int64, value []byte, known bool) {
	select {
	case <-w.done:
		return
	default:
	}
	ctx, cancel := context.WithCancel(w.s.ctx)
	w.mu.Lock()
	w.cancel = cancel
	w.mu.Unlock()
	go w.run(ctx, rev, value, known)
}

func (w *watch) run(ctx context.Context, rev int64, value []byte, known bool) {
	ctx = w.s.watches.add(ctx, w, w.cancelFunc())
	defer w.s.watches.remove(w)
	defer func() {
		switch {
		case w.s.ctx.Err() != nil:
			w.fail(fdbstore.ErrClosed)
		default:
			w.fail(errWatchCanceled)
		}
	}()
	key := w.s.data + string(w.key)
	present := value != nil
	if !known {
		var opts []clientv3.OpOption
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := w.s.request(ctx)
		resp, err := w.s.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			// Unknown: wake the waiter, who reads again.
			w.fail(nil)
			return
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		present = len(resp.Kvs) == 1
		if present {
			value = resp.Kvs[0].Value
		}
	}
	// WithRequireLeader ends the watch when its member loses the leader, so
	// a member cut off from the others cannot hold a waiter forever.
	wch := w.s.cli.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(rev+1))
	for resp := range wch {
		if resp.Err() != nil || resp.Canceled {
			// Compacted history or a lost leader: the key may have
			// changed; the waiter reads it again.
			w.fail(nil)
			return
		}
		for _, ev := range resp.Events {
			gone := ev.Type == clientv3.EventTypeDelete
			if gone == present || (!gone && !bytes.Equal(ev.Kv.Value, value)) {
				w.fail(nil)
				return
			}
		}
	}
}
