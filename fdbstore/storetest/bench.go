package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// The store micro-benchmarks, shared by every backend so that `make bench`
// reports them side by side. Each takes an open, empty store.

// fill writes n 100-byte values under "k/", in transactions the store's
// limits allow.
func fill(b *testing.B, s fdbstore.Store, n int) {
	b.Helper()
	batch := fdbstore.LimitsOf(s).Batch(n, 1, 0)
	for lo := 0; lo < n; lo += batch {
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				tx.Set(fmt.Appendf(nil, "k/%08d", i), make([]byte, 100))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// ReportLatency adds median and p99 of per-op durations to the benchmark.
func ReportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchSingleKeyCommit measures one commit of one key.
func BenchSingleKeyCommit(b *testing.B, s fdbstore.Store) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			tx.Set(fmt.Appendf(nil, "s/%d", i%1000), []byte("value"))
			return nil
		})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	ReportLatency(b, lat)
}

// BenchCreateSizedCommit is the shape of one file create: three reads
// (parent, name, counter) and five writes (inode, dirent, parent, ...).
func BenchCreateSizedCommit(b *testing.B, s fdbstore.Store) {
	fill(b, s, 10_000)
	lat := make([]time.Duration, 0, b.N)
	val := make([]byte, 100)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			for j := range 3 {
				if _, err := tx.Get(fmt.Appendf(nil, "k/%08d", (i*7+j*1237)%10_000)); err != nil {
					return err
				}
			}
			for j := range 5 {
				tx.Set(fmt.Appendf(nil, "c/%d/%d", i, j), val)
			}
			return nil
		})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	ReportLatency(b, lat)
}

// BenchRangeRead1000 measures a read-only range read of 1,000 keys.
func BenchRangeRead1000(b *testing.B, s fdbstore.Store) {
	fill(b, s, 10_000)
	b.ResetTimer()
	for i := range b.N {
		start := fmt.Appendf(nil, "k/%08d", (i*1000)%9000)
		err := s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
			n := 0
			for _, err := range tx.GetRange(start, nil, fdbstore.RangeOptions{Limit: 1000}) {
				if err != nil {
					return err
				}
				n++
			}
			if n != 1000 {
				return fmt.Errorf("read %d keys", n)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchConcurrentWriters8 measures commits of 8 concurrent writers.
func BenchConcurrentWriters8(b *testing.B, s fdbstore.Store) {
	var n atomic.Int64
	b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
				tx.Set(fmt.Appendf(nil, "w/%d", i), []byte("value"))
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchWatchLatency measures from a commit through s2 to the firing of a
// watch through s1 (two clients of one store).
func BenchWatchLatency(b *testing.B, s1, s2 fdbstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var committed atomic.Int64 // when the pinger's last commit returned
	go func() {
		_ = Pinger(ctx, s2, func(at time.Time) { committed.Store(at.UnixNano()) })
	}()
	lat := make([]time.Duration, 0, b.N)
	var last int64
	b.ResetTimer()
	for i := range b.N {
		var w fdbstore.Watch
		err := s1.Transact(ctx, func(tx fdbstore.Tx) error {
			w = tx.Watch([]byte("ping"))
			tx.Set([]byte("request"), fmt.Appendf(nil, "%d", i))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-w.Done():
		case <-time.After(10 * time.Second):
			b.Fatal("watch did not fire within 10 s")
		}
		// A watch may also fire without a ping (a member lost its leader,
		// say): only a fire after a new ping is a sample.
		if c := committed.Load(); c != 0 && c != last {
			lat = append(lat, time.Since(time.Unix(0, c)))
			last = c
		}
	}
	ReportLatency(b, lat)
}

// Pinger answers each change of "request" with a commit to "ping" and
// calls pinged with the time that commit returned, until ctx ends or the
// store fails: the other side of BenchWatchLatency, in this process or
// another.
func Pinger(ctx context.Context, s fdbstore.Store, pinged func(time.Time)) error {
	var seen []byte
	for ctx.Err() == nil {
		var w fdbstore.Watch
		err := s.Transact(ctx, func(tx fdbstore.Tx) error {
			v, err := tx.Get([]byte("request"))
			if err != nil || string(v) != string(seen) {
				seen = v
				return err
			}
			w = tx.Watch([]byte("request"))
			return nil
		})
		if err != nil {
			return err
		}
		if w != nil {
			select {
			case <-w.Done():
			case <-ctx.Done():
				w.Cancel()
				return ctx.Err()
			}
			if err := w.Err(); err != nil {
				return err
			}
			continue
		}
		if err := s.Transact(ctx, func(tx fdbstore.Tx) error {
			tx.Add([]byte("ping"), 1)
			return nil
		}); err != nil {
			return err
		}
		pinged(time.Now())
	}
	return ctx.Err()
}
