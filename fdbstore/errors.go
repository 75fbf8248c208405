package fdbstore

import (
	"errors"
	"fmt"
)

// FoundationDB's limits, enforced by every backend so that code written
// against one backend never outgrows another.
const (
	MaxKeySize   = 10_000
	MaxValueSize = 100_000
	// MaxTxWriteBytes bounds the bytes of mutations (keys plus values) one
	// transaction may carry.
	MaxTxWriteBytes = 10_000_000
)

var (
	// ErrConflict is the retryable error of a transaction that could not
	// commit because of concurrent work. Transact re-runs on it.
	ErrConflict = errors.New("transaction conflict")
	// ErrKeyTooLarge reports a key above MaxKeySize.
	ErrKeyTooLarge = errors.New("key too large")
	// ErrValueTooLarge reports a value above MaxValueSize.
	ErrValueTooLarge = errors.New("value too large")
	// ErrTxTooLarge reports a transaction whose writes exceed MaxTxWriteBytes.
	ErrTxTooLarge = errors.New("transaction too large")
	// ErrRetryLimit reports a transaction that kept conflicting.
	ErrRetryLimit = errors.New("transaction retry limit reached")
	// ErrTimeout reports a transaction that ran past its time limit.
	ErrTimeout = errors.New("transaction timed out")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("store closed")
	// ErrReadOnly reports a mutation attempted in a read-only context.
	ErrReadOnly = errors.New("read-only transaction")
	// ErrCorrupt reports a key or value read from the store that does not
	// decode as the layer that wrote it expects: damage or a bug, never
	// retried. Layers wrap it with what the record was.
	ErrCorrupt = errors.New("corrupt record")
	// ErrMaybeCommitted reports a commit whose outcome could not be learnt
	// (the connection to the store was lost after the commit was sent, and
	// did not come back in time to ask). The transaction may have landed:
	// it is not retried, because re-running a create that did commit would
	// answer EEXIST. Backends settle the outcome themselves where they can.
	ErrMaybeCommitted = errors.New("transaction outcome unknown: it may have committed")
)

// retryable is implemented by errors that Transact may retry.
type retryable interface{ Retryable() bool }

// IsRetryable reports whether err means "run the transaction again": a
// conflict, or a backend error that says so.
func IsRetryable(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	var r retryable
	return errors.As(err, &r) && r.Retryable()
}

// Limits accumulates the checks every backend applies to mutations. The
// zero value is ready to use; a backend keeps one per transaction attempt.
type Limits struct {
	written int
	err     error
}

// CheckSet records a Set of key to value.
func (l *Limits) CheckSet(key, value []byte) bool {
	return l.check(key, len(key)+len(value), len(value))
}

// CheckKey records a mutation that writes key and n further bytes.
func (l *Limits) CheckKey(key []byte, n int) bool {
	return l.check(key, len(key)+n, 0)
}

func (l *Limits) check(key []byte, n, valueLen int) bool {
	if l.err != nil {
		return false
	}
	switch {
	case len(key) > MaxKeySize:
		l.err = fmt.Errorf("%w: %d bytes (limit %d)", ErrKeyTooLarge, len(key), MaxKeySize)
	case valueLen > MaxValueSize:
		l.err = fmt.Errorf("%w: %d bytes (limit %d)", ErrValueTooLarge, valueLen, MaxValueSize)
	case l.written+n > MaxTxWriteBytes:
		l.err = fmt.Errorf("%w: more than %d bytes written", ErrTxTooLarge, MaxTxWriteBytes)
	}
	if l.err != nil {
		return false
	}
	l.written += n
	return true
}

// Fail records err as the transaction's failure, unless one is recorded
// already: for a mutation that fails for another reason than a limit (a
// read an Add needs, say), which the commit then reports.
func (l *Limits) Fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// Err returns the first limit broken, if any.
func (l *Limits) Err() error { return l.err }

// Written returns the bytes of mutations recorded so far.
func (l *Limits) Written() int { return l.written }
