package routing

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routerMetrics are a router's per-site Prometheus metrics. Backlogs are
// read from the store at scrape time, so every mount reports the shared
// queue.
type routerMetrics struct {
	r          *Router
	latency    *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	badCopies  *prometheus.CounterVec
	replBytes  *prometheus.CounterVec
	descState  *prometheus.Desc
	descLat    *prometheus.Desc
	descJobs   *prometheus.Desc
	descBytes  *prometheus.Desc
	descLag    *prometheus.Desc
	descHealth *prometheus.Desc
}

func newRouterMetrics(r *Router) *routerMetrics {
	site := []string{"site"}
	return &routerMetrics{r: r,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hafs_site_request_seconds",
			Help:    "Requests to a site by operation, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"site", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_site_errors_total",
			Help: "Requests to a site that failed (not-found answers are not failures)."}, []string{"site", "op"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_site_breaker_refusals_total",
			Help: "Requests not sent because the site's circuit breaker was open."}, []string{"site", "op"}),
		badCopies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_site_bad_copies_total",
			Help: "Blocks read from a site that failed their checksum (read from another site and repaired)."}, site),
		replBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_replicated_bytes_total",
			Help: "Bytes this mount copied to a site from the replication queue."}, site),
		descState:  prometheus.NewDesc("hafs_site_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open.", site, nil),
		descLat:    prometheus.NewDesc("hafs_site_latency_seconds", "Moving average of the site's measured latency.", site, nil),
		descJobs:   prometheus.NewDesc("hafs_replication_backlog_jobs", "Replication jobs queued for the site.", site, nil),
		descBytes:  prometheus.NewDesc("hafs_replication_backlog_bytes", "Bytes of replication jobs queued for the site.", site, nil),
		descLag:    prometheus.NewDesc("hafs_replication_lag_seconds", "Age of the job at the head of the site's queue (0 when empty).", site, nil),
		descHealth: prometheus.NewDesc("hafs_site_healthy", "1 when the site's last request succeeded.", site, nil),
	}
}

func (m *routerMetrics) request(site, op string, d time.Duration) {
	m.latency.WithLabelValues(site, op).Observe(d.Seconds())
}
func (m *routerMetrics) failed(site, op string)  { m.errors.WithLabelValues(site, op).Inc() }
func (m *routerMetrics) refused(site, op string) { m.refusals.WithLabelValues(site, op).Inc() }
func (m *routerMetrics) corrupt(site string)     { m.badCopies.WithLabelValues(site).Inc() }
func (m *routerMetrics) replicated(site string, n int) {
	m.replBytes.WithLabelValues(site).Add(float64(n))
}

// vecs are the metrics kept as they happen (the rest are read at scrape).
func (m *routerMetrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.latency, m.errors, m.refusals, m.badCopies, m.replBytes}
}

// Describe implements prometheus.Collector.
func (r *Router) Describe(ch chan<- *prometheus.Desc) {
	m := r.met
	for _, v := range m.vecs() {
		v.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{m.descState, m.descLat, m.descJobs, m.descBytes, m.descLag, m.descHealth} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Router) Collect(ch chan<- prometheus.Metric) {
	m := r.met
	for _, v := range m.vecs() {
		v.Collect(ch)
	}
	for _, s := range r.Sites() {
		ch <- prometheus.MustNewConstMetric(m.descState, prometheus.GaugeValue, float64(s.Breaker), s.Name)
		ch <- prometheus.MustNewConstMetric(m.descLat, prometheus.GaugeValue, s.Latency.Seconds(), s.Name)
		h := 0.0
		if s.Healthy {
			h = 1
		}
		ch <- prometheus.MustNewConstMetric(m.descHealth, prometheus.GaugeValue, h, s.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bl, err := r.m.Backlogs(ctx)
	if err != nil {
		return
	}
	for name, b := range bl {
		lag := 0.0
		if !b.Oldest.IsZero() {
			lag = time.Since(b.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(m.descJobs, prometheus.GaugeValue, float64(b.Jobs), name)
		ch <- prometheus.MustNewConstMetric(m.descBytes, prometheus.GaugeValue, float64(b.Bytes), name)
		ch <- prometheus.MustNewConstMetric(m.descLag, prometheus.GaugeValue, lag, name)
	}
}
