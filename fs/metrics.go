package fs

import "github.com/prometheus/client_golang/prometheus"

var (
	descDeferWaiting = prometheus.NewDesc("hafs_deferred_opens",
		"Files open read-only here whose registration as open waits for the next batch (small inline files; see README).", nil, nil)
	descDeferDone = prometheus.NewDesc("hafs_deferred_opens_total",
		"Read-only opens of small files that deferred their registration, by how that ended: closed before it was due (no write at all), registered, or lost (removed elsewhere first; reads answered from the body the open read).",
		[]string{"outcome"}, nil)
)

// Describe implements prometheus.Collector.
func (r *Root) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDeferWaiting
	ch <- descDeferDone
}

// Collect implements prometheus.Collector: the deferred opens' figures at
// the moment of the scrape.
func (r *Root) Collect(ch chan<- prometheus.Metric) {
	d := &r.deferred
	ch <- prometheus.MustNewConstMetric(descDeferWaiting, prometheus.GaugeValue, float64(d.waiting.Load()))
	for _, o := range []struct {
		name string
		v    int64
	}{{"closed", d.closed.Load()}, {"registered", d.registered.Load()}, {"lost", d.lost.Load()}} {
		ch <- prometheus.MustNewConstMetric(descDeferDone, prometheus.CounterValue, float64(o.v), o.name)
	}
}
