// Package settle makes the commits of any fdbstore.Store exactly-once for
// its callers. A store whose commit can end with its outcome unknown
// (fdbstore.ErrMaybeCommitted: FoundationDB's commit_unknown_result, a
// connection lost after the commit was sent) leaves the caller unable to
// tell whether a create landed or an Add was applied; re-running would
// answer EEXIST or count twice.
//
// Store wraps such a store. Each read-write transaction also reads (an
// absent key, so a read conflict) and writes a marker of its own, a random
// id under the marker prefix. When the outcome is unknown, one more
// transaction reads the marker: present, the transaction committed and
// its caller gets success with the results of that attempt; absent, it
// writes the marker itself, so the lost commit, if it is still in flight,
// conflicts on it and can never land, and the transaction runs again.
// Markers of settled transactions are cleared by later transactions.
package settle

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/hafs/hafs/fdbstore"
)

// MarkerPrefix is where markers live: above every key HAFS writes (its
// keys start with the tuple encoding's string code, 0x02) and below the
// system keys FoundationDB keeps from 0xff.
var MarkerPrefix = []byte("\xfehafs-settle/")

// clearPerTx bounds the old markers one transaction clears.
const clearPerTx = 8

// Store settles the unknown outcomes of the store it wraps.
type Store struct {
	fdbstore.Store

	mu    sync.Mutex
	stale [][]byte // markers of settled transactions, to clear
}

// Wrap returns s with every read-write commit settled.
func Wrap(s fdbstore.Store) *Store { return &Store{Store: s} }

// TxnLimits implements fdbstore.Limited: the wrapped store's, less the
// marker and the old markers each transaction clears.
func (s *Store) TxnLimits() fdbstore.TxnLimits {
	l := fdbstore.LimitsOf(s.Store)
	if l.MaxOps > 0 {
		l.MaxOps -= 1 + clearPerTx
	}
	return l
}

// Transact implements fdbstore.Store.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	for {
		marker := newMarker()
		old := s.takeStale()
		err := s.Store.Transact(ctx, func(tx fdbstore.Tx) error {
			if v, err := tx.Get(marker); err != nil {
				return err
			} else if v != nil {
				return fmt.Errorf("settle: %w: marker %x exists before its transaction", fdbstore.ErrCorrupt, marker)
			}
			for _, k := range old {
				tx.Clear(k)
			}
			// After fn: a ClearRange of fn's that covers the markers must
			// not take this one with it.
			if err := fn(hideTx{tx}); err != nil {
				return err
			}
			tx.Set(marker, []byte{1})
			return nil
		})
		if !errors.Is(err, fdbstore.ErrMaybeCommitted) {
			if err == nil {
				s.addStale(marker)
			} else {
				s.addStale(old...)
			}
			return err
		}
		committed, serr := s.settle(ctx, marker)
		if serr != nil {
			s.addStale(old...)
			return fmt.Errorf("%w (asking for the outcome: %v)", err, serr)
		}
		if committed {
			s.addStale(marker)
			return nil
		}
		// The marker settle wrote as aborted stays: cleared, it would let
		// the lost commit, if it were still on its way, pass its check.
		s.addStale(old...)
	}
}

// settle learns whether the transaction that wrote marker committed,
// making sure that, if it did not, it never will.
func (s *Store) settle(ctx context.Context, marker []byte) (committed bool, err error) {
	for {
		err = s.Store.Transact(ctx, func(tx fdbstore.Tx) error {
			v, err := tx.Get(marker)
			if err != nil {
				return err
			}
			committed = len(v) == 1 && v[0] == 1
			if v == nil {
				tx.Set(marker, []byte{0})
			}
			return nil
		})
		if !errors.Is(err, fdbstore.ErrMaybeCommitted) {
			return committed, err
		}
		// This settling may itself have landed or not; ask again. If it
		// landed, the marker now reads as present but with 0: not ours.
		committed, err = s.ask(ctx, marker)
		if err == nil {
			return committed, nil
		}
	}
}

// ask reads marker: 1 was written by the transaction, 0 by settle.
func (s *Store) ask(ctx context.Context, marker []byte) (committed bool, err error) {
	var v []byte
	err = s.Store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		v, err = tx.Get(marker)
		return err
	})
	if err != nil {
		return false, err
	}
	if v == nil {
		return false, errors.New("settle: outcome still open")
	}
	return v[0] == 1, nil
}

func (s *Store) takeStale() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(clearPerTx, len(s.stale))
	// A copy: the slots it leaves are reused by the next addStale.
	out := slices.Clone(s.stale[len(s.stale)-n:])
	s.stale = s.stale[:len(s.stale)-n]
	return out
}

func (s *Store) addStale(keys ...[]byte) {
	if len(keys) == 0 {
		return
	}
	s.mu.Lock()
	s.stale = append(s.stale, keys...)
	s.mu.Unlock()
}

func newMarker() []byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return append(append([]byte(nil), MarkerPrefix...), b[:]...)
}

// ReadTransact implements fdbstore.Store; reads do not see markers.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.Store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error { return fn(hideRead{tx}) })
}

// hideRead is a ReadTx whose ranges skip the markers, which are the
// wrapper's and no caller's.
type hideRead struct{ fdbstore.ReadTx }

func (h hideRead) GetRange(b, e []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	return hideMarkers(h.ReadTx.GetRange(b, e, unlimited(o)), o.Limit)
}

func (h hideRead) Snapshot() fdbstore.ReadTx { return hideRead{h.ReadTx.Snapshot()} }

// GetMany keeps the wrapped store's reads of several keys together.
func (h hideRead) GetMany(keys [][]byte) ([][]byte, error) { return fdbstore.GetMany(h.ReadTx, keys) }

// hideTx is hideRead for a read-write transaction.
type hideTx struct{ fdbstore.Tx }

func (h hideTx) GetRange(b, e []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	return hideMarkers(h.Tx.GetRange(b, e, unlimited(o)), o.Limit)
}

func (h hideTx) Snapshot() fdbstore.ReadTx { return hideRead{h.Tx.Snapshot()} }

// GetMany keeps the wrapped store's reads of several keys together.
func (h hideTx) GetMany(keys [][]byte) ([][]byte, error) { return fdbstore.GetMany(h.Tx, keys) }

// unlimited lifts a range's limit: hideMarkers applies it after dropping
// markers (ranges are read lazily, in pages, so nothing more is fetched).
func unlimited(o fdbstore.RangeOptions) fdbstore.RangeOptions {
	o.Limit = 0
	return o
}

// hideMarkers drops marker keys from a range and stops after limit pairs
// (0: no limit).
func hideMarkers(seq iter.Seq2[fdbstore.KeyValue, error], limit int) iter.Seq2[fdbstore.KeyValue, error] {
	return func(yield func(fdbstore.KeyValue, error) bool) {
		n := 0
		for kv, err := range seq {
			if err == nil && bytes.HasPrefix(kv.Key, MarkerPrefix) {
				continue
			}
			if !yield(kv, err) || err != nil {
				return
			}
			if n++; limit > 0 && n >= limit {
				return
			}
		}
	}
}
