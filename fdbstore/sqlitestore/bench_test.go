package sqlitestore_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

func fill(b *testing.B, s fdbstore.Store, n int) {
	b.Helper()
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		for i := range n {
			tx.Set(fmt.Appendf(nil, "k/%08d", i), make([]byte, 100))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// reportLatency adds median and p99 of per-op durations to the benchmark.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkSingleKeyCommit(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
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
	reportLatency(b, lat)
}

// BenchmarkCreateSizedCommit is the shape of one file create: three reads
// (parent, name, counter) and five writes (inode, dirent, parent, ...).
func BenchmarkCreateSizedCommit(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
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
	reportLatency(b, lat)
}

func BenchmarkRangeRead1000(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
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

func BenchmarkConcurrentWriters8(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
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

// BenchmarkWatchLatencyAcrossProcesses measures from a commit in another
// process to the firing of a watch here.
func BenchmarkWatchLatencyAcrossProcesses(b *testing.B) {
	path := b.TempDir() + "/meta.db"
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, sc := child(b, "pinger", path)
	waitLine(b, sc, "ready")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var w fdbstore.Watch
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			w = tx.Watch([]byte("ping"))
			tx.Set([]byte("request"), fmt.Appendf(nil, "%d", i))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		var firedAt time.Time
		fired := make(chan struct{})
		go func() { <-w.Done(); firedAt = time.Now(); close(fired) }()
		// The child commits "ping" as soon as it sees "request" change
		// and prints the wall time of its commit.
		if !sc.Scan() {
			b.Fatal("pinger ended")
		}
		var committed int64
		if _, err := fmt.Sscanf(sc.Text(), "pinged %d", &committed); err != nil {
			b.Fatalf("pinger said %q", sc.Text())
		}
		<-fired
		lat = append(lat, firedAt.Sub(time.Unix(0, committed)))
	}
	reportLatency(b, lat)
}

// pingerRole answers each change of "request" with a commit to "ping" and
// prints when that commit finished.
func pingerRole(s *sqlitestore.Store) error {
	fmt.Println("ready")
	var seen []byte
	for {
		var w fdbstore.Watch
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
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
			<-w.Done()
			if err := w.Err(); err != nil {
				return err
			}
			continue
		}
		err = s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			tx.Add([]byte("ping"), 1)
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Printf("pinged %d\n", time.Now().UnixNano())
	}
}
