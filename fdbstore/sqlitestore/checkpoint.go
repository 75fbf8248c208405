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
// 1000 pages: that commit writes and fsyncs both files, about 4 ms here,
// and every transaction queued behind it waits. Spread over the commits
// between two checkpoints it was a fifth of a create's time in the store.
//
// So this process's writer does not checkpoint on its own below
// backstopPages. A checkpointer goroutine with its own connection runs a
// PASSIVE checkpoint (it neither waits for nor blocks readers and the
// writer) once the writes since the last one reach ckptWrites, each write
// dirtying at most a page or two. The log starts over at the first write
// after a checkpoint that caught up with it. Under a steady stream of
// commits it never quite does (each checkpoint ends a few commits behind),
// so the log grows to backstopPages and the writer checkpoints after all,
// but only the few pages the last background pass had not copied: one
// short stall per 10000 pages instead of a long one per 1000 (in a create
// run, commits over 0.5 ms fell from 11-19 per 2000 to 2-3). Durability
// is unchanged: a checkpoint syncs the log before it copies and the
// database before the log may start over, wherever it runs (Store.Sync).

const (
	// ckptWrites is how many written keys start a background checkpoint,
	// about SQLite's own 1000-page default.
	ckptWrites = 1000
	// backstopPages is the log size, in pages, at which the writer
	// checkpoints inside a commit after all.
	backstopPages = 10000
)

type checkpointer struct {
	s       *Store
	c       *conn
	pending atomic.Int64 // keys written since the last checkpoint began
	runs    atomic.Int64 // checkpoints run (tests)
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

// wrote counts n keys just committed and wakes the checkpointer when
// enough have been.
func (k *checkpointer) wrote(n int) {
	if n == 0 || k.pending.Add(int64(n)) < ckptWrites {
		return
	}
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
		k.pending.Store(0)
		k.checkpoint()
	}
}

func (k *checkpointer) checkpoint() {
	var busy, logged, moved int64
	// A context that never ends, as for every statement (readTx.stmtCtx):
	// the checkpoint stops on its own when it has copied what it can.
	err := k.c.c.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logged, &moved)
	k.runs.Add(1)
	if err != nil {
		slog.Warn("sqlite store: background checkpoint", "path", k.s.path, "err", describe(err))
	}
}

func (k *checkpointer) close() {
	close(k.stop)
	<-k.stopped
	k.c.close()
}
