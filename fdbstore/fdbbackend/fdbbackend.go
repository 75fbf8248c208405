//go:build fdb

package fdbbackend

// fdb_error_predicate is the one C call made here: it is the client's own
// test for "onError retries this", which the bindings do not export.

// #cgo LDFLAGS: -lfdb_c
// #define FDB_API_VERSION 730
// #include <foundationdb/fdb_c.h>
import "C"

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
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
	// retry limit survive onError, which Transact relies on.
	minAPIVersion = 610
	// keyspaceEnd ends the user keyspace; keys from 0xff on are the
	// cluster's system keys. A nil range end means it.
	keyspaceEnd = "\xff"
)

// FoundationDB error codes handled here.
const (
	errNotCommitted      = 1020
	errAPIVersionAlready = 2201
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

// Store is an fdbstore.Store over a FoundationDB cluster.
type Store struct {
	// db is shared by every Store of the same cluster file in the process
	// (the bindings cache it), so its options are left alone and each
	// transaction gets this Store's own timeout and retry limit instead.
	db         fdb.Database
	timeoutMs  int64
	retryLimit int

	closed  atomic.Bool
	mu      sync.Mutex          // guards watches
	watches map[*watch]struct{} // live watches, ended by Close
}

// Open connects to the cluster named by clusterFile: "" means the file in
// the FDB_CLUSTER_FILE environment variable, else DefaultClusterFile. The
// connection itself is made lazily by the client, on first use.
func Open(clusterFile string, opts fdbstore.Options) (*Store, error) {
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
	opts = opts.WithDefaults()
	return &Store{
		db:         db,
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

// Transact implements fdbstore.Store.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	var last *tx
	err := s.run(ctx, func(prep func(fdb.ReadTransaction) error) error {
		_, err := s.db.Transact(func(tr fdb.Transaction) (any, error) {
			if last != nil {
				last.abort() // the previous attempt did not commit
			}
			if err := prep(tr); err != nil {
				return nil, err
			}
			last = &tx{readTx: readTx{tr}, tr: tr, s: s}
			err := fn(last)
			if err == nil {
				// A broken limit skipped its mutation: never commit the rest.
				err = last.lim.Err()
			}
			return nil, retryAs(err)
		})
		return err
	})
	if err != nil && last != nil {
		last.abort()
	}
	return err
}

// ReadTransact implements fdbstore.Store.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.run(ctx, func(prep func(fdb.ReadTransaction) error) error {
		_, err := s.db.ReadTransact(func(rt fdb.ReadTransaction) (any, error) {
			if err := prep(rt); err != nil {
				return nil, err
			}
			return nil, retryAs(fn(readTx{rt}))
		})
		return err
	})
}

// run wraps one retry loop of the bindings (which reuse one transaction
// for every attempt, resetting it in onError) with ctx, this store's
// bounds and fdbstore's errors. loop calls prep at the start of each
// attempt; prep's errors are not fdb.Errors, so the loop returns them.
func (s *Store) run(ctx context.Context, loop func(prep func(fdb.ReadTransaction) error) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fdbstore.ErrClosed
	}
	n := 0 // attempts
	unhook := func() bool { return false }
	defer func() { unhook() }()
	err := loop(func(tr fdb.ReadTransaction) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n++; n > 1 {
			return nil // options set below survive onError's reset
		}
		// Cancelling fails every pending and later operation of tr,
		// onError's backoff included, so a done ctx ends the loop now.
		unhook = context.AfterFunc(ctx, tr.Cancel)
		if err := tr.Options().SetTimeout(s.timeoutMs); err != nil {
			return fmt.Errorf("set transaction timeout: %v", err)
		}
		if err := tr.Options().SetRetryLimit(int64(s.retryLimit)); err != nil {
			return fmt.Errorf("set transaction retry limit: %v", err)
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		// Even if the commit went through, as FoundationDB documents for
		// a transaction cancelled while committing.
		return context.Cause(ctx)
	}
	var fe fdb.Error
	if !errors.As(err, &fe) {
		return err // the function's own error, unchanged
	}
	var to error
	switch fe.Code {
	case 1031: // transaction_timed_out
		to = fdbstore.ErrTimeout
	case 2101: // transaction_too_large
		to = fdbstore.ErrTxTooLarge
	case 2102: // key_too_large
		to = fdbstore.ErrKeyTooLarge
	case 2103: // value_too_large
		to = fdbstore.ErrValueTooLarge
	default:
		// At the limit onError hands back even a retryable error.
		if n > s.retryLimit && retryable(fe.Code) {
			return fmt.Errorf("%w after %d attempts: %w", fdbstore.ErrRetryLimit, n, err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", to, err)
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

// readTx is a ReadTx over a transaction or its snapshot view.
type readTx struct{ rt fdb.ReadTransaction }

func (t readTx) Get(key []byte) ([]byte, error) { return t.rt.Get(fdb.Key(key)).Get() }

func (t readTx) Snapshot() fdbstore.ReadTx { return readTx{t.rt.Snapshot()} }

func (t readTx) GetRange(begin, end []byte, o fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	end = userEnd(end)
	return func(yield func(fdbstore.KeyValue, error) bool) {
		if bytes.Compare(begin, end) >= 0 {
			return
		}
		r := fdb.KeyRange{Begin: fdb.Key(begin), End: fdb.Key(end)}
		// The iterator fetches batches of growing size as it goes.
		it := t.rt.GetRange(r, fdb.RangeOptions{Limit: max(o.Limit, 0), Reverse: o.Reverse, Mode: fdb.StreamingModeIterator}).Iterator()
		for it.Advance() {
			kv, err := it.Get()
			if err != nil {
				yield(fdbstore.KeyValue{}, err)
				return
			}
			// The bindings copy keys and values out of C memory, so
			// they outlive the transaction.
			if !yield(fdbstore.KeyValue{Key: kv.Key, Value: kv.Value}, nil) {
				return
			}
		}
	}
}

// userEnd bounds a range end to the user keyspace: nil means its end, and
// the system keys beyond it would fail with key_outside_legal_range.
func userEnd(end []byte) []byte {
	if end == nil || bytes.Compare(end, []byte(keyspaceEnd)) > 0 {
		return []byte(keyspaceEnd)
	}
	return end
}

// tx is one attempt's Tx. Mutations are checked against fdbstore.Limits
// first so that errors match the embedded backend exactly; a mutation
// that breaks a limit is skipped and the attempt is not committed.
type tx struct {
	readTx
	tr      fdb.Transaction
	s       *Store
	lim     fdbstore.Limits
	watches []*watch
}

func (t *tx) Set(key, value []byte) {
	if t.lim.CheckSet(key, value) {
		t.tr.Set(fdb.Key(key), value)
	}
}

func (t *tx) Clear(key []byte) {
	if t.lim.CheckKey(key, 0) {
		t.tr.Clear(fdb.Key(key))
	}
}

func (t *tx) ClearRange(begin, end []byte) {
	n := len(keyspaceEnd)
	if end != nil {
		n = len(end)
	}
	end = userEnd(end)
	// An inverted range would fail the whole transaction in FoundationDB.
	if t.lim.CheckKey(begin, n) && bytes.Compare(begin, end) < 0 {
		t.tr.ClearRange(fdb.KeyRange{Begin: fdb.Key(begin), End: fdb.Key(end)})
	}
}

func (t *tx) Add(key []byte, delta int64) {
	if t.lim.CheckKey(key, 8) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(delta))
		t.tr.Add(fdb.Key(key), b[:])
	}
}

func (t *tx) Watch(key []byte) fdbstore.Watch {
	w := &watch{s: t.s, f: t.tr.Watch(fdb.Key(key)), done: make(chan struct{})}
	t.watches = append(t.watches, w)
	if !t.s.track(w) {
		w.stop(fdbstore.ErrClosed)
		return w
	}
	go func() {
		// Get returns nil once the key changed after the commit.
		err := w.f.Get()
		if err != nil {
			err = fmt.Errorf("watch: %w", err)
		}
		w.stop(err)
	}()
	return w
}

// abort ends the watches of an attempt that did not commit. The client
// would fail them too, but only once the transaction is reset or
// collected.
func (t *tx) abort() {
	for _, w := range t.watches {
		w.stop(errWatchAborted)
	}
}

// watch is an fdbstore.Watch over the client's watch future.
type watch struct {
	s    *Store
	f    fdb.FutureNil
	once sync.Once
	done chan struct{}
	err  error
}

func (w *watch) Done() <-chan struct{} { return w.done }

func (w *watch) Err() error {
	<-w.done
	return w.err
}

func (w *watch) Cancel() { w.stop(errWatchCanceled) }

// stop ends the watch with err, once.
func (w *watch) stop(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
		w.s.untrack(w)
		w.f.Cancel() // frees the client's watch slot; no-op once fired
	})
}

func (s *Store) track(w *watch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches != nil {
		s.watches[w] = struct{}{}
	}
	return s.watches != nil
}

func (s *Store) untrack(w *watch) {
	s.mu.Lock()
	delete(s.watches, w)
	s.mu.Unlock()
}
