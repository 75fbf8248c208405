package gateway

import (
	"context"
	"errors"
	"strings"
	"syscall"
)

// tempName of a PUT by session: the session id in the name tells a
// listing whether the PUT can still be under way.
func tempNameFor(session, random string) string { return tempPrefix + session + "-" + random }

// tempOwner returns the session a hidden PUT name belongs to.
func tempOwner(name string) string {
	rest := strings.TrimPrefix(name, tempPrefix)
	i := strings.LastIndexByte(rest, '-') // the random part is hex
	if i <= 0 {
		return ""
	}
	return rest[:i]
}

// sweepTemps removes, from directory dir, hidden PUT files whose gateway
// session no longer exists: that gateway was killed mid-PUT and fenced,
// so nothing will ever finish them. A session still registered (even one
// about to expire) keeps its files until a later listing.
func (d *davFS) sweepTemps(ctx context.Context, dir uint64, names []string) {
	if len(names) == 0 {
		return
	}
	sessions, err := d.m.Sessions(ctx)
	if err != nil {
		return // a later listing tries again
	}
	live := map[string]bool{}
	for _, s := range sessions {
		live[s.ID] = true
	}
	for _, n := range names {
		if owner := tempOwner(n); owner != "" && !live[owner] {
			if err := d.m.Unlink(ctx, dir, n); err != nil && !errors.Is(err, syscall.ENOENT) {
				return
			}
		}
	}
}
