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
	// The look at the heartbeats may be stale: a claim re-reads the
	// counter, so a stale look never expires a client that beat since,
	// and a member answers it alone while its cluster elects a leader,
	// which is when a holder cut off with the leader must be seen to
	// have fallen silent.
	sessions, err := m.f.Sessions(fdbstore.MayReadStale(ctx))
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

// Due returns when the first of the other sessions Check saw will have
// been silent for the expiry, if it has seen any.
func (m *Monitor) Due() (time.Time, bool) {
	var due time.Time
	for id, o := range m.seen {
		if id == m.f.sess.id {
			continue
		}
		if at := o.since.Add(m.expiry); due.IsZero() || at.Before(due) {
			due = at
		}
	}
	return due, !due.IsZero()
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
//
// The monitor runs beside the heartbeat, not after it: a heartbeat held up
// by an unreachable store member must not hold up this client's view of
// the others' heartbeats (an observer's expiry clock starts when it sees a
// beat, so a late look is a late expiry), and a client whose own beat
// failed can still see and expire the others (a store that refused its
// beat refuses its fence too). Every store request of both is bounded (see
// sessionRequestBound), so one stuck on a cut-off member is abandoned and
// retried long before the expiry.
func (f *FS) KeepAlive(ctx context.Context, interval, expiry time.Duration, log *slog.Logger) {
	ctx = fdbstore.WithRequestBound(ctx, sessionRequestBound(expiry))
	ctx, stop := context.WithCancel(ctx)
	monitored := make(chan struct{})
	go func() {
		defer close(monitored)
		// Twice per heartbeat: an observer learns of a beat up to one of
		// its looks late, and that lag is added to the expiry, and so to
		// a lock's hand-over (measured: up to 2.19 s looking every beat
		// for an expiry of 2 s and beats every 200 ms).
		f.monitor(ctx, max(interval/2, time.Millisecond), expiry, log)
	}()
	defer func() {
		stop()
		<-monitored
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A beat later than the expiry is pointless: the session is
		// being fenced, and the next beat learns it.
		bctx, cancel := context.WithTimeout(ctx, expiry)
		start := time.Now()
		err := f.Heartbeat(bctx)
		cancel()
		if errors.Is(err, ErrFenced) {
			return
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("heartbeat", "err", err)
		} else if d := time.Since(start); d > expiry/2 && ctx.Err() == nil {
			log.Warn("slow heartbeat: the session came close to expiring", "took", d.Round(time.Millisecond), "expiry", expiry)
		}
	}
}

// monitor runs a Monitor's Check every interval until ctx is done, and
// also when a session it watches falls silent for the expiry, so that it
// is expired then and not up to an interval later.
func (f *FS) monitor(ctx context.Context, interval, expiry time.Duration, log *slog.Logger) {
	mon := f.NewMonitor(expiry, log)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := mon.Check(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrFenced) {
			log.Warn("session monitor", "err", err)
		}
		// A session already past due that this Check left alone (its
		// claim failed, say) waits for the next interval, not a busy loop.
		wait := interval
		if due, ok := mon.Due(); ok {
			if d := time.Until(due); d > 0 && d < wait {
				wait = d
			}
		}
		t.Reset(wait)
	}
}

// sessionRequestBound is the bound on each store request of heartbeats
// and the monitor: a tenth of the expiry, so that a few requests lost to
// an unreachable member still leave the beat well within it.
func sessionRequestBound(expiry time.Duration) time.Duration {
	return max(expiry/10, 20*time.Millisecond)
}
