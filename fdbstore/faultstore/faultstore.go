// Package faultstore wraps an fdbstore.Store so that a random fraction of
// transactions fail with a retryable conflict just before they would
// commit, as FoundationDB's simulation does. Code that survives it handles
// every retry path: a transaction function that is not safe to re-run shows
// up as wrong results under this wrapper.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/hafs/hafs/fdbstore"
)

// Store injects conflicts into the transactions of the store it wraps.
type Store struct {
	fdbstore.Store
	rate float64

	mu  sync.Mutex
	rng *rand.Rand

	injected atomic.Int64

	// unknown is the fraction of transactions whose outcome is reported as
	// unknown (fdbstore.ErrMaybeCommitted); see WithUnknownResults.
	unknown            float64
	unknownCommitted   atomic.Int64
	unknownUncommitted atomic.Int64
}

// errDrop ends an attempt the store must not commit, whose caller is then
// told the outcome is unknown.
var errDrop = errors.New("faultstore: dropped commit")

// WithUnknownResults makes a fraction rate of read-write transactions end
// as FoundationDB's commit_unknown_result or a lost etcd answer do: with
// fdbstore.ErrMaybeCommitted, half of them after committing and half
// without. Code above must then settle the outcome itself (see package
// settle); re-running blindly shows as double effects.
func (s *Store) WithUnknownResults(rate float64) *Store {
	s.unknown = rate
	return s
}

// UnknownResults returns how many transactions were reported unknown after
// they committed, and how many without committing.
func (s *Store) UnknownResults() (committed, uncommitted int64) {
	return s.unknownCommitted.Load(), s.unknownUncommitted.Load()
}

// roll returns a number in [0, 1) from the store's seeded source.
func (s *Store) roll() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

// Wrap returns s with a fraction rate (0 to 1) of transaction attempts
// failing with fdbstore.ErrConflict. The seed makes a run repeatable.
func Wrap(s fdbstore.Store, rate float64, seed uint64) *Store {
	return &Store{Store: s, rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Injected returns how many conflicts have been injected so far.
func (s *Store) Injected() int64 { return s.injected.Load() }

func (s *Store) fault() error {
	s.mu.Lock()
	hit := s.rng.Float64() < s.rate
	s.mu.Unlock()
	if !hit {
		return nil
	}
	s.injected.Add(1)
	return fmt.Errorf("faultstore: injected: %w", fdbstore.ErrConflict)
}

// Transact runs fn and then, at the injected rate, fails the attempt with a
// conflict so that the wrapped store rolls it back and runs fn again.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	drop, lose := false, false
	if s.unknown > 0 {
		r := s.roll()
		drop, lose = r < s.unknown/2, r >= s.unknown/2 && r < s.unknown
	}
	err := s.Store.Transact(ctx, func(tx fdbstore.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if drop {
			return errDrop
		}
		return s.fault()
	})
	switch {
	case errors.Is(err, errDrop):
		s.unknownUncommitted.Add(1)
		return fmt.Errorf("faultstore: injected, not committed: %w", fdbstore.ErrMaybeCommitted)
	case err == nil && lose:
		s.unknownCommitted.Add(1)
		return fmt.Errorf("faultstore: injected, committed: %w", fdbstore.ErrMaybeCommitted)
	}
	return err
}

// ReadTransact fails read attempts at the same rate, as FoundationDB does
// when a read version grows too old.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.Store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.fault()
	})
}

// TxnLimits implements fdbstore.Limited with the wrapped store's limits.
func (s *Store) TxnLimits() fdbstore.TxnLimits { return fdbstore.LimitsOf(s.Store) }
