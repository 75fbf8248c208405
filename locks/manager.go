package locks

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// Config wires a Manager to a filesystem.
type Config struct {
	// Store holds the lock tables.
	Store fdbstore.Store
	// Prefix is the filesystem's key prefix; the manager's keys live under it.
	Prefix []byte
	// Fence, when set, runs first in every read-write transaction of the
	// manager and fails it once this client has been fenced, so an evicted
	// client can neither take nor release a lock.
	Fence func(tx fdbstore.Tx) error
}

// Manager runs lock requests as store transactions. It holds no lock state
// of its own, so any number of managers (one per client) share the tables.
type Manager struct {
	store  fdbstore.Store
	prefix []byte
	fence  func(tx fdbstore.Tx) error
}

// New returns a manager for the filesystem cfg describes.
func New(cfg Config) *Manager {
	return &Manager{store: cfg.Store, prefix: bytes.Clone(cfg.Prefix), fence: cfg.Fence}
}

// maxDeadlockHops bounds the walk through the wait-for graph, so that one
// request never reads an unbounded number of keys; a longer chain is
// reported as no deadlock, and the wait simply continues.
const maxDeadlockHops = 256

// cleanupTimeout bounds the transaction that clears a wait record after an
// interrupted wait, which runs on a context that is already cancelled.
const cleanupTimeout = 5 * time.Second

func (m *Manager) pack(elems ...any) []byte {
	return tuple.AppendPack(bytes.Clone(m.prefix), elems...)
}

func (m *Manager) tableKey(ino uint64) []byte { return m.pack("lk", int64(ino)) }
func (m *Manager) indexKey(session string, ino uint64) []byte {
	return m.pack("lks", session, int64(ino))
}
func (m *Manager) indexRange(session string) ([]byte, []byte) {
	return tuple.Range(m.pack("lks", session))
}

// waitKey records that POSIX owner o is blocked; owner ids are kernel
// pointers that may not fit in an int64, so they are stored bit for bit.
func (m *Manager) waitKey(o Owner) []byte { return m.pack("lkw", o.Session, int64(o.ID)) }
func (m *Manager) waitRange(session string) ([]byte, []byte) {
	return tuple.Range(m.pack("lkw", session))
}

func (m *Manager) transact(ctx context.Context, fn func(tx fdbstore.Tx) error) error {
	return m.store.Transact(ctx, func(tx fdbstore.Tx) error {
		if m.fence != nil {
			if err := m.fence(tx); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

func (m *Manager) table(tx fdbstore.ReadTx, ino uint64) (Table, error) {
	v, err := tx.Get(m.tableKey(ino))
	if err != nil {
		return nil, err
	}
	t, err := DecodeTable(v)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	return t, nil
}

// put writes ino's table after a change made on behalf of session and
// keeps session's index entry exact. An unchanged table is not written, so
// that watchers are not woken for nothing.
func (m *Manager) put(tx fdbstore.Tx, ino uint64, old, t Table, session string) error {
	before, after := EncodeTable(old), EncodeTable(t)
	if bytes.Equal(before, after) {
		return nil
	}
	if len(t) == 0 {
		tx.Clear(m.tableKey(ino))
	} else {
		if len(after) > fdbstore.MaxValueSize {
			return fmt.Errorf("inode %d: lock table full: %w", ino, syscall.ENOLCK)
		}
		tx.Set(m.tableKey(ino), after)
	}
	if had, has := holds(old, session), holds(t, session); had != has {
		if has {
			tx.Set(m.indexKey(session, ino), nil)
		} else {
			tx.Clear(m.indexKey(session, ino))
		}
	}
	return nil
}

func holds(t Table, session string) bool {
	for _, l := range t {
		if l.Owner.Session == session {
			return true
		}
	}
	return false
}

// Test returns the first lock that would keep req from being granted
// (F_GETLK), and whether there is one.
func (m *Manager) Test(ctx context.Context, ino uint64, req Lock) (Lock, bool, error) {
	var held Lock
	var found bool
	err := m.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		t, err := m.table(tx, ino)
		if err != nil {
			return err
		}
		held, found = t.Conflict(req)
		return nil
	})
	return held, found, err
}

// TryLock grants, changes or releases req at once, or fails with EAGAIN
// when another owner's lock conflicts (F_SETLK, LOCK_NB).
func (m *Manager) TryLock(ctx context.Context, ino uint64, req Lock) error {
	return m.transact(ctx, func(tx fdbstore.Tx) error {
		t, err := m.table(tx, ino)
		if err != nil {
			return err
		}
		if _, busy := t.Conflict(req); busy {
			return syscall.EAGAIN
		}
		return m.put(tx, ino, t, t.Apply(req), req.Owner.Session)
	})
}

// Lock grants req, waiting while another owner's lock conflicts (F_SETLKW,
// flock without LOCK_NB). The wait sleeps on a store watch of the inode's
// table, so it wakes on the commit that changes it, on any client. A POSIX
// request whose wait would close a cycle of waiting owners fails with
// EDEADLK; a wait ended by ctx fails with EINTR.
func (m *Manager) Lock(ctx context.Context, ino uint64, req Lock) error {
	waiting := false // whether a wait record of ours may be in the store
	defer func() {
		if waiting {
			m.clearWait(ctx, req.Owner)
		}
	}()
	for {
		var w fdbstore.Watch
		deadlock := false
		err := m.transact(ctx, func(tx fdbstore.Tx) error {
			if w != nil {
				w.Cancel() // from an attempt that did not commit
				w = nil
			}
			deadlock = false
			t, err := m.table(tx, ino)
			if err != nil {
				return err
			}
			if _, busy := t.Conflict(req); !busy {
				if !req.Flock {
					tx.Clear(m.waitKey(req.Owner))
				}
				return m.put(tx, ino, t, t.Apply(req), req.Owner.Session)
			}
			if !req.Flock {
				if deadlock, err = m.closesCycle(tx, req, t); err != nil {
					return err
				}
				if deadlock {
					tx.Clear(m.waitKey(req.Owner))
					return nil
				}
				tx.Set(m.waitKey(req.Owner), encodeWait(ino, req))
			}
			w = tx.Watch(m.tableKey(ino))
			return nil
		})
		if err != nil {
			if w != nil {
				w.Cancel()
			}
			if ctx.Err() != nil {
				return syscall.EINTR
			}
			return err
		}
		if deadlock {
			waiting = false
			return syscall.EDEADLK
		}
		if w == nil {
			waiting = false
			return nil
		}
		waiting = !req.Flock
		select {
		case <-w.Done():
			werr := w.Err()
			w.Cancel()
			if werr != nil && ctx.Err() == nil {
				return fmt.Errorf("wait for lock on inode %d: %w", ino, werr)
			}
		case <-ctx.Done():
			w.Cancel()
			return syscall.EINTR
		}
	}
}

// clearWait removes owner o's wait record after an interrupted or failed
// wait. ctx may be cancelled already; the record must go regardless, or
// later requests could see a deadlock that is not there.
func (m *Manager) clearWait(ctx context.Context, o Owner) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = m.transact(ctx, func(tx fdbstore.Tx) error {
		tx.Clear(m.waitKey(o))
		return nil
	})
}

// closesCycle reports whether req, blocked by the locks in t, would wait
// for an owner that (through a chain of waiting owners) waits for req's
// owner. Each hop re-reads the waiter's table, so a stale wait record whose
// blocker has since let go adds no edge.
func (m *Manager) closesCycle(tx fdbstore.Tx, req Lock, t Table) (bool, error) {
	queue := t.blockers(req)
	seen := map[Owner]bool{}
	for hops := 0; len(queue) > 0 && hops < maxDeadlockHops; hops++ {
		o := queue[0]
		queue = queue[1:]
		if o == req.Owner {
			return true, nil
		}
		if seen[o] {
			continue
		}
		seen[o] = true
		v, err := tx.Get(m.waitKey(o))
		if err != nil {
			return false, err
		}
		if v == nil {
			continue
		}
		ino, wreq, err := decodeWait(v)
		if err != nil {
			return false, err
		}
		wt, err := m.table(tx, ino)
		if err != nil {
			return false, err
		}
		queue = append(queue, wt.blockers(wreq)...)
	}
	return false, nil
}

// encodeWait stores a blocked request: its inode, then the request as a
// one-lock table.
func encodeWait(ino uint64, req Lock) []byte {
	return append(binary.AppendUvarint(nil, ino), EncodeTable(Table{req})...)
}

func decodeWait(b []byte) (uint64, Lock, error) {
	ino, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, Lock{}, fmt.Errorf("%w: wait record", errCorrupt)
	}
	t, err := DecodeTable(b[n:])
	if err != nil || len(t) != 1 {
		return 0, Lock{}, fmt.Errorf("%w: wait record", errCorrupt)
	}
	return ino, t[0], nil
}

// release applies drop to ino's table in a fenced transaction.
func (m *Manager) release(ctx context.Context, ino uint64, session string, drop func(Table) Table) error {
	return m.transact(ctx, func(tx fdbstore.Tx) error {
		t, err := m.table(tx, ino)
		if err != nil {
			return err
		}
		return m.put(tx, ino, t, drop(t), session)
	})
}

// ReleaseOwner drops owner o's flock lock (flock) or all its POSIX locks
// on ino.
func (m *Manager) ReleaseOwner(ctx context.Context, ino uint64, o Owner, flock bool) error {
	return m.release(ctx, ino, o.Session, func(t Table) Table { return t.ReleaseOwner(o, flock) })
}

// ReleasePid drops the POSIX locks that process pid of session holds on
// ino, as closing any of its descriptors of the file does.
func (m *Manager) ReleasePid(ctx context.Context, ino uint64, session string, pid uint32) error {
	return m.release(ctx, ino, session, func(t Table) Table { return t.ReleasePid(session, pid) })
}

// ReleasePosixSession drops every POSIX lock of session on ino, for the
// last close of the file in that client.
func (m *Manager) ReleasePosixSession(ctx context.Context, ino uint64, session string) error {
	return m.release(ctx, ino, session, func(t Table) Table { return t.ReleasePosix(session) })
}

// ReleaseSessionTx drops every lock and wait record of session in tx and
// returns how many locks it released. It reads only that session's index,
// never the whole lock space. It has the shape of meta.Cleanup, so session
// cleanup (eviction, expiry) releases locks in the transaction that
// finishes it.
func (m *Manager) ReleaseSessionTx(tx fdbstore.Tx, session string) (int, error) {
	n := 0
	err := m.sessionTables(tx, session, func(key []byte, ino uint64, t Table) error {
		nt := t.ReleaseSession(session)
		n += len(t) - len(nt)
		tx.Clear(key) // even if the table had drifted from the index
		return m.put(tx, ino, t, nt, session)
	})
	if err != nil {
		return n, err
	}
	tx.ClearRange(m.waitRange(session))
	return n, nil
}

// CountSession returns the number of locks session holds.
func (m *Manager) CountSession(tx fdbstore.ReadTx, session string) (int, error) {
	n := 0
	err := m.sessionTables(tx, session, func(_ []byte, _ uint64, t Table) error {
		n += len(t) - len(t.ReleaseSession(session))
		return nil
	})
	return n, err
}

// sessionTables calls fn with the index key, inode and lock table of every
// inode the session's index lists.
func (m *Manager) sessionTables(tx fdbstore.ReadTx, session string, fn func(key []byte, ino uint64, t Table) error) error {
	b, e := m.indexRange(session)
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return err
		}
		ino, err := m.indexIno(kv.Key)
		if err != nil {
			return err
		}
		t, err := m.table(tx, ino)
		if err != nil {
			return err
		}
		if err := fn(kv.Key, ino, t); err != nil {
			return err
		}
	}
	return nil
}

var errIndexKey = fmt.Errorf("%w: lock index key", fdbstore.ErrCorrupt)

func (m *Manager) indexIno(key []byte) (uint64, error) {
	el, err := tuple.Unpack(key[len(m.prefix):])
	if err != nil || len(el) != 3 {
		return 0, errIndexKey
	}
	ino, ok := el[2].(int64)
	if !ok {
		return 0, errIndexKey
	}
	return uint64(ino), nil
}
