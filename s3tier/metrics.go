package s3tier

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the data path's running totals, read at scrape time.
type counters struct {
	uploads, uploadBytes atomic.Int64
	fetches, fetchBytes  atomic.Int64
	uploadErrors         atomic.Int64
	deleted              atomic.Int64
	diskHits, diskMisses atomic.Int64 // reads of pages the disk cache had, or not (with one)
	seedHits             atomic.Int64 // reads answered by a body read at open (inline.go)
}

var (
	descCRC         = prometheus.NewDesc("hafs_checksum_errors_total", "Pages whose CRC32C did not match (object store or disk cache); each was answered with EIO or re-read.", nil, nil)
	descCacheHits   = prometheus.NewDesc("hafs_cache_hits_total", "Reads of a page found in the memory cache.", nil, nil)
	descCacheMisses = prometheus.NewDesc("hafs_cache_misses_total", "Reads of a page not in the memory cache.", nil, nil)
	descUploads     = prometheus.NewDesc("hafs_uploads_total", "Slice objects uploaded.", nil, nil)
	descUploadBytes = prometheus.NewDesc("hafs_upload_bytes_total", "Bytes of slice objects uploaded.", nil, nil)
	descUploadErrs  = prometheus.NewDesc("hafs_upload_errors_total", "Slice uploads or commits that failed (the application saw EIO at close or fsync).", nil, nil)
	descFetches     = prometheus.NewDesc("hafs_fetches_total", "Ranged reads from the object store.", nil, nil)
	descFetchBytes  = prometheus.NewDesc("hafs_fetch_bytes_total", "Bytes read from the object store.", nil, nil)
	descDeleted     = prometheus.NewDesc("hafs_objects_deleted_total", "Objects deleted by this mount's deletion worker.", nil, nil)
	descBuffered    = prometheus.NewDesc("hafs_write_buffer_bytes", "Write data held in memory, buffered or uploading.", nil, nil)
	descDiskHits    = prometheus.NewDesc("hafs_disk_cache_hits_total", "Runs of pages read from the local disk cache (objects this node uploaded, or pages it fetched).", nil, nil)
	descDiskMisses  = prometheus.NewDesc("hafs_disk_cache_misses_total", "Runs of pages the disk cache did not have, read from the object store.", nil, nil)
	descDiskBytes   = prometheus.NewDesc("hafs_disk_cache_bytes", "Bytes held by the local disk cache (bounded by --cache-size).", nil, nil)
	descSeedHits    = prometheus.NewDesc("hafs_open_body_hits_total", "Reads of a small file answered by the body its open read along, without a transaction.", nil, nil)
)

// Describe implements prometheus.Collector.
func (t *Tier) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCRC, descCacheHits, descCacheMisses, descUploads, descUploadBytes,
		descUploadErrs, descFetches, descFetchBytes, descDeleted, descBuffered, descDiskHits, descDiskMisses,
		descDiskBytes, descSeedHits} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the Tier's counters at the
// moment of the scrape.
func (t *Tier) Collect(ch chan<- prometheus.Metric) {
	hits, misses := t.cache.stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{
		{descCRC, t.crcErrors.Load()}, {descCacheHits, hits}, {descCacheMisses, misses},
		{descUploads, t.ctr.uploads.Load()}, {descUploadBytes, t.ctr.uploadBytes.Load()},
		{descUploadErrs, t.ctr.uploadErrors.Load()}, {descFetches, t.ctr.fetches.Load()},
		{descFetchBytes, t.ctr.fetchBytes.Load()}, {descDeleted, t.ctr.deleted.Load()},
		{descDiskHits, t.ctr.diskHits.Load()}, {descDiskMisses, t.ctr.diskMisses.Load()},
		{descSeedHits, t.ctr.seedHits.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
	var held int64
	if t.budget != nil {
		t.budget.mu.Lock()
		held = t.opts.BufferBytes - t.budget.free
		t.budget.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(max(held, 0)))
	ch <- prometheus.MustNewConstMetric(descDiskBytes, prometheus.GaugeValue, float64(t.disk.bytes()))
}

// Health checks that the object store answers (nil without one).
func (t *Tier) Health(ctx context.Context) error {
	if t.obj == nil {
		return nil
	}
	return t.obj.Health(ctx)
}
