package etcdstore

import (
	"context"
	"fmt"
)

// StoreQuota reports the cluster's space as meta.QuotaSpacer asks: its
// backend quota (Config.QuotaBytes; etcd cannot be asked for it) in all,
// and what the largest member's database leaves of it free. A filesystem
// without a configured capacity whose bodies live in the store reports
// this as its size.
func (s *Store) StoreQuota() (total, free uint64, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*s.cfg.RequestTimeout)
	defer cancel()
	var largest int64
	var lastErr error
	answered := 0
	for _, ep := range s.cli.Endpoints() {
		st, err := s.cli.Status(ctx, ep)
		if err != nil {
			lastErr = err
			continue
		}
		answered++
		largest = max(largest, st.DbSize)
	}
	if answered == 0 {
		return 0, 0, fmt.Errorf("etcd store: status of the members: %w", describe(lastErr))
	}
	quota := uint64(s.cfg.QuotaBytes)
	return quota, quota - min(uint64(largest), quota), nil
}
