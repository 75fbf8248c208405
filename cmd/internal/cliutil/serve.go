package cliutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health answers whether a mount can do its work; nil means healthy.
type Health func(ctx context.Context) error

// ServeMetrics serves, on addr, Prometheus /metrics from the collectors,
// /healthz (200, or 503 with the reason health gives) and /readyz (200 once
// ready returns true). It returns the address it listens on and a function
// that stops the server; an empty addr serves nothing.
func ServeMetrics(addr string, health Health, ready func() bool, log *slog.Logger, cs ...prometheus.Collector) (string, func(), error) {
	l, err := ListenMetrics(addr)
	if err != nil || l == nil {
		return "", func() {}, err
	}
	return ServeMetricsOn(l, health, ready, log, cs...)
}

// ListenMetrics opens the metrics address, so that a mount knows it (to
// record in its session) before it has anything to serve; nil when addr
// is empty.
func ListenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	return l, nil
}

// ServeMetricsOn is ServeMetrics on a listener from ListenMetrics (nil:
// nothing to serve).
func ServeMetricsOn(l net.Listener, health Health, ready func() bool, log *slog.Logger, cs ...prometheus.Collector) (string, func(), error) {
	if l == nil {
		return "", func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			l.Close()
			return "", nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := health(ctx); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}

// TxCounter is what TxCollector reads: a client's transaction counts
// (meta.FS).
type TxCounter interface {
	TxCounts() (reads, writes int64)
}

var descTx = prometheus.NewDesc("hafs_store_transactions_total",
	"Metadata store transactions run by this client, by kind (read-only or read-write).", []string{"kind"}, nil)

// TxCollector exports a client's store transaction counts.
type TxCollector struct{ C TxCounter }

// Describe implements prometheus.Collector.
func (t TxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descTx }

// Collect implements prometheus.Collector.
func (t TxCollector) Collect(ch chan<- prometheus.Metric) {
	r, w := t.C.TxCounts()
	ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(r), "read")
	ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(w), "write")
}
