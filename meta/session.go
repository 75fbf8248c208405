package meta

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// ErrFenced is returned by every operation of a client whose session was
// evicted or expired: it may commit nothing more until it mounts again.
var ErrFenced = fmt.Errorf("client session was evicted or expired; unmount and mount again: %w", syscall.EIO)

// ErrNoSession reports an unknown session id.
var ErrNoSession = errors.New("no such client session")

// SessionInfo describes a mounted client.
type SessionInfo struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	Pid        int       `json:"pid"`
	Mountpoint string    `json:"mountpoint"`
	Version    string    `json:"version"`
	Start      time.Time `json:"start"`
	// Metrics is the address the client serves /metrics and /healthz on,
	// if any.
	Metrics string `json:"metrics,omitempty"`
}

// SessionStatus is a session as an observer sees it.
type SessionStatus struct {
	SessionInfo
	// Beats is the heartbeat counter; liveness is judged by watching it
	// move on the observer's own clock, never by comparing wall clocks.
	Beats uint64
	// LastBeat is the wall time the client wrote with its last heartbeat,
	// for display only.
	LastBeat time.Time
}

// Cleanup releases what a dead session held outside this package (its
// locks), inside the transaction that finishes its cleanup, and returns a
// count for the report.
type Cleanup func(tx fdbstore.Tx, session string) (int, error)

// sessionState is this client's own session and its fencing state.
type sessionState struct {
	id     string
	key    []byte // nil: no session (admin tools), no fencing
	fenced atomic.Bool
	once   sync.Once
	log    *slog.Logger

	cleanup Cleanup
}

// SessionID returns this client's session id ("" without a session).
func (f *FS) SessionID() string { return f.sess.id }

// SetCleanup installs what session cleanup must also release (locks).
func (f *FS) SetCleanup(c Cleanup) { f.sess.cleanup = c }

// StartSession registers this client; from then on its transactions are
// fenced by the session key.
func (f *FS) StartSession(ctx context.Context, info SessionInfo, log *slog.Logger) error {
	if info.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		info.ID = hex.EncodeToString(b[:])
	}
	info.Start = time.Now().UTC()
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	err = f.store.Transact(ctx, func(tx fdbstore.Tx) error {
		tx.Set(f.k.session(info.ID), raw)
		tx.Set(f.k.heartbeat(info.ID), beat(0))
		return nil
	})
	if err != nil {
		return fmt.Errorf("register session: %w", err)
	}
	f.sess.id, f.sess.key, f.sess.log = info.ID, f.k.session(info.ID), log
	return nil
}

func beat(n uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, n)
	return binary.LittleEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
}

func decodeBeat(b []byte) (uint64, time.Time) {
	if len(b) < 16 {
		return 0, time.Time{}
	}
	return binary.LittleEndian.Uint64(b), time.Unix(0, int64(binary.LittleEndian.Uint64(b[8:])))
}

// Heartbeat advances this client's heartbeat counter. It fails with
// ErrFenced once the session is gone.
func (f *FS) Heartbeat(ctx context.Context) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.heartbeat(f.sess.id))
		if err != nil {
			return err
		}
		n, _ := decodeBeat(v)
		tx.Set(f.k.heartbeat(f.sess.id), beat(n+1))
		return nil
	})
}

// Sessions lists the registered sessions.
func (f *FS) Sessions(ctx context.Context) ([]SessionStatus, error) {
	var out []SessionStatus
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		out = out[:0]
		b, e := f.k.sessionRange()
		var beats [][]byte
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			var st SessionStatus
			if err := json.Unmarshal(kv.Value, &st.SessionInfo); err != nil {
				return fmt.Errorf("%w: session record: %v", fdbstore.ErrCorrupt, err)
			}
			out = append(out, st)
			beats = append(beats, f.k.heartbeat(st.ID))
		}
		// In one request where the store can: the monitor reads this
		// every heartbeat, and each request may meet a cut-off member.
		hbs, err := fdbstore.GetMany(tx, beats)
		if err != nil {
			return err
		}
		for i, hb := range hbs {
			out[i].Beats, out[i].LastBeat = decodeBeat(hb)
		}
		return nil
	})
	return out, err
}

// EvictReport says what fencing a session released.
type EvictReport struct {
	Session string
	Locks   int
	Orphans int
	// AlreadyGone is set when the session had been fenced before.
	AlreadyGone bool
}

// Evict fences session id and releases what it held. It is idempotent: a
// session fenced before (by eviction or expiry) has its cleanup finished.
func (f *FS) Evict(ctx context.Context, id string) (EvictReport, error) {
	rep := EvictReport{Session: id}
	err := f.store.Transact(ctx, func(tx fdbstore.Tx) error {
		rep.AlreadyGone = false
		v, err := tx.Get(f.k.session(id))
		if err != nil {
			return err
		}
		if v == nil {
			g, err := tx.Get(f.k.gone(id))
			if err != nil {
				return err
			}
			if g == nil {
				return fmt.Errorf("session %q: %w", id, ErrNoSession)
			}
			rep.AlreadyGone = true
			return nil
		}
		f.fenceTx(tx, id, v)
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Locks, rep.Orphans, err = f.finishCleanup(ctx, id)
	return rep, err
}

// fenceTx deletes the session key (the fence) and leaves a record that its
// cleanup is due, so a crash between the two steps loses nothing.
func (f *FS) fenceTx(tx fdbstore.Tx, id string, info []byte) {
	tx.Clear(f.k.session(id))
	tx.Clear(f.k.heartbeat(id))
	tx.Clear(f.k.siteAck(id))
	tx.Set(f.k.dead(id), info)
	// A small permanent tombstone keeps eviction idempotent and tells an
	// operator that an id was fenced rather than never existed.
	tx.Set(f.k.gone(id), info)
}

// finishCleanup releases a fenced session's locks and reclaims the inodes
// it had open after unlinking them, a page per transaction.
func (f *FS) finishCleanup(ctx context.Context, id string) (locks, orphans int, err error) {
	for {
		done := false
		n, reaped := 0, 0
		err := f.store.Transact(ctx, func(tx fdbstore.Tx) error {
			n, reaped, done = 0, 0, false
			b, e := f.k.sessOpenRange(id)
			// Each open costs what a close does.
			page := f.page(100, closeCost)
			for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: page}) {
				if err != nil {
					return err
				}
				el, err := f.k.unpack(kv.Key)
				if err != nil || len(el) != 3 {
					return fmt.Errorf("%w: open index key", fdbstore.ErrCorrupt)
				}
				ino, _ := el[2].(int64)
				tx.Clear(kv.Key)
				tx.Clear(f.k.open(uint64(ino), id))
				r, err := f.reapIfOrphan(tx, uint64(ino))
				if err != nil {
					return err
				}
				if r {
					reaped++
				}
				n++
			}
			if n < page {
				if err := f.abandonIntents(tx, id); err != nil {
					return err
				}
				if f.sess.cleanup != nil {
					l, err := f.sess.cleanup(tx, id)
					if err != nil {
						return err
					}
					locks = l
				}
				tx.Clear(f.k.dead(id))
				done = true
			}
			return nil
		})
		if err != nil {
			return locks, orphans, fmt.Errorf("clean up session %s: %w", id, err)
		}
		orphans += reaped
		if done {
			return locks, orphans, nil
		}
	}
}

// EndSession unregisters this client at a clean unmount, releasing what it
// still holds.
func (f *FS) EndSession(ctx context.Context) error {
	if f.sess.key == nil || f.sess.fenced.Load() {
		return nil
	}
	_, err := f.Evict(ctx, f.sess.id)
	f.sess.fenced.Store(true)
	return err
}
