package sqlitestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// withTemp runs a shared store benchmark on a fresh store.
func withTemp(b *testing.B, bench func(*testing.B, fdbstore.Store)) {
	s := openTemp(b)
	defer s.Close()
	bench(b, s)
}

func BenchmarkSingleKeyCommit(b *testing.B)    { withTemp(b, storetest.BenchSingleKeyCommit) }
func BenchmarkCreateSizedCommit(b *testing.B)  { withTemp(b, storetest.BenchCreateSizedCommit) }
func BenchmarkRangeRead1000(b *testing.B)      { withTemp(b, storetest.BenchRangeRead1000) }
func BenchmarkConcurrentWriters8(b *testing.B) { withTemp(b, storetest.BenchConcurrentWriters8) }

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
	storetest.ReportLatency(b, lat)
}

// pingerRole answers each change of "request" with a commit to "ping" and
// prints when that commit finished.
func pingerRole(s *sqlitestore.Store) error {
	fmt.Println("ready")
	return storetest.Pinger(context.Background(), s, func(at time.Time) {
		fmt.Printf("pinged %d\n", at.UnixNano())
	})
}
