//go:build fdb

package fdbbackend

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"sync"

	"github.com/apple/foundationdb/bindings/go/src/fdb"

	"github.com/hafs/hafs/fdbstore"
)

// readTx is a ReadTx over a transaction or its snapshot view.
type readTx struct {
	rt fdb.ReadTransaction
	ks keyspace
	// sz counts read conflicts; nil for snapshot reads, which add none.
	sz *sizer
	// readOnly marks the reads of ReadTransact, whose scans fetch whole
	// ranges eagerly.
	readOnly bool
}

func (t readTx) Get(key []byte) ([]byte, error) {
	k := t.ks.key(key)
	if t.sz != nil {
		t.sz.read(k)
	}
	return t.rt.Get(fdb.Key(k)).Get()
}

// GetMany implements fdbstore.MultiGetter: every read is issued before
// the first is waited on, so n keys cost one round trip, not n.
func (t readTx) GetMany(keys [][]byte) ([][]byte, error) {
	fs := make([]fdb.FutureByteSlice, len(keys))
	for i, key := range keys {
		k := t.ks.key(key)
		if t.sz != nil {
			t.sz.read(k)
		}
		fs[i] = t.rt.Get(fdb.Key(k))
	}
	out := make([][]byte, len(keys))
	for i, f := range fs {
		v, err := f.Get()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (t readTx) Snapshot() fdbstore.ReadTx {
	return readTx{rt: t.rt.Snapshot(), ks: t.ks, readOnly: t.readOnly}
}

func (t readTx) GetRange(begin, end []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	b, e := t.ks.key(begin), t.ks.rangeEnd(end)
	return func(yield func(fdbstore.KeyValue, error) bool) {
		if bytes.Compare(b, e) >= 0 {
			return
		}
		if t.sz != nil {
			t.sz.readRange(b, e)
		}
		r := fdb.KeyRange{Begin: fdb.Key(b), End: fdb.Key(e)}
		it := t.rt.GetRange(r, fdb.RangeOptions{Limit: max(o.Limit, 0), Reverse: o.Reverse, Mode: t.mode(o)}).Iterator()
		for it.Advance() {
			kv, err := it.Get()
			if err != nil {
				yield(fdbstore.KeyValue{}, err)
				return
			}
			// The bindings copy keys and values out of C memory, so
			// they outlive the transaction.
			if !yield(fdbstore.KeyValue{Key: t.ks.strip(kv.Key), Value: kv.Value}, nil) {
				return
			}
		}
	}
}

// mode chooses how the client fetches a range: a limited read asks for
// exactly its rows in one batch; a scan of a read-only transaction wants
// all of it as fast as possible; a read-write transaction's range, which
// its function may stop reading early, grows its batches as it goes.
func (t readTx) mode(o fdbstore.RangeOptions) fdb.StreamingMode {
	switch {
	case o.Limit > 0:
		return fdb.StreamingModeExact
	case t.readOnly:
		return fdb.StreamingModeWantAll
	default:
		return fdb.StreamingModeIterator
	}
}

// tx is one attempt's Tx. Mutations are checked against fdbstore.Limits
// first so that errors match the embedded backend exactly, and counted as
// FoundationDB counts a transaction's size; a mutation that breaks a
// limit is skipped and the attempt is not committed.
type tx struct {
	readTx
	tr      fdb.Transaction
	s       *Store
	lim     fdbstore.Limits
	size    sizer
	watches []*watch
}

func newTx(s *Store, tr fdb.Transaction) *tx {
	t := &tx{tr: tr, s: s}
	t.readTx = readTx{rt: tr, ks: s.ks, sz: &t.size}
	return t
}

// err returns the first limit the attempt broke.
func (t *tx) err() error {
	if err := t.lim.Err(); err != nil {
		return err
	}
	return t.size.err()
}

func (t *tx) Set(key, value []byte) {
	k := t.ks.key(key)
	t.size.set(k, len(value))
	if t.lim.CheckSet(key, value) {
		t.tr.Set(fdb.Key(k), value)
	}
}

func (t *tx) Clear(key []byte) {
	k := t.ks.key(key)
	t.size.clear(k)
	if t.lim.CheckKey(key, 0) {
		t.tr.Clear(fdb.Key(k))
	}
}

func (t *tx) ClearRange(begin, end []byte) {
	b, e := t.ks.key(begin), t.ks.rangeEnd(end)
	t.size.clearRange(b, e)
	n := len(systemKeys) // a nil end counts as the end of the keyspace
	if end != nil {
		n = len(end)
	}
	// An inverted range would fail the whole transaction in FoundationDB.
	if t.lim.CheckKey(begin, n) && bytes.Compare(b, e) < 0 {
		t.tr.ClearRange(fdb.KeyRange{Begin: fdb.Key(b), End: fdb.Key(e)})
	}
}

func (t *tx) Add(key []byte, delta int64) {
	k := t.ks.key(key)
	t.size.set(k, 8)
	if t.lim.CheckKey(key, 8) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(delta))
		t.tr.Add(fdb.Key(k), b[:])
	}
}

func (t *tx) Watch(key []byte) fdbstore.Watch {
	w := &watch{s: t.s, f: t.tr.Watch(fdb.Key(t.ks.key(key))), done: make(chan struct{})}
	t.watches = append(t.watches, w)
	if !t.s.track(w) {
		w.stop(fdbstore.ErrClosed)
		return w
	}
	go func() {
		// Get returns nil once the key changed after the commit.
		err := w.f.Get()
		if err != nil {
			err = fmt.Errorf("watch: %w", err)
		}
		w.stop(err)
	}()
	return w
}

// abort ends the watches of an attempt that did not commit. The client
// would fail them too, but only once the transaction is reset or
// collected.
func (t *tx) abort() {
	for _, w := range t.watches {
		w.stop(errWatchAborted)
	}
}

// watch is an fdbstore.Watch over the client's watch future.
type watch struct {
	s    *Store
	f    fdb.FutureNil
	once sync.Once
	done chan struct{}
	err  error
}

func (w *watch) Done() <-chan struct{} { return w.done }

func (w *watch) Err() error {
	<-w.done
	return w.err
}

func (w *watch) Cancel() { w.stop(errWatchCanceled) }

// stop ends the watch with err, once.
func (w *watch) stop(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
		w.s.untrack(w)
		w.f.Cancel() // frees the client's watch slot; no-op once fired
	})
}

func (s *Store) track(w *watch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches != nil {
		s.watches[w] = struct{}{}
	}
	return s.watches != nil
}

func (s *Store) untrack(w *watch) {
	s.mu.Lock()
	delete(s.watches, w)
	s.mu.Unlock()
}
