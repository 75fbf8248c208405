package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// Monitor watches other clients' heartbeats and cleans up sessions whose
// counter has not moved for expiry, as measured on this process's
// monotonic clock. It also finishes cleanups left half-done by a crash.
type Monitor struct {
	f      *FS
	expiry time.Duration
	seen   map[string]observed
	log    *slog.Logger
}

type observed struct {
	beats uint64
	since time.Time // monotonic: when this observer last saw the counter move
}

// NewMonitor returns a monitor expiring sessions silent for expiry.
func (f *FS) NewMonitor(expiry time.Duration, log *slog.Logger) *Monitor {
	return &Monitor{f: f, expiry: expiry, seen: map[string]observed{}, log: log}
}

// Check runs one round: it returns the sessions it expired.
func (m *Monitor) Check(ctx context.Context) ([]string, error) {
	ctx = fdbstore.Background(ctx) // no application waits on it
	sessions, err := m.f.Sessions(ctx)
	if err != nil {
		return nil, err
	}
	nowMono := time.Now()
	live := map[string]bool{}
	var expired []string
	for _, s := range sessions {
		live[s.ID] = true
		o, ok := m.seen[s.ID]
		if !ok || o.beats != s.Beats {
			m.seen[s.ID] = observed{beats: s.Beats, since: nowMono}
			continue
		}
		if s.ID == m.f.sess.id || nowMono.Sub(o.since) < m.expiry {
			continue
		}
		claimed, err := m.claim(ctx, s.ID, s.Beats)
		if err != nil {
			return expired, err
		}
		if claimed {
			expired = append(expired, s.ID)
			m.log.Warn("client session expired: fenced it and released its locks", "session", s.ID,
				"hostname", s.Hostname, "pid", s.Pid, "silent_for", nowMono.Sub(o.since).Round(time.Millisecond))
		}
	}
	for id := range m.seen {
		if !live[id] {
			delete(m.seen, id)
		}
	}
	// Cleanups a crashed cleaner left unfinished (and the ones just claimed).
	var dead []string
	err = m.f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		dead = dead[:0]
		b, e := m.f.k.deadRange()
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 100}) {
			if err != nil {
				return err
			}
			el, err := m.f.k.unpack(kv.Key)
			if err != nil || len(el) != 2 {
				return fmt.Errorf("%w: session tombstone", fdbstore.ErrCorrupt)
			}
			id, _ := el[1].(string)
			dead = append(dead, id)
		}
		return nil
	})
	if err != nil {
		return expired, err
	}
	for _, id := range dead {
		if _, _, err := m.f.finishCleanup(ctx, id); err != nil {
			return expired, err
		}
	}
	return expired, nil
}

// claim fences session id if its heartbeat is still at beats: only one
// observer wins, and a client that beat in the meantime is left alone.
func (m *Monitor) claim(ctx context.Context, id string, beats uint64) (bool, error) {
	claimed := false
	err := m.f.transact(ctx, func(tx fdbstore.Tx) error {
		claimed = false
		info, err := tx.Get(m.f.k.session(id))
		if err != nil || info == nil {
			return err
		}
		hb, err := tx.Get(m.f.k.heartbeat(id))
		if err != nil {
			return err
		}
		if n, _ := decodeBeat(hb); n != beats {
			return nil
		}
		m.f.fenceTx(tx, id, info)
		claimed = true
		return nil
	})
	return claimed, err
}

// KeepAlive heartbeats this client's session every interval and, as any
// live client may, expires other sessions silent for longer than expiry.
// It returns when ctx is done or this client has been fenced.
func (f *FS) KeepAlive(ctx context.Context, interval, expiry time.Duration, log *slog.Logger) {
	mon := f.NewMonitor(expiry, log)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.Heartbeat(ctx); errors.Is(err, ErrFenced) {
			return
		} else if err != nil && ctx.Err() == nil {
			log.Warn("heartbeat", "err", err)
			continue
		}
		if _, err := mon.Check(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrFenced) {
			log.Warn("session monitor", "err", err)
		}
	}
}
