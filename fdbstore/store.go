package fdbstore

import (
	"context"
	"iter"
)

// Store is an ordered byte keyspace with serializable transactions.
//
// Every backend behaves as FoundationDB does: keys sort bytewise, a
// read-write transaction either commits whole or not at all, and a
// transaction that loses a conflict is re-run by Transact, so the function
// passed to it must be safe to call more than once.
type Store interface {
	// Transact runs fn in a serializable read-write transaction and commits
	// it. If fn or the commit fails with a retryable error (see
	// IsRetryable), the transaction is rolled back and fn runs again, until
	// it succeeds, returns another error, the retry limit or timeout is
	// reached, or ctx is done.
	Transact(ctx context.Context, fn func(Tx) error) error

	// ReadTransact runs fn in a read-only transaction that sees one
	// consistent snapshot. Retryable errors re-run fn as in Transact.
	ReadTransact(ctx context.Context, fn func(ReadTx) error) error

	// Sync makes every transaction committed so far through this Store
	// durable against power loss. Committed transactions already survive a
	// crash of the process; Sync extends that to the machine.
	Sync(ctx context.Context) error

	// Close releases the store's resources. Pending watches are cancelled.
	Close() error
}

// ReadTx is the read side of a transaction.
type ReadTx interface {
	// Get returns the value of key, or nil and no error if it is absent.
	// Inside a read-write transaction it sees the transaction's own writes.
	Get(key []byte) ([]byte, error)

	// GetRange yields the pairs with begin <= key < end in key order (or
	// reverse order), at most limit of them when limit > 0. It pages
	// through the store, so any number of keys may be read; the yielded
	// slices stay valid after iteration. Iteration stops at the first error,
	// which is yielded with a zero KeyValue.
	GetRange(begin, end []byte, opts RangeOptions) iter.Seq2[KeyValue, error]

	// Snapshot returns a view whose reads add no read conflicts: another
	// transaction changing what it read will not force this one to retry.
	Snapshot() ReadTx
}

// Tx is a read-write transaction. Mutations are buffered or applied within
// the transaction and become visible to others only when it commits. They
// return no error; an invalid mutation (see the Max* limits) makes the
// transaction fail at commit with a non-retryable error.
type Tx interface {
	ReadTx

	// Set writes value at key.
	Set(key, value []byte)

	// Clear removes key, if present.
	Clear(key []byte)

	// ClearRange removes every key with begin <= key < end.
	ClearRange(begin, end []byte)

	// Add atomically adds delta to the little-endian signed 64-bit integer
	// stored at key (absent counts as zero), as FoundationDB's ADD does.
	Add(key []byte, delta int64)

	// Watch returns a watch that fires once the value of key, as seen when
	// this transaction commits, is changed by a later commit of any client.
	// A watch of a transaction that does not commit fires with an error.
	Watch(key []byte) Watch
}

// Watch reports a change to one key.
type Watch interface {
	// Done is closed when the key has changed, the watch was cancelled, or
	// the store was closed.
	Done() <-chan struct{}
	// Err is nil after a change, and says why otherwise. Valid after Done.
	Err() error
	// Cancel stops the watch and releases its resources.
	Cancel()
}

// KeyValue is one pair read from the store.
type KeyValue struct {
	Key   []byte
	Value []byte
}

// RangeOptions shape a range read.
type RangeOptions struct {
	// Limit caps the number of pairs returned; zero means no limit.
	Limit int
	// Reverse returns pairs in descending key order.
	Reverse bool
}

// TxnLimits are a store's bounds on one read-write transaction, where they
// are tighter than the Max* constants every store keeps.
type TxnLimits struct {
	// MaxOps bounds both the keys and ranges a read-write transaction reads
	// (snapshot reads aside) and the mutations it makes; 0 is no bound.
	MaxOps int
	// MaxBytes bounds the bytes of one commit: keys and values written, and
	// keys read.
	MaxBytes int
}

// Limited is implemented by stores with TxnLimits of their own.
type Limited interface {
	TxnLimits() TxnLimits
}

// LimitsOf returns s's transaction limits: its own, or the defaults.
func LimitsOf(s Store) TxnLimits {
	if l, ok := s.(Limited); ok {
		return l.TxnLimits()
	}
	return TxnLimits{MaxBytes: MaxTxWriteBytes}
}

// Batch returns how many of n items fit in one transaction that spends
// perItem operations on each, keeping reserve operations for the rest.
func (l TxnLimits) Batch(n, perItem, reserve int) int {
	if l.MaxOps == 0 {
		return n
	}
	return max(1, min(n, (l.MaxOps-reserve)/max(perItem, 1)))
}
