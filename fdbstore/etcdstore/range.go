package etcdstore

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hafs/hafs/fdbstore"
)

// rangeRead is one GetRange: the store's pages at the transaction's
// revision merged with the transaction's own writes.
type rangeRead struct {
	t          *tx
	begin, end []byte
	o          fdbstore.RangeOptions
	record     bool

	own  []fdbstore.KeyValue // the transaction's values in the range, in order
	sent int
}

func (r *rangeRead) run(yield func(fdbstore.KeyValue, error) bool) {
	t := r.t
	if r.end != nil && bytes.Compare(r.begin, r.end) >= 0 {
		return
	}
	r.own = r.ownValues()
	// covered grows as pairs are yielded: the part of the range whose
	// contents this read depends on, and which the commit guards.
	stop := func(last []byte) {
		if !r.record {
			return
		}
		c := span{bytes.Clone(r.begin), bytes.Clone(r.end)}
		if last != nil && !r.o.Reverse {
			c.end = append(bytes.Clone(last), 0)
		} else if last != nil {
			c.begin = bytes.Clone(last)
		}
		t.ranges = append(t.ranges, c)
	}
	cur := span{r.begin, r.end} // what is left to fetch from the store
	for {
		page, more, err := r.fetch(cur)
		if err != nil {
			stop(nil)
			yield(fdbstore.KeyValue{}, err)
			return
		}
		for _, kv := range page {
			key := kv.Key[len(t.s.data):]
			// The transaction's own values that sort before this pair go first.
			if last, done := r.flushOwn(key, yield); done {
				stop(last)
				return
			}
			if _, masked := t.buffered(key); masked {
				continue
			}
			if r.record {
				if _, seen := t.reads[string(key)]; !seen {
					t.reads[string(key)] = kv.ModRevision
				}
			}
			v := kv.Value
			if v == nil {
				v = []byte{}
			}
			if r.emit(fdbstore.KeyValue{Key: bytes.Clone(key), Value: v}, yield) {
				stop(key)
				return
			}
		}
		if !more || len(page) == 0 {
			break
		}
		last := page[len(page)-1].Key[len(t.s.data):]
		if r.o.Reverse {
			cur.end = bytes.Clone(last)
		} else {
			cur.begin = append(bytes.Clone(last), 0)
		}
	}
	if last, done := r.flushOwn(nil, yield); done {
		stop(last)
		return
	}
	stop(nil)
}

// emit yields kv and reports whether the read is over (limit or consumer).
func (r *rangeRead) emit(kv fdbstore.KeyValue, yield func(fdbstore.KeyValue, error) bool) bool {
	r.sent++
	return !yield(kv, nil) || (r.o.Limit > 0 && r.sent >= r.o.Limit)
}

// flushOwn yields the transaction's own values that come before key in
// the read's order (all of them when key is nil).
func (r *rangeRead) flushOwn(key []byte, yield func(fdbstore.KeyValue, error) bool) ([]byte, bool) {
	for len(r.own) > 0 {
		kv := r.own[0]
		c := bytes.Compare(kv.Key, key)
		if key != nil && (!r.o.Reverse && c >= 0 || r.o.Reverse && c <= 0) {
			return nil, false
		}
		r.own = r.own[1:]
		if r.emit(fdbstore.KeyValue{Key: bytes.Clone(kv.Key), Value: bytes.Clone(kv.Value)}, yield) {
			return kv.Key, true
		}
	}
	return nil, false
}

// ownValues returns the transaction's written values in the range, in the
// read's order.
func (r *rangeRead) ownValues() []fdbstore.KeyValue {
	var out []fdbstore.KeyValue
	in := span{r.begin, r.end}
	for k, w := range r.t.writes {
		if !w.del && in.has([]byte(k)) {
			out = append(out, fdbstore.KeyValue{Key: []byte(k), Value: w.value})
		}
	}
	slices.SortFunc(out, func(a, b fdbstore.KeyValue) int {
		if r.o.Reverse {
			return bytes.Compare(b.Key, a.Key)
		}
		return bytes.Compare(a.Key, b.Key)
	})
	return out
}

// fetch reads one page of cur from the store.
func (r *rangeRead) fetch(cur span) ([]*mvccpb.KeyValue, bool, error) {
	t := r.t
	if err := t.ctx.Err(); err != nil {
		return nil, false, t.readErr(err)
	}
	n := int64(rangePage)
	if r.o.Limit > 0 && len(t.clears) == 0 {
		// Enough for the limit even if every buffered write masks a pair.
		n = min(n, int64(r.o.Limit-r.sent+len(t.writes)))
	}
	end := clientv3.GetPrefixRangeEnd(t.s.data)
	if cur.end != nil {
		end = t.s.data + string(cur.end)
	}
	opts := append(t.at(), clientv3.WithRange(end), clientv3.WithLimit(n))
	if r.o.Reverse {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	rctx, cancel := t.s.request(t.ctx)
	defer cancel()
	resp, err := t.s.cli.Get(rctx, t.s.data+string(cur.begin), opts...)
	if err != nil {
		return nil, false, t.readErr(err)
	}
	t.pin(resp.Header.Revision)
	return resp.Kvs, resp.More, nil
}
