package sqlitestore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hafs/hafs/fdbstore"
)

// driverName is the pure-Go SQLite driver: no cgo, so HAFS builds and
// cross-compiles with the Go toolchain alone.
const driverName = "sqlite"

// dsn sets the pragmas every connection needs. busy_timeout is short
// because a busy writer lock becomes a retryable conflict that Transact
// retries with its own back-off, bounded by the transaction timeout.
func dsn(path string) string {
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(250)",
		"synchronous(NORMAL)",
		"foreign_keys(OFF)",
		"cache_size(-32768)",
		"temp_store(MEMORY)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "deferred")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// addFunc is the SQL function behind Tx.Add: fdbstore.AddLE of a value
// (NULL when absent) and a delta, so that an add is one upsert statement
// instead of a read and a write (each a trip through database/sql; stat
// counters and quotas take several adds per create, unlink and write).
const addFunc = "hafs_add_le"

func init() {
	// Registered once for every connection the driver opens; the function
	// is pure, so this holds no state.
	sqlite.MustRegisterDeterministicScalarFunction(addFunc, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		var cur []byte
		switch v := args[0].(type) {
		case nil:
		case []byte:
			cur = v
		default:
			return nil, fmt.Errorf("%s: value of type %T, want a blob", addFunc, args[0])
		}
		delta, ok := args[1].(int64)
		if !ok {
			return nil, fmt.Errorf("%s: delta of type %T, want an integer", addFunc, args[1])
		}
		return fdbstore.AddLE(cur, delta), nil
	})
}

// busyError is a retryable conflict: another writer held the lock.
type busyError struct{ err error }

func (e busyError) Error() string   { return fmt.Sprintf("%v: %v", fdbstore.ErrConflict, e.err) }
func (e busyError) Unwrap() error   { return e.err }
func (e busyError) Retryable() bool { return true }

// describe turns driver errors into ones that say what went wrong for a
// store: a busy lock is a conflict, a non-database file is named as such.
func describe(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return busyError{err}
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("not a database file (corrupt, or not a HAFS store): %w", err)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("database file is corrupt: %w", err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: disk full: %w", fdbstore.ErrStoreFull, err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Errorf("cannot write the store: %w", err)
	}
	return err
}
