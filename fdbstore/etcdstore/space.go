package etcdstore

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
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

// Full implements fdbstore.FullReporter: a NOSPACE alarm is raised on the
// cluster (its database reached the backend quota), which refuses writes
// until it is compacted, defragmented and the alarm disarmed.
func (s *Store) Full() (bool, string) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.cli.AlarmList(ctx)
	if err != nil {
		return false, ""
	}
	for _, a := range resp.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			return true, fmt.Sprintf("store full: etcd member %x raised its NOSPACE alarm (backend quota reached); compact, defragment and disarm it", a.MemberID)
		}
	}
	return false, ""
}
