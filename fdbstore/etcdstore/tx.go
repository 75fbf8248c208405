package etcdstore

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hafs/hafs/fdbstore"
)

// rangePage is how many pairs one range request asks for.
const rangePage = 512

// write is one buffered mutation of a key: a value, or a deletion.
type write struct {
	value []byte
	del   bool
}

// span is a key range [begin, end) in the store's own key space (the
// caller's keys, without the prefix); a nil end is the end of the space.
type span struct{ begin, end []byte }

func (r span) has(k []byte) bool {
	return bytes.Compare(k, r.begin) >= 0 && (r.end == nil || bytes.Compare(k, r.end) < 0)
}

// tx is one attempt of a transaction: the revision its reads see, its
// read set (for the commit's compares) and its buffered writes.
type tx struct {
	s        *Store
	ctx      context.Context
	writable bool

	rev     int64            // revision of every read; 0 before the first
	reads   map[string]int64 // key -> mod revision seen (0: absent)
	ranges  []span           // ranges read, as far as they were read
	writes  map[string]write
	clears  []span // cleared ranges, disjoint; writes after a clear override it
	watches []*watch
	limits  fdbstore.Limits
}

func (s *Store) newTx(ctx context.Context, writable bool) *tx {
	return &tx{s: s, ctx: ctx, writable: writable, reads: map[string]int64{}, writes: map[string]write{}}
}

// snapshotTx reads through t without recording what it reads.
type snapshotTx struct{ t *tx }

func (v snapshotTx) Get(key []byte) ([]byte, error) { return v.t.get(key, false) }
func (v snapshotTx) GetRange(b, e []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	return v.t.getRange(b, e, o, false)
}
func (v snapshotTx) Snapshot() fdbstore.ReadTx { return v }

// Snapshot implements fdbstore.ReadTx.
func (t *tx) Snapshot() fdbstore.ReadTx { return snapshotTx{t} }

// Get implements fdbstore.ReadTx.
func (t *tx) Get(key []byte) ([]byte, error) { return t.get(key, t.writable) }

// GetRange implements fdbstore.ReadTx.
func (t *tx) GetRange(b, e []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	return t.getRange(b, e, o, t.writable)
}

// buffered returns what the transaction's own writes say of key.
func (t *tx) buffered(key []byte) (value []byte, known bool) {
	if w, ok := t.writes[string(key)]; ok {
		if w.del {
			return nil, true
		}
		return w.value, true
	}
	for _, c := range t.clears {
		if c.has(key) {
			return nil, true
		}
	}
	return nil, false
}

// at returns the options of a read at the transaction's revision. The
// first read is linearizable and sets rev; later ones read that revision
// from the nearest member without a round of the leader's (a member that
// has not applied it yet answers ErrFutureRev, which retries).
//
// A read-only transaction under fdbstore.MayReadStale reads first from the
// nearest member too: the snapshot of whatever revision it has applied.
func (t *tx) at() []clientv3.OpOption {
	if t.rev == 0 {
		if !t.writable && fdbstore.IsStaleOK(t.ctx) {
			return []clientv3.OpOption{clientv3.WithSerializable()}
		}
		return nil
	}
	return []clientv3.OpOption{clientv3.WithRev(t.rev), clientv3.WithSerializable()}
}

func (t *tx) pin(rev int64) {
	if t.rev == 0 {
		t.rev = rev
	}
}

func (t *tx) get(key []byte, record bool) ([]byte, error) {
	if v, ok := t.buffered(key); ok {
		return bytes.Clone(v), nil
	}
	if err := t.ctx.Err(); err != nil {
		return nil, context.Cause(t.ctx)
	}
	rctx, cancel := t.s.request(t.ctx)
	defer cancel()
	resp, err := t.s.cli.Get(rctx, t.s.data+string(key), t.at()...)
	if err != nil {
		return nil, t.readErr(err)
	}
	t.pin(resp.Header.Revision)
	var v []byte
	var mod int64
	if len(resp.Kvs) == 1 {
		v, mod = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
		if v == nil {
			v = []byte{}
		}
	}
	if record {
		if _, seen := t.reads[string(key)]; !seen {
			t.reads[string(key)] = mod
		}
	}
	return v, nil
}

// readErr classifies a failed read: a compacted revision or a passing
// outage restarts the transaction; anything else ends it. Either way the
// transaction cannot commit: a caller that ignored the error would commit
// writes computed from a read that never happened, with no compare on it.
func (t *tx) readErr(err error) error {
	if t.ctx.Err() != nil {
		err = context.Cause(t.ctx)
	} else {
		err = describe(err)
	}
	t.limits.Fail(err)
	return err
}

// getRange merges the store's pairs at the transaction's revision with the
// transaction's own writes. It records, as it yields, the part of the
// range it has read and the mod revision of every stored pair it returned.
func (t *tx) getRange(begin, end []byte, o fdbstore.RangeOptions, record bool) iter.Seq2[fdbstore.KeyValue, error] {
	return func(yield func(fdbstore.KeyValue, error) bool) {
		r := &rangeRead{t: t, begin: begin, end: end, o: o, record: record}
		r.run(yield)
	}
}

// Set implements fdbstore.Tx.
func (t *tx) Set(key, value []byte) {
	if !t.mutable() || !t.limits.CheckSet(key, value) {
		return
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{} // present and empty, not absent
	}
	t.writes[string(key)] = write{value: v}
}

// Clear implements fdbstore.Tx.
func (t *tx) Clear(key []byte) {
	if !t.mutable() || !t.limits.CheckKey(key, 0) {
		return
	}
	t.writes[string(key)] = write{del: true}
}

// ClearRange implements fdbstore.Tx.
func (t *tx) ClearRange(begin, end []byte) {
	if !t.mutable() || !t.limits.CheckKey(begin, len(end)) {
		return
	}
	if end != nil && bytes.Compare(begin, end) >= 0 {
		return
	}
	c := span{bytes.Clone(begin), bytes.Clone(end)}
	for k := range t.writes {
		if c.has([]byte(k)) {
			delete(t.writes, k)
		}
	}
	t.clears = mergeSpans(append(t.clears, c))
}

// Add implements fdbstore.Tx. etcd has no atomic add, so it reads the
// counter (a conflict with any concurrent change to it) and writes the sum.
func (t *tx) Add(key []byte, delta int64) {
	if !t.mutable() {
		return
	}
	v, err := t.get(key, true)
	if err != nil {
		t.limits.Fail(fmt.Errorf("add to %q: %w", key, err))
		return
	}
	t.Set(key, fdbstore.AddLE(v, delta))
}

// Watch implements fdbstore.Tx.
func (t *tx) Watch(key []byte) fdbstore.Watch {
	w := newWatch(t.s, key)
	t.watches = append(t.watches, w)
	return w
}

func (t *tx) mutable() bool {
	if !t.writable {
		t.limits.Fail(fdbstore.ErrReadOnly)
		return false
	}
	return true
}

// finish starts the transaction's watches after a commit, or fails them.
func (t *tx) finish(err error) {
	if err == nil && t.rev == 0 && len(t.watches) > 0 {
		// A transaction that neither read nor wrote commits "now": pin now
		// before returning, so that a change the caller makes next is seen.
		rctx, cancel := t.s.request(t.ctx)
		resp, gerr := t.s.cli.Get(rctx, t.s.data, clientv3.WithCountOnly())
		cancel()
		if gerr == nil {
			t.rev = resp.Header.Revision
		}
	}
	for _, w := range t.watches {
		if err != nil {
			w.fail(fmt.Errorf("transaction did not commit: %w", err))
			continue
		}
		v, known := t.buffered(w.key)
		w.start(t.rev, v, known)
	}
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return bytes.Compare(a.begin, b.begin) })
	out := spans[:0]
	for _, c := range spans {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(c.begin, out[n-1].end) <= 0) {
			if out[n-1].end != nil && (c.end == nil || bytes.Compare(c.end, out[n-1].end) > 0) {
				out[n-1].end = c.end
			}
			continue
		}
		out = append(out, c)
	}
	return out
}
