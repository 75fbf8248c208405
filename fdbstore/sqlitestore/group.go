package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hafs/hafs/fdbstore"
)

// Group commit.
//
// SQLite has one writer, so read-write transactions of this process run
// one after another on the writer connection, and each paid for its own
// commit (the log write, the signal to other processes, the watch check).
// When several are waiting, the one that gets the writer runs them all,
// each inside its own savepoint, and commits once: a transaction whose
// function fails is rolled back to its savepoint alone, the others commit
// together, and each caller gets its own answer only after that commit
// (or its failure, which no member outlives: SQLite commits all or
// nothing). The members run in turn on one connection, each seeing those
// before it, so the group is a serial order of its members, which is what
// single-writer SQLite promised them anyway.

// maxGroup bounds the transactions one commit takes, so that a member's
// wait stays bounded under a steady stream.
const maxGroup = 64

// member is one read-write transaction waiting in the queue.
type member struct {
	ctx  context.Context
	fn   func(fdbstore.Tx) error
	done chan error // buffered: the leader never blocks on it
}

// attemptWrite runs fn once as (part of) a read-write transaction.
func (s *Store) attemptWrite(ctx context.Context, fn func(fdbstore.Tx) error) error {
	me := &member{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.qmu.Lock()
	s.queue = append(s.queue, me)
	s.qmu.Unlock()
	for {
		select {
		case err := <-me.done:
			return err
		case c := <-s.writer:
			group := s.takeQueue()
			if len(group) > 0 {
				s.runGroup(c, group)
			}
			s.writer <- c
		case <-ctx.Done():
			// Still queued: leave. Taken by a leader: it may be running,
			// so wait for its answer (it skips members whose context is
			// done before their turn).
			if s.dequeue(me) {
				return context.Cause(ctx)
			}
			return <-me.done
		case <-s.closed:
			if s.dequeue(me) {
				return fdbstore.ErrClosed
			}
			return <-me.done
		}
	}
}

// takeQueue takes up to maxGroup waiting members, oldest first.
func (s *Store) takeQueue() []*member {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	n := min(len(s.queue), maxGroup)
	group := make([]*member, n)
	copy(group, s.queue)
	s.queue = append(s.queue[:0], s.queue[n:]...)
	return group
}

// dequeue removes m from the queue and reports whether it was there.
func (s *Store) dequeue(m *member) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for i, q := range s.queue {
		if q == m {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// runGroup runs group's members in one transaction on the writer c and
// sends each its answer.
func (s *Store) runGroup(c *conn, group []*member) {
	errs := make([]error, len(group))
	var watches [][]*watch
	answer := func(commitErr error) {
		for i, m := range group {
			if errs[i] == nil {
				errs[i] = commitErr
			}
			m.done <- errs[i]
		}
	}
	if _, err := c.begin.ExecContext(context.WithoutCancel(group[0].ctx)); err != nil {
		answer(describe(err))
		return
	}
	if n := int64(len(group)); n > s.largestGroup.Load() {
		s.largestGroup.Store(n) // only the writer's holder stores
	}
	alone := len(group) == 1 // no savepoint needed: a failure rolls back all
	ran, pages := 0, 0
	for i, m := range group {
		if err := m.ctx.Err(); err != nil {
			errs[i] = context.Cause(m.ctx)
			continue
		}
		ws, err, broken := s.runMember(c, m, alone, &pages)
		if broken != nil {
			// The transaction itself is gone (SQLite rolls back on its
			// own after some errors): nothing of the group stands, and
			// every member not failed by its own function runs again.
			c.rollback()
			for _, ws := range watches {
				failWatches(ws)
			}
			errs[i] = err // its own failure, or nil: then it runs again too
			for j := range group {
				if errs[j] == nil {
					errs[j] = groupAborted{broken}
				}
			}
			answer(nil)
			return
		}
		if err != nil {
			errs[i] = err
			continue
		}
		watches = append(watches, ws)
		ran++
	}
	if ran == 0 {
		c.rollback()
		answer(nil)
		return
	}
	// COMMIT ignores cancellation: cut short, it could commit and still
	// report an error, and the caller would run the transaction again.
	if _, err := c.commit.ExecContext(context.Background()); err != nil {
		c.rollback()
		for _, ws := range watches {
			failWatches(ws)
		}
		answer(describe(err))
		return
	}
	if _, err := s.signal.WriteAt([]byte{0}, 0); err != nil {
		// The commit stands; other processes' watches fall back to the
		// safety poll.
		slog.Warn("sqlite store: signal commit", "path", s.path, "err", err)
	}
	for _, ws := range watches {
		s.hub.committed(ws)
	}
	s.ckpt.wrote(pages)
	answer(nil)
}

// runMember runs one member's function inside the open transaction, in a
// savepoint unless it is alone, and returns its watches, valued at the
// member's end, and adds the log pages it dirtied to *pages. A member
// that fails leaves no trace; broken is set when undoing it failed, which
// means the transaction is no longer open.
func (s *Store) runMember(c *conn, m *member, alone bool, pages *int) (ws []*watch, err, broken error) {
	ctx := context.WithoutCancel(m.ctx)
	if !alone {
		if _, err := c.savepoint.ExecContext(ctx); err != nil {
			return nil, nil, describe(err) // not run: it runs again
		}
	}
	tx := &writeTx{readTx: readTx{ctx: m.ctx, c: c}}
	err = m.fn(tx)
	if err == nil {
		err = tx.err
	}
	if err == nil {
		err = tx.limits.Err()
	}
	for _, w := range tx.watches {
		if err != nil {
			break
		}
		var v []byte
		if v, err = tx.Get(w.key); err == nil {
			w.value = v
		}
	}
	if err != nil {
		failWatches(tx.watches)
		if alone {
			return nil, err, nil
		}
		// Undo this member only. ROLLBACK TO fails when SQLite rolled the
		// whole transaction back after an error: then nothing stands.
		if _, rerr := c.rollbackTo.ExecContext(ctx); rerr != nil {
			return nil, err, describe(rerr)
		}
		if _, rerr := c.release.ExecContext(ctx); rerr != nil {
			return nil, err, describe(rerr)
		}
		return nil, err, nil
	}
	if !alone {
		if _, rerr := c.release.ExecContext(ctx); rerr != nil {
			failWatches(tx.watches)
			return nil, nil, describe(rerr) // undone with the rest: it runs again
		}
	}
	*pages += tx.pages
	return tx.watches, nil, nil
}

// groupAborted is the answer of a member whose group was undone by another
// member's failure: nothing of it was committed, and it may run again.
type groupAborted struct{ err error }

func (e groupAborted) Error() string {
	return fmt.Sprintf("%v: group commit undone: %v", fdbstore.ErrConflict, e.err)
}
func (e groupAborted) Unwrap() error   { return e.err }
func (e groupAborted) Retryable() bool { return true }

func failWatches(ws []*watch) {
	for _, w := range ws {
		w.fail(errors.New("watch: transaction did not commit"))
	}
}
