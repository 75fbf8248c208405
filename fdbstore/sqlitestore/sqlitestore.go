package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// Options configure an embedded store.
type Options struct {
	fdbstore.Options
	// Create makes a missing database file; without it a missing file is
	// an error, so a mistyped path never silently yields an empty store.
	Create bool
	// SafetyPoll is how often watches are re-checked without a change
	// signal. Zero means one second.
	SafetyPoll time.Duration
	// Reserve is the bytes kept free for transactions that do not grow
	// the filesystem (see reserve.go): zero means DefaultReserve, negative
	// none.
	Reserve int64
}

const schema = `
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hafs_store (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO hafs_store (name, value) VALUES ('format', '1');
`

// readers bounds the read connections kept open per process.
const readers = 4

// Store is an embedded fdbstore.Store backed by one SQLite file.
type Store struct {
	path string
	opts Options
	db   *sql.DB

	// writer serializes this process's read-write transactions on one
	// connection; SQLite's own lock serializes them across processes.
	writer chan *conn
	// idle holds read connections ready for use.
	idle chan *conn
	// nreaders counts read connections opened so far (guarded by rmu).
	rmu      sync.Mutex
	nreaders int

	hub  *watchHub
	ckpt *checkpointer
	// signal is written after every commit to wake other processes'
	// watches (see watchHub).
	signal *os.File

	res *reserve

	// queue holds the read-write transactions waiting for the writer;
	// whoever gets it runs them all in one commit (group.go).
	qmu          sync.Mutex
	queue        []*member
	largestGroup atomic.Int64 // the most members one commit took (tests)

	closeOnce sync.Once
	closed    chan struct{}
}

// Open opens (or, with opts.Create, creates) the store at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.Options = opts.Options.WithDefaults()
	if opts.SafetyPoll <= 0 {
		opts.SafetyPoll = time.Second
	}
	if opts.Reserve == 0 {
		opts.Reserve = DefaultReserve
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("sqlite store path %q: must be absolute", path)
	}
	if err := checkPath(path, opts.Create); err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	db.SetMaxOpenConns(readers + 3) // and the writer, the watch hub, the checkpointer
	db.SetMaxIdleConns(readers + 3)
	db.SetConnMaxLifetime(0)
	s := &Store{
		path:   path,
		opts:   opts,
		db:     db,
		writer: make(chan *conn, 1),
		idle:   make(chan *conn, readers),
		closed: make(chan struct{}),
		res:    newReserve(path, opts.Reserve),
	}
	w, err := s.newConn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := w.init(ctx, opts.Create); err != nil {
		w.close()
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, describe(err))
	}
	if err := w.prepare(ctx); err != nil {
		w.close()
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, describe(err))
	}
	// The checkpointer moves the log into the file (checkpoint.go).
	if _, err := w.c.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint=%d; PRAGMA journal_size_limit=%d",
		backstopPages, logLimit)); err != nil {
		w.close()
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, describe(err))
	}
	s.writer <- w
	s.signal, err = os.OpenFile(path+"-signal", os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = s.sizeSignal()
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	hubConn, err := s.newConn(ctx)
	if err == nil {
		err = hubConn.prepare(ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, describe(err))
	}
	s.hub, err = newWatchHub(s, hubConn)
	if err != nil {
		s.Close()
		return nil, err
	}
	ckptConn, err := s.newConn(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.ckpt = newCheckpointer(s, ckptConn)
	return s, nil
}

// checkPath turns the common ways a path can be wrong into one clear error
// before SQLite gets to say "unable to open database file".
func checkPath(path string, create bool) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("sqlite store %s: directory %s: %w", path, dir, errors.Unwrap(err))
	case !st.IsDir():
		return fmt.Errorf("sqlite store %s: %s is not a directory", path, dir)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !create:
		return fmt.Errorf("sqlite store %s does not exist", path)
	case errors.Is(err, os.ErrNotExist):
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("create sqlite store %s: %w", path, errors.Unwrap(err))
		}
		return f.Close()
	case err != nil:
		return fmt.Errorf("sqlite store %s: %w", path, errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Errorf("sqlite store %s is a directory", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite store %s cannot be opened for writing: %w", path, errors.Unwrap(err))
	}
	f.Close()
	// In WAL mode SQLite creates path-wal and path-shm beside the file, and
	// says only "unable to open database file" when it cannot.
	if err := checkWritableDir(dir); err != nil {
		return fmt.Errorf("sqlite store %s: directory %s is not writable (it must hold the store's -wal and -shm files): %w",
			path, dir, err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Transact implements fdbstore.Store.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return s.attemptWithReserve(ctx, fn) })
}

// ReadTransact implements fdbstore.Store.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return s.attemptRead(ctx, fn) })
}

// retry runs attempt until it succeeds or fails for good, bounded by the
// store's timeout and retry limit.
func (s *Store) retry(ctx context.Context, attempt func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closed:
		return fdbstore.ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.opts.Timeout, fdbstore.ErrTimeout)
	defer cancel()
	backoff := 100 * time.Microsecond
	for n := 0; ; n++ {
		err := attempt(ctx)
		if err == nil || !fdbstore.IsRetryable(err) {
			if err != nil && ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		if n >= s.opts.RetryLimit {
			return fmt.Errorf("%w after %d attempts: %w", fdbstore.ErrRetryLimit, n+1, err)
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		backoff = min(backoff*2, 20*time.Millisecond)
	}
}

func (s *Store) attemptRead(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	// The writer connection, when free, serves reads too: SQLite empties a
	// connection's page cache whenever another connection has committed,
	// and every commit of this process goes through the writer, so its
	// cache stays warm while the readers' start cold after each write.
	select {
	case c := <-s.writer:
		defer func() { s.writer <- c }()
		return s.readOn(ctx, c, fn)
	default:
	}
	c, err := s.reader(ctx)
	if err != nil {
		return err
	}
	defer func() { s.idle <- c }()
	return s.readOn(ctx, c, fn)
}

func (s *Store) readOn(ctx context.Context, c *conn, fn func(fdbstore.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// Never-ending context: see readTx.stmtCtx.
	if _, err := c.beginRead.ExecContext(context.Background()); err != nil {
		return describe(err)
	}
	defer c.rollback()
	return fn(&readTx{ctx: ctx, c: c})
}

// reader returns an idle read connection, opening one while under the cap.
func (s *Store) reader(ctx context.Context) (*conn, error) {
	select {
	case c := <-s.idle:
		return c, nil
	default:
	}
	s.rmu.Lock()
	open := s.nreaders < readers
	if open {
		s.nreaders++
	}
	s.rmu.Unlock()
	if open {
		c, err := s.newConn(ctx)
		if err == nil {
			err = c.prepare(ctx)
		}
		if err != nil {
			s.rmu.Lock()
			s.nreaders--
			s.rmu.Unlock()
			return nil, describe(err)
		}
		return c, nil
	}
	select {
	case c := <-s.idle:
		return c, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-s.closed:
		return nil, fdbstore.ErrClosed
	}
}

// Sync implements fdbstore.Store. Commits run with synchronous=NORMAL, so
// they reach the write-ahead log (and survive a crash of the process) but
// are fsynced only at checkpoints; fsyncing the log file makes every frame
// written so far durable. A checkpoint fsyncs the database before it
// restarts the log, so syncing whichever file holds the data is enough.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, name := range []string{s.path + "-wal", s.path} {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
	}
	return nil
}

// Close implements fdbstore.Store.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.hub != nil {
			s.hub.close()
		}
		if s.ckpt != nil {
			s.ckpt.close()
		}
		select {
		case w := <-s.writer:
			w.close()
		case <-time.After(s.opts.Timeout):
		}
		for {
			s.rmu.Lock()
			n := s.nreaders
			s.rmu.Unlock()
			if n == 0 {
				break
			}
			select {
			case c := <-s.idle:
				c.close()
				s.rmu.Lock()
				s.nreaders--
				s.rmu.Unlock()
				continue
			case <-time.After(s.opts.Timeout):
			}
			break
		}
		err = s.db.Close()
		if s.signal != nil {
			s.signal.Close()
		}
	})
	return err
}
