package fdbbackend

import "github.com/hafs/hafs/fdbstore"

// FoundationDB error codes this backend acts on (FoundationDB's
// error_definitions, 7.3).
const (
	errNotCommitted          = 1020 // not_committed: a conflict
	errCommitUnknownResult   = 1021 // commit_unknown_result
	errTransactionTimedOut   = 1031 // transaction_timed_out
	errClusterVersionChanged = 1039 // cluster_version_changed
	errTransactionTooLarge   = 2101 // transaction_too_large
	errKeyTooLarge           = 2102 // key_too_large
	errValueTooLarge         = 2103 // value_too_large
	errAPIVersionAlready     = 2201 // api_version_already_set
)

// maybeCommitted reports whether a commit that failed with code may
// nevertheless have landed. The client's onError retries both codes as if
// nothing had committed; the backend reports them as
// fdbstore.ErrMaybeCommitted instead, so that a create that did land is
// not re-run into EEXIST (package settle learns the outcome).
func maybeCommitted(code int) bool {
	return code == errCommitUnknownResult || code == errClusterVersionChanged
}

// sentinel returns fdbstore's error for a FoundationDB error that ends a
// transaction for good, or nil for the others.
func sentinel(code int) error {
	switch code {
	case errTransactionTimedOut:
		return fdbstore.ErrTimeout
	case errTransactionTooLarge:
		return fdbstore.ErrTxTooLarge
	case errKeyTooLarge:
		return fdbstore.ErrKeyTooLarge
	case errValueTooLarge:
		return fdbstore.ErrValueTooLarge
	}
	return nil
}
