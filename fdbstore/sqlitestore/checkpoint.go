package sqlitestore

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Background checkpoints.
//
// In WAL mode every commit appends pages to the log, and a checkpoint
// copies them into the database file so that the log can start over. By
// default SQLite checkpoints inside the commit that takes the log past
// 1000 pages: that commit copies them all and fsyncs both files, about
// 4 ms here, and every transaction queued behind it waits. Spread over the
// commits between two checkpoints it was a fifth of a create's time in
// the store.
//
// So a checkpointer goroutine with its own connection checkpoints once
// the pages written since its last pass reach ckptPages (estimated from
// the keys and values written), in two passes. The first, PASSIVE, runs
// beside the writer and copies nearly everything. It ends a few commits
// behind, and the log starts over only after a checkpoint that caught up
// with it, so the second pass holds this process's writer while it copies
// those few pages: a stall of two small fsyncs (0.3 ms each here) instead
// of the whole copy. A log that starts over often stays small and in the page
// cache (a log ten times longer made every create after a drop of the
// page cache wait for disk reads of the log's pages it overwrote), and a
// log that grew is cut back to logLimit when it starts over, so that a
// full disk gets its space back. The writer still checkpoints on its own
// at backstopPages should the checkpointer fall behind. Durability is
// unchanged: a checkpoint syncs the log before it copies and the database
// before the log may start over, wherever it runs (Store.Sync).

const (
	// ckptPages is how many written pages start a checkpoint: half the
	// backstop, so that the log starts over well before it.
	ckptPages = 500
	// backstopPages is the log size, in pages, at which the writer
	// checkpoints inside a commit after all: SQLite's own default, so
	// that the log never grows past what it did before (on a full disk,
	// where no checkpoint can finish, that is what it takes).
	backstopPages = 1000
	// logLimit is the size, in bytes, the log file is cut back to when it
	// starts over.
	logLimit = backstopPages * pageSize
)

type checkpointer struct {
	s       *Store
	c       *conn
	pending atomic.Int64 // pages written since the last checkpoint began
	runs    atomic.Int64 // checkpoints that succeeded (tests)
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func newCheckpointer(s *Store, c *conn) *checkpointer {
	k := &checkpointer{
		s:       s,
		c:       c,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go k.run()
	return k
}

// wrote counts n pages just committed and wakes the checkpointer when
// enough have been.
func (k *checkpointer) wrote(n int) {
	if n == 0 || k.pending.Add(int64(n)) < ckptPages {
		return
	}
	// Reset here, not when the checkpointer wakes: commits in between
	// would kick it again for a second checkpoint with nothing to copy.
	k.pending.Store(0)
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

func (k *checkpointer) run() {
	defer close(k.stopped)
	for {
		select {
		case <-k.stop:
			return
		case <-k.kick:
		}
		if err := k.checkpoint(); err != nil {
			slog.Warn("sqlite store: background checkpoint", "path", k.s.path, "err", describe(err))
		}
	}
}

func (k *checkpointer) checkpoint() error {
	// The first pass's figures cannot tell whether it caught up: the
	// writer may have committed since it looked. The second always runs,
	// and costs next to nothing when there is nothing left to copy.
	_, err := k.pass()
	if err == nil {
		select {
		case w := <-k.s.writer:
			_, err = k.pass()
			k.s.writer <- w
		case <-k.stop:
		}
	}
	if err == nil {
		k.runs.Add(1)
	}
	return err
}

// pass runs one PASSIVE checkpoint and returns how many frames the log
// held.
func (k *checkpointer) pass() (logged int64, err error) {
	var busy, moved int64
	// A context that never ends, as for every statement (readTx.stmtCtx):
	// the checkpoint stops on its own when it has copied what it can.
	err = k.c.c.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logged, &moved)
	return logged, err
}

func (k *checkpointer) close() {
	close(k.stop)
	<-k.stopped
	k.c.close()
}
