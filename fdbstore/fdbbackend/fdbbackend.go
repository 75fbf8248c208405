//go:build fdb

package fdbbackend

// fdb_error_predicate is the one C call made here: it is the client's own
// test for "onError retries this", which the bindings do not export.

// #cgo LDFLAGS: -lfdb_c
// #define FDB_API_VERSION 730
// #include <foundationdb/fdb_c.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apple/foundationdb/bindings/go/src/fdb"

	"github.com/hafs/hafs/fdbstore"
)

const (
	// apiVersion is the FoundationDB API version this backend is written
	// against.
	apiVersion = 730
	// minAPIVersion is the oldest version accepted when another part of the
	// process selected one first: from 610 on, a transaction's timeout and
	// retry limit survive onError, which run relies on.
	minAPIVersion = 610
)

// DefaultClusterFile is the cluster file Open uses when neither its argument
// nor FDB_CLUSTER_FILE names one.
const DefaultClusterFile = "/etc/foundationdb/fdb.cluster"

// openMu is this package's one piece of mutable global state, because the
// C client is process-global: the bindings keep one database handle per
// cluster file in a plain map, which concurrent Opens would race on.
var openMu sync.Mutex

var (
	errWatchCanceled = errors.New("watch canceled")
	errWatchAborted  = errors.New("watch: transaction did not commit")
)

// Config says which cluster and subspace to use, and how.
type Config struct {
	// ClusterFile names the cluster: "" means the file in the
	// FDB_CLUSTER_FILE environment variable, else DefaultClusterFile.
	ClusterFile string
	// Prefix names the subspace every key lives in, so that several
	// filesystems share one cluster; "" uses the whole user keyspace.
	Prefix string
	// Options bound every transaction.
	fdbstore.Options
}

// Store is an fdbstore.Store over a FoundationDB cluster.
type Store struct {
	// db is shared by every Store of the same cluster file in the process
	// (the bindings cache it), so its options are left alone and each
	// transaction gets this Store's own timeout and retry limit instead.
	db         fdb.Database
	ks         keyspace
	timeoutMs  int64
	retryLimit int

	closed  atomic.Bool
	mu      sync.Mutex          // guards watches
	watches map[*watch]struct{} // live watches, ended by Close
}

// Open connects to the cluster cfg names. The connection itself is made
// lazily by the client, on first use.
func Open(cfg Config) (*Store, error) {
	clusterFile := cfg.ClusterFile
	if clusterFile == "" {
		clusterFile = os.Getenv("FDB_CLUSTER_FILE")
	}
	if clusterFile == "" {
		clusterFile = DefaultClusterFile
	}
	// The C client reports a missing file only as an error code.
	if _, err := os.Stat(clusterFile); err != nil {
		return nil, fmt.Errorf("fdb cluster file: %w", err)
	}
	if err := selectAPIVersion(); err != nil {
		return nil, err
	}
	openMu.Lock()
	db, err := fdb.OpenDatabase(clusterFile)
	openMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("open fdb cluster %s: %w", clusterFile, err)
	}
	opts := cfg.Options.WithDefaults()
	return &Store{
		db:         db,
		ks:         newKeyspace(cfg.Prefix),
		timeoutMs:  max(opts.Timeout.Milliseconds(), 1), // 0 would mean no timeout
		retryLimit: opts.RetryLimit,
		watches:    map[*watch]struct{}{},
	}, nil
}

// selectAPIVersion selects the API version. The bindings make selecting
// the same version again a no-op; a different one chosen earlier by other
// code in the process is kept if it is recent enough.
func selectAPIVersion() error {
	err := fdb.APIVersion(apiVersion)
	var fe fdb.Error
	if errors.As(err, &fe) && fe.Code == errAPIVersionAlready {
		if v, _ := fdb.GetAPIVersion(); v >= minAPIVersion {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("select fdb API version %d: %w", apiVersion, err)
	}
	return nil
}

// TxnLimits implements fdbstore.Limited. FoundationDB bounds no count of
// operations; its size bound is counted the cluster's way by each
// transaction (see sizer), which fails with fdbstore.ErrTxTooLarge
// before its commit is sent.
func (s *Store) TxnLimits() fdbstore.TxnLimits {
	return fdbstore.TxnLimits{MaxBytes: SizeLimit}
}

// Transact implements fdbstore.Store. A commit whose outcome the cluster
// could not report (commit_unknown_result, cluster_version_changed) ends
// it with fdbstore.ErrMaybeCommitted rather than being re-run; wrap the
// store with package settle to learn the outcome.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	var last *tx
	err := s.run(ctx, func(tr fdb.Transaction) (committing bool, err error) {
		if last != nil {
			last.abort() // the previous attempt did not commit
		}
		last = newTx(s, tr)
		if err := fn(last); err != nil {
			return false, retryAs(err)
		}
		// A broken limit skipped its mutation: never commit the rest.
		if err := last.err(); err != nil {
			return false, err
		}
		return true, tr.Commit().Get()
	})
	if err != nil && last != nil {
		last.abort()
	}
	return err
}

// ReadTransact implements fdbstore.Store. Its reads are snapshot reads:
// a transaction that never commits has no conflicts to check, and they
// skip the client's conflict bookkeeping.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.run(ctx, func(tr fdb.Transaction) (bool, error) {
		return false, retryAs(fn(readTx{rt: tr.Snapshot(), ks: s.ks, readOnly: true}))
	})
}

// run runs attempt in one transaction until it succeeds or fails for good,
// with ctx, this store's bounds and fdbstore's errors. It is the bindings'
// retry loop (onError backs off, resets and says whether to retry) except
// that a commit whose outcome is unknown is reported, not re-run.
func (s *Store) run(ctx context.Context, attempt func(fdb.Transaction) (committing bool, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fdbstore.ErrClosed
	}
	tr, err := s.db.CreateTransaction()
	if err != nil {
		return fmt.Errorf("create fdb transaction: %w", err)
	}
	// Cancelling fails every pending and later operation of tr,
	// onError's backoff included, so a done ctx ends the loop now.
	defer context.AfterFunc(ctx, tr.Cancel)()
	if err := s.setOptions(ctx, tr); err != nil {
		return err
	}
	for n := 1; ; n++ {
		committing, err := attempt(tr)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Even if the commit went through, as FoundationDB documents
			// for a transaction cancelled while committing.
			return context.Cause(ctx)
		}
		var fe fdb.Error
		if !errors.As(err, &fe) {
			return err // the function's own error, unchanged
		}
		if committing && maybeCommitted(fe.Code) {
			return fmt.Errorf("%w: %w", fdbstore.ErrMaybeCommitted, err)
		}
		if oerr := tr.OnError(fe).Get(); oerr != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return s.final(err, oerr, n)
		}
	}
}

// setOptions gives tr this store's bounds, and batch priority to
// background work. They survive onError's reset.
func (s *Store) setOptions(ctx context.Context, tr fdb.Transaction) error {
	if err := tr.Options().SetTimeout(s.timeoutMs); err != nil {
		return fmt.Errorf("set transaction timeout: %w", err)
	}
	if err := tr.Options().SetRetryLimit(int64(s.retryLimit)); err != nil {
		return fmt.Errorf("set transaction retry limit: %w", err)
	}
	if fdbstore.IsBackground(ctx) {
		// Throttled first when the cluster is saturated, so scans and
		// clean-up never slow the applications' transactions.
		if err := tr.Options().SetPriorityBatch(); err != nil {
			return fmt.Errorf("set batch priority: %w", err)
		}
	}
	return nil
}

// final maps the error onError refused to retry (oerr, for the attempt's
// err) to fdbstore's errors.
func (s *Store) final(err, oerr error, attempts int) error {
	var fe fdb.Error
	if !errors.As(oerr, &fe) {
		return oerr
	}
	if to := sentinel(fe.Code); to != nil {
		return fmt.Errorf("%w: %w", to, oerr)
	}
	// At the limit onError hands back even a retryable error.
	if attempts > s.retryLimit && retryable(fe.Code) {
		return fmt.Errorf("%w after %d attempts: %w", fdbstore.ErrRetryLimit, attempts, err)
	}
	var orig fdb.Error
	if errors.As(err, &orig) && orig.Code == fe.Code {
		return err // keeps the function's own error in the chain
	}
	return oerr
}

// Sync implements fdbstore.Store. FoundationDB acknowledges a commit only
// once its transaction logs have made it durable on every log replica, so
// there is nothing left to flush.
func (s *Store) Sync(ctx context.Context) error {
	if s.closed.Load() {
		return fdbstore.ErrClosed
	}
	return ctx.Err()
}

// Close implements fdbstore.Store. It ends the store's watches but leaves
// the database handle open: the bindings share it with every other Store
// of the same cluster file in the process.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	ws := s.watches
	s.watches = nil
	s.mu.Unlock()
	for w := range ws {
		w.stop(fdbstore.ErrClosed)
	}
	return nil
}

// retryAs makes a retryable error of the user's function (such as
// fdbstore.ErrConflict) retryable for the bindings too, as not_committed,
// so it gets the client's backoff and counts against the retry limit.
func retryAs(err error) error {
	var fe fdb.Error
	if err != nil && !errors.As(err, &fe) && fdbstore.IsRetryable(err) {
		return fmt.Errorf("%w (retried as %w)", err, fdb.Error{Code: errNotCommitted})
	}
	return err
}

// retryable reports whether onError retries code when under the limit.
func retryable(code int) bool {
	return C.fdb_error_predicate(C.int(C.FDB_ERROR_PREDICATE_RETRYABLE), C.fdb_error_t(code)) != 0
}
