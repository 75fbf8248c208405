package cliutil

import (
	"context"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
)

// Locks returns the lock manager of filesystem m, fenced by m's session,
// and makes m's session cleanup (eviction, expiry) release locks too.
func Locks(m *meta.FS) *locks.Manager {
	lm := locks.New(locks.Config{Store: m.Store(), Prefix: m.Prefix(), Fence: m.Fence})
	m.SetCleanup(lm.ReleaseSessionTx)
	return lm
}

// InstallCleanup makes m's session cleanup release locks as well.
func InstallCleanup(m *meta.FS) { Locks(m) }

// LockCounts returns the number of locks each session holds.
func LockCounts(ctx context.Context, m *meta.FS, sessions []meta.SessionStatus) ([]int, error) {
	lm := Locks(m)
	counts := make([]int, len(sessions))
	err := m.Store().ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		for i, s := range sessions {
			n, err := lm.CountSession(tx, s.ID)
			if err != nil {
				return err
			}
			counts[i] = n
		}
		return nil
	})
	return counts, err
}
