package routing

import (
	"context"
	"encoding/json"
	"time"
)

// SiteStatus is one site as `hafs status` and `hafs site list` show it.
type SiteStatus struct {
	Name          string  `json:"name"`
	Role          string  `json:"role"`
	URL           string  `json:"-"`
	Healthy       bool    `json:"healthy"`
	Reason        string  `json:"reason,omitempty"` // why not healthy
	Breaker       string  `json:"breaker"`
	LatencyMS     float64 `json:"latency_ms"`
	BacklogJobs   int64   `json:"backlog_jobs"`
	BacklogBytes  int64   `json:"backlog_bytes"`
	OldestJobAgeS float64 `json:"oldest_job_age_s"`
}

// publishedFresh is how old a mount's published breaker state may be and
// still be shown.
const publishedFresh = time.Minute

// Status probes every site from here and reads the queues from the
// store, so it works with no mount running. The breaker shown is the one a
// running mount published last; without one, closed when the probe
// answered and open when it did not.
func (r *Router) Status(ctx context.Context) ([]SiteStatus, error) {
	r.ProbeOnce(ctx)
	bl, err := r.m.Backlogs(ctx)
	if err != nil {
		return nil, err
	}
	states, err := r.m.SiteStates(ctx)
	if err != nil {
		return nil, err
	}
	var rows []SiteStatus
	for _, s := range r.Sites() {
		row := SiteStatus{Name: s.Name, Role: s.Role, URL: s.Site.String(), Healthy: s.Healthy, Reason: s.Reason,
			LatencyMS: float64(s.Latency.Microseconds()) / 1000}
		row.Breaker = Closed.String()
		if !s.Healthy {
			row.Breaker = Open.String()
		}
		var pub siteState
		if raw, ok := states[s.Name]; ok && json.Unmarshal(raw, &pub) == nil && time.Since(pub.At) < publishedFresh {
			row.Breaker = pub.Breaker
		}
		b := bl[s.Name]
		row.BacklogJobs, row.BacklogBytes = b.Jobs, b.Bytes
		if b.Backfill {
			// The backfill scan that will queue the site's copies is a job
			// itself until it has queued them all.
			row.BacklogJobs++
		}
		if !b.Oldest.IsZero() {
			row.OldestJobAgeS = max(time.Since(b.Oldest).Seconds(), 0)
		}
		rows = append(rows, row)
	}
	return rows, nil
}
