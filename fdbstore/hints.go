package fdbstore

import "context"

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
