package gateway

import (
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the gateway's requests, bytes and latencies.
type Metrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ prometheus.Collector = (*Metrics)(nil)

func newMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_gateway_requests_total",
			Help: "HTTP requests served, by method and status code."}, []string{"method", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hafs_gateway_bytes_total",
			Help: "Request body bytes received (in) and response bytes sent (out)."}, []string{"direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hafs_gateway_request_seconds",
			Help: "Time to serve a request, by method.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)},
			[]string{"method"}),
	}
}

func (m *Metrics) observe(method string, status int, in, out int64, d time.Duration) {
	switch method {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "POST":
	default:
		method = "other" // bounded label values whatever clients send
	}
	m.requests.WithLabelValues(method, strconv.Itoa(status)).Inc()
	m.bytes.WithLabelValues("in").Add(float64(in))
	m.bytes.WithLabelValues("out").Add(float64(out))
	m.duration.WithLabelValues(method).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.bytes.Describe(ch)
	m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.bytes.Collect(ch)
	m.duration.Collect(ch)
}

// urlEscaper escapes a name for a relative link.
type urlEscaper struct{}

func (urlEscaper) escape(name string) string { return (&url.URL{Path: name}).EscapedPath() }
