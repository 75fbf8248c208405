package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"iter"

	"github.com/hafs/hafs/fdbstore"
)

// keyspaceEnd is where the user keyspace ends, as in FoundationDB, so a nil
// range end reads to the end of user keys.
var keyspaceEnd = []byte{0xff}

type readTx struct {
	ctx context.Context
	c   *conn
}

// stmtCtx is the context a statement runs under, after checking that the
// transaction's own is not done. It never ends: a context that can end
// costs the driver a watcher goroutine per statement (modernc.org/sqlite
// to interrupt it, database/sql to close its rows), several per
// metadata operation, while every statement here (a point read or write,
// a page of at most 4096 keys, a range delete) ends on its own. The
// transaction's deadline is checked before each statement, which is where
// an attempt stops.
func (t *readTx) stmtCtx() (context.Context, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, context.Cause(t.ctx)
	}
	return context.Background(), nil
}

func (t *readTx) Get(key []byte) ([]byte, error) {
	ctx, err := t.stmtCtx()
	if err != nil {
		return nil, err
	}
	var v []byte
	err = t.c.get.QueryRowContext(ctx, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, describe(err)
	case v == nil:
		// A present, empty value must not read as absent.
		v = []byte{}
	}
	return v, nil
}

func (t *readTx) Snapshot() fdbstore.ReadTx { return t }

func (t *readTx) GetRange(begin, end []byte, opts fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	if begin == nil {
		begin = []byte{}
	}
	if end == nil {
		end = keyspaceEnd
	}
	return func(yield func(fdbstore.KeyValue, error) bool) {
		if bytes.Compare(begin, end) >= 0 {
			return
		}
		lo, hi := begin, end
		first := true
		page := 64
		left := opts.Limit
		for {
			n := page
			if left > 0 && left < n {
				n = left
			}
			kvs, err := t.page(lo, hi, n, opts.Reverse, first)
			if err != nil {
				yield(fdbstore.KeyValue{}, err)
				return
			}
			for _, kv := range kvs {
				if !yield(kv, nil) {
					return
				}
			}
			if len(kvs) < n {
				return
			}
			if left > 0 {
				left -= len(kvs)
				if left == 0 {
					return
				}
			}
			last := kvs[len(kvs)-1].Key
			if opts.Reverse {
				hi = last
			} else {
				lo = last
			}
			first = false
			page = min(page*4, 4096)
		}
	}
}

// page reads up to n pairs. Pages are read whole before they are yielded so
// that the caller may write inside the loop on the same connection.
func (t *readTx) page(lo, hi []byte, n int, reverse, first bool) ([]fdbstore.KeyValue, error) {
	st := t.c.fwd
	switch {
	case reverse:
		st = t.c.rev
	case !first:
		st = t.c.fwdOpen
	}
	ctx, err := t.stmtCtx()
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, lo, hi, n)
	if err != nil {
		return nil, describe(err)
	}
	defer rows.Close()
	out := make([]fdbstore.KeyValue, 0, n)
	for rows.Next() {
		var kv fdbstore.KeyValue
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, describe(err)
		}
		if kv.Value == nil {
			kv.Value = []byte{}
		}
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, describe(err)
	}
	return out, nil
}

type writeTx struct {
	readTx
	limits  fdbstore.Limits
	err     error
	watches []*watch
	pages   int // pages its writes dirtied, about: the checkpointer's measure
}

func (t *writeTx) Snapshot() fdbstore.ReadTx { return &t.readTx }

func (t *writeTx) fail(err error) {
	if t.err == nil && err != nil {
		t.err = describe(err)
	}
}

// exec runs one write statement, which dirties about pages pages of the
// log; the first failure fails the transaction.
func (t *writeTx) exec(pages int, st *sql.Stmt, args ...any) {
	ctx, err := t.stmtCtx()
	if err == nil {
		_, err = st.ExecContext(ctx, args...)
	}
	t.fail(err)
	t.pages += pages
}

// pagesFor is about how many pages of the log writing a key and value
// dirties: its leaf, and the overflow pages of a large value.
func pagesFor(key, value []byte) int { return 1 + (len(key)+len(value))/pageSize }

// pageSize is SQLite's default page size, which the store keeps.
const pageSize = 4096

func (t *writeTx) Set(key, value []byte) {
	if t.err != nil || !t.limits.CheckSet(key, value) {
		return
	}
	if value == nil {
		value = []byte{}
	}
	t.exec(pagesFor(key, value), t.c.set, key, value)
}

func (t *writeTx) Clear(key []byte) {
	if t.err != nil || !t.limits.CheckKey(key, 0) {
		return
	}
	t.exec(1, t.c.del, key)
}

func (t *writeTx) ClearRange(begin, end []byte) {
	if begin == nil {
		begin = []byte{}
	}
	if end == nil {
		end = keyspaceEnd
	}
	if t.err != nil || !t.limits.CheckKey(begin, len(end)) {
		return
	}
	t.exec(1, t.c.delRange, begin, end)
}

func (t *writeTx) Add(key []byte, delta int64) {
	if t.err != nil || !t.limits.CheckKey(key, 8) {
		return
	}
	t.exec(1, t.c.add, key, delta)
}

func (t *writeTx) Watch(key []byte) fdbstore.Watch {
	w := newWatch(bytes.Clone(key))
	t.watches = append(t.watches, w)
	return w
}
