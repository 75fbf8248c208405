package fdbstore

import (
	"context"
	"time"
)

// backgroundKey marks a context whose transactions are background work.
type backgroundKey struct{}

// Background returns ctx marked as background work: scans and clean-up
// that no application waits on (purging, backfill, session monitoring).
// Backends that can run such transactions at a lower priority do
// (FoundationDB's batch priority); the others ignore the mark.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx was marked by Background.
func IsBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}

// staleKey marks a context whose read-only transactions may read stale.
type staleKey struct{}

// MayReadStale returns ctx marking read-only transactions that may read a
// consistent snapshot older than the newest commit: the session monitor's
// look at the heartbeats, whose every decision is taken again in a
// transaction that reads the newest state (an expiry claims a session only
// if its counter is still what the monitor saw). Backends whose replicas
// can answer such reads alone do (etcd's serializable reads, which a
// member answers during an election too, when no linearizable read can
// be served); the others ignore the mark.
func MayReadStale(ctx context.Context) context.Context {
	return context.WithValue(ctx, staleKey{}, true)
}

// IsStaleOK reports whether ctx was marked by MayReadStale.
func IsStaleOK(ctx context.Context) bool {
	b, _ := ctx.Value(staleKey{}).(bool)
	return b
}

// requestBoundKey carries the bound of one request to the store.
type requestBoundKey struct{}

// WithRequestBound returns ctx asking that each single request a
// transaction run under it makes to the store take at most d, so that a
// request stuck on an unreachable server is abandoned and retried
// (elsewhere, where the backend has a choice) well within a deadline the
// caller must meet: session heartbeats and the session monitor must not
// stall past the session expiry. Backends that make requests to one of
// several servers bound each by the smaller of d and their own bound; the
// others ignore it. A commit abandoned this way is settled as any whose
// answer was lost, never blindly re-run.
func WithRequestBound(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, requestBoundKey{}, d)
}

// RequestBound returns the bound WithRequestBound put on ctx, or 0.
func RequestBound(ctx context.Context) time.Duration {
	d, _ := ctx.Value(requestBoundKey{}).(time.Duration)
	return d
}

// MultiGetter is implemented by transactions that can read several keys
// in one round trip instead of one round trip per key.
type MultiGetter interface {
	// GetMany returns the values of keys, in order, nil for each absent
	// one, with the same conflicts and visibility as a Get of each.
	GetMany(keys [][]byte) ([][]byte, error)
}

// GetMany reads keys through tx: together where tx can (MultiGetter),
// else one Get after another.
func GetMany(tx ReadTx, keys [][]byte) ([][]byte, error) {
	if m, ok := tx.(MultiGetter); ok {
		return m.GetMany(keys)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := tx.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
