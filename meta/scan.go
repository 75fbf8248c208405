package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

// scan calls fn for every key of the filesystem (see scanRange).
func (f *FS) scan(ctx context.Context, fn func(key, value []byte) error) error {
	begin, end := f.k.all()
	return f.scanRange(ctx, begin, end, fn)
}

// scanPage is how many pairs one transaction of scanRange reads.
const scanPage = 10_000

// scanRange calls fn for every pair in [begin, end), reading in pages, each
// page one consistent snapshot. fn runs outside the transaction, so a read
// that is retried never calls it twice for a pair, and fn may do I/O.
func (f *FS) scanRange(ctx context.Context, begin, end []byte, fn func(key, value []byte) error) error {
	return f.scanPages(ctx, begin, end, scanPage, fn)
}

// scanPages is scanRange reading page keys per transaction.
func (f *FS) scanPages(ctx context.Context, begin, end []byte, page int, fn func(key, value []byte) error) error {
	for {
		var rows []fdbstore.KeyValue
		err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
			var err error
			rows, err = fdbstore.Collect(tx.GetRange(begin, end, fdbstore.RangeOptions{Limit: page}))
			return err
		})
		if err != nil {
			return err
		}
		for _, kv := range rows {
			if err := fn(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		if len(rows) < page {
			return nil
		}
		begin = append(bytes.Clone(rows[len(rows)-1].Key), 0)
	}
}

// lastString returns the last element of key, a string.
func (f *FS) lastString(key []byte) (string, error) { return lastElem[string](f, key) }

// lastElem returns the last element of one of f's keys, of type T.
func lastElem[T any](f *FS, key []byte) (T, error) {
	var zero T
	el, err := f.k.unpack(key)
	if err != nil || len(el) == 0 {
		return zero, fmt.Errorf("%w: key %q", fdbstore.ErrCorrupt, key)
	}
	v, ok := el[len(el)-1].(T)
	if !ok {
		return zero, fmt.Errorf("%w: key %q", fdbstore.ErrCorrupt, key)
	}
	return v, nil
}

// lastID returns the last element of key, a slice id.
func (f *FS) lastID(key []byte) (uint64, error) {
	id, err := lastElem[int64](f, key)
	return uint64(id), err
}

// errEnough stops a scan that has what it wanted.
var errEnough = errors.New("enough")

// idsIn returns the slice ids ending the keys of [b, e), at most limit of
// them (0: all), read in pages.
func (f *FS) idsIn(ctx context.Context, b, e []byte, limit int) ([]uint64, error) {
	var out []uint64
	page := scanPage
	if limit > 0 {
		page = limit
	}
	err := f.scanPages(ctx, b, e, page, func(key, _ []byte) error {
		id, err := f.lastID(key)
		if err != nil {
			return err
		}
		out = append(out, id)
		if len(out) == limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, err
}

// watch returns a watch on key, which fires when a later commit changes
// it, and the value it had.
func (f *FS) watch(ctx context.Context, key []byte) (fdbstore.Watch, []byte, error) {
	var w fdbstore.Watch
	var v []byte
	err := f.store.Transact(ctx, func(tx fdbstore.Tx) error {
		if w != nil {
			w.Cancel()
		}
		var err error
		if v, err = tx.Get(key); err != nil {
			return err
		}
		w = tx.Watch(key)
		return nil
	})
	if err != nil {
		if w != nil {
			w.Cancel()
		}
		return nil, nil, err
	}
	return w, v, nil
}
