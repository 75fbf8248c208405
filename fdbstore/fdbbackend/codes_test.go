package fdbbackend

import (
	"errors"
	"testing"

	"github.com/hafs/hafs/fdbstore"
)

// TestMaybeCommitted checks which commit errors are reported as possibly
// committed instead of being retried.
func TestMaybeCommitted(t *testing.T) {
	for code, want := range map[int]bool{
		errCommitUnknownResult:   true,
		errClusterVersionChanged: true,
		errNotCommitted:          false, // a conflict: nothing landed
		errTransactionTimedOut:   false,
		1007:                     false, // transaction_too_old
	} {
		if got := maybeCommitted(code); got != want {
			t.Errorf("maybeCommitted(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestSentinel checks the mapping of final FoundationDB errors to
// fdbstore's.
func TestSentinel(t *testing.T) {
	for code, want := range map[int]error{
		errTransactionTimedOut: fdbstore.ErrTimeout,
		errTransactionTooLarge: fdbstore.ErrTxTooLarge,
		errKeyTooLarge:         fdbstore.ErrKeyTooLarge,
		errValueTooLarge:       fdbstore.ErrValueTooLarge,
		errCommitUnknownResult: nil,
		errNotCommitted:        nil,
	} {
		if got := sentinel(code); !errors.Is(got, want) || (want == nil) != (got == nil) {
			t.Errorf("sentinel(%d) = %v, want %v", code, got, want)
		}
	}
}
