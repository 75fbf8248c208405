package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hafs/hafs/fdbstore"
)

// Commit markers' values.
const (
	markCommitted = "c"
	markAborted   = "a"
)

// opOverhead is a generous count of the bytes an operation or compare
// adds to a request besides its key and value, so that the size checked
// here is never below what the server counts.
const opOverhead = 32

// commit sends the transaction as one Txn guarded by its read set.
func (t *tx) commit() error {
	if err := t.limits.Err(); err != nil {
		return err
	}
	if len(t.writes) == 0 && len(t.clears) == 0 {
		// Nothing to write: every read saw the one revision rev.
		return nil
	}
	lease, err := t.s.markerLease(t.ctx, false)
	if err != nil {
		return retryable{err}
	}
	marker := t.s.newMarker()
	cmps := append(t.compares(), clientv3.Compare(clientv3.Version(marker), "=", 0))
	ops := append(t.ops(), clientv3.OpPut(marker, markCommitted, clientv3.WithLease(lease)))
	if err := t.checkSize(cmps, ops); err != nil {
		return err
	}
	rctx, cancel := t.s.request(t.ctx)
	resp, err := t.s.cli.Txn(rctx).If(cmps...).Then(ops...).Commit()
	cancel()
	switch {
	case err == nil && resp.Succeeded:
		t.rev = resp.Header.Revision
		return nil
	case err == nil:
		return fmt.Errorf("etcd store: %w: a key read since revision %d changed", fdbstore.ErrConflict, t.rev)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		// The lease expired (a long partition): take a new one and rerun.
		_, lerr := t.s.markerLease(t.ctx, true)
		return retryable{errors.Join(err, lerr)}
	case refused(err):
		return describe(err)
	}
	return t.settle(marker, lease, err)
}

// compares are the Txn's guards: each key read keeps its mod revision, and
// each range read holds no key changed after rev.
func (t *tx) compares() []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.ranges)+1)
	for k, mod := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(t.s.data+k), "=", mod))
	}
	for _, r := range mergeSpans(t.ranges) {
		end := clientv3.GetPrefixRangeEnd(t.s.data)
		if r.end != nil {
			end = t.s.data + string(r.end)
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(t.s.data+string(r.begin)), "<", t.rev+1).WithRange(end))
	}
	return cmps
}

// ops are the Txn's writes. etcd refuses a put inside a range the same Txn
// deletes, so cleared ranges are cut around the keys written after them.
func (t *tx) ops() []clientv3.Op {
	var ops []clientv3.Op
	for _, c := range t.clears {
		begin := c.begin
		for _, k := range t.writtenIn(c) {
			if bytes.Compare(begin, k) < 0 {
				ops = append(ops, clientv3.OpDelete(t.s.data+string(begin), clientv3.WithRange(t.s.data+string(k))))
			}
			begin = append(bytes.Clone(k), 0)
		}
		end := clientv3.GetPrefixRangeEnd(t.s.data)
		if c.end != nil {
			end = t.s.data + string(c.end)
		}
		if c.end == nil || bytes.Compare(begin, c.end) < 0 {
			ops = append(ops, clientv3.OpDelete(t.s.data+string(begin), clientv3.WithRange(end)))
		}
	}
	for k, w := range t.writes {
		switch {
		case !w.del:
			ops = append(ops, clientv3.OpPut(t.s.data+k, string(w.value)))
		case !t.cleared([]byte(k)):
			ops = append(ops, clientv3.OpDelete(t.s.data+k))
		}
	}
	return ops
}

// writtenIn returns the keys with a value written inside c, in order.
func (t *tx) writtenIn(c span) [][]byte {
	var keys [][]byte
	for k, w := range t.writes {
		if !w.del && c.has([]byte(k)) {
			keys = append(keys, []byte(k))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}

func (t *tx) cleared(k []byte) bool {
	for _, c := range t.clears {
		if c.has(k) {
			return true
		}
	}
	return false
}

// checkSize refuses, before sending, a Txn the server would refuse.
func (t *tx) checkSize(cmps []clientv3.Cmp, ops []clientv3.Op) error {
	if n := max(len(cmps), len(ops)); n > t.s.cfg.MaxTxnOps {
		return fmt.Errorf("%w: %d operations (etcd allows %d per transaction, --max-txn-ops)",
			fdbstore.ErrTxTooLarge, n, t.s.cfg.MaxTxnOps)
	}
	size := 0
	for _, c := range cmps {
		size += len(c.GetCompare().GetKey()) + len(c.GetCompare().GetRangeEnd()) + opOverhead
	}
	for _, o := range ops {
		size += len(o.KeyBytes()) + len(o.RangeBytes()) + len(o.ValueBytes()) + opOverhead
	}
	if size > t.s.cfg.MaxRequestBytes {
		return fmt.Errorf("%w: about %d bytes (etcd allows %d per request, --max-request-bytes)",
			fdbstore.ErrTxTooLarge, size, t.s.cfg.MaxRequestBytes)
	}
	return nil
}

// settleTimeout bounds how long the store keeps asking for the outcome of
// a commit whose answer was lost, past the transaction's own deadline.
const settleTimeout = 10 * time.Second

// settle learns whether a commit whose answer was lost was applied. One
// Txn creates the marker as aborted if it is absent (the commit can then
// never apply: its compare on the marker fails) or reads it: the outcome
// is final either way.
func (t *tx) settle(marker string, lease clientv3.LeaseID, cause error) error {
	ctx, cancel := context.WithTimeout(t.s.ctx, settleTimeout)
	defer cancel()
	if b := fdbstore.RequestBound(t.ctx); b > 0 {
		// The caller's bound on each request holds for these too.
		ctx = fdbstore.WithRequestBound(ctx, b)
	}
	backoff := 10 * time.Millisecond
	for {
		put := clientv3.OpPut(marker, markAborted, clientv3.WithLease(lease))
		rctx, rcancel := t.s.request(ctx)
		resp, err := t.s.cli.Txn(rctx).If(clientv3.Compare(clientv3.Version(marker), "=", 0)).
			Then(put).Else(clientv3.OpGet(marker)).Commit()
		rcancel()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			if l, lerr := t.s.markerLease(ctx, true); lerr == nil {
				lease = l
				continue
			}
		}
		if err == nil && resp.Succeeded {
			t.s.settledAborted.Add(1)
			return retryable{fmt.Errorf("etcd store: commit not applied (%v): %w", describe(cause), fdbstore.ErrConflict)}
		}
		if err == nil {
			kvs := resp.Responses[0].GetResponseRange().Kvs
			if len(kvs) == 1 && string(kvs[0].Value) == markCommitted {
				t.rev = kvs[0].ModRevision
				t.s.settledCommitted.Add(1)
				return nil
			}
			t.s.settledAborted.Add(1)
			return retryable{fmt.Errorf("etcd store: commit not applied (%v): %w", describe(cause), fdbstore.ErrConflict)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: etcd store: %v; asking for the outcome: %v", fdbstore.ErrMaybeCommitted, describe(cause), describe(err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
