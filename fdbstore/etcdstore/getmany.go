package etcdstore

import (
	"bytes"
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// GetMany implements fdbstore.MultiGetter: the keys the transaction has
// not written itself are read in one etcd Txn of Gets (as many as the
// server takes in one), one round trip instead of one per key.
func (t *tx) GetMany(keys [][]byte) ([][]byte, error) { return t.getMany(keys, t.writable) }

// GetMany implements fdbstore.MultiGetter for snapshot reads.
func (v snapshotTx) GetMany(keys [][]byte) ([][]byte, error) { return v.t.getMany(keys, false) }

func (t *tx) getMany(keys [][]byte, record bool) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var todo []int // indexes of the keys to read from the store
	for i, k := range keys {
		if v, ok := t.buffered(k); ok {
			out[i] = bytes.Clone(v)
		} else {
			todo = append(todo, i)
		}
	}
	per := max(t.s.cfg.MaxTxnOps, 1)
	for len(todo) > 0 {
		n := min(per, len(todo))
		if err := t.readBatch(keys, todo[:n], out, record); err != nil {
			return nil, err
		}
		todo = todo[n:]
	}
	return out, nil
}

// readBatch reads keys[i] for each i in idx in one Txn, into out.
func (t *tx) readBatch(keys [][]byte, idx []int, out [][]byte, record bool) error {
	if err := t.ctx.Err(); err != nil {
		return context.Cause(t.ctx)
	}
	ops := make([]clientv3.Op, len(idx))
	for j, i := range idx {
		ops[j] = clientv3.OpGet(t.s.data+string(keys[i]), t.at()...)
	}
	rctx, cancel := t.s.request(t.ctx)
	defer cancel()
	resp, err := t.s.cli.Txn(rctx).Then(ops...).Commit()
	if err != nil {
		return t.readErr(err)
	}
	t.pin(resp.Header.Revision)
	for j, i := range idx {
		var v []byte
		var mod int64
		if kvs := resp.Responses[j].GetResponseRange().GetKvs(); len(kvs) == 1 {
			v, mod = kvs[0].Value, kvs[0].ModRevision
			if v == nil {
				v = []byte{}
			}
		}
		out[i] = v
		if record {
			if _, seen := t.reads[string(keys[i])]; !seen {
				t.reads[string(keys[i])] = mod
			}
		}
	}
	return nil
}
