package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/test/etcd"
)

// TestEtcdLeaderKilled runs two mounts of a filesystem on a 3-member etcd
// cluster, each appending numbered records and fsyncing each, while the
// leader is killed and later restarted: every record whose fsync returned
// is in its file afterwards, in order, and fsck (run when the filesystem
// is torn down) finds it clean. It reports the longest fsync, the stall
// the election causes.
func TestEtcdLeaderKilled(t *testing.T) {
	requireRoot(t)
	c := etcd.Start(t, 3)
	fs := NewFS(t, FSOptions{Store: c.StoreURL("leader-killed")})
	mounts := []*Mount{fs.Mount(t), fs.Mount(t)}
	var acked [2]atomic.Int64
	var longest [2]atomic.Int64 // nanoseconds
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, m := range mounts {
		wg.Go(func() {
			if err := appendRecords(filepath.Join(m.Dir, fmt.Sprintf("log%d", i)), stop, &acked[i], &longest[i]); err != nil {
				errs <- err
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s (records acknowledged %d, %d)", what, acked[0].Load(), acked[1].Load())
			}
			time.Sleep(10 * time.Millisecond) // polling the writers' progress
		}
	}
	progress := func(n int64) func() bool {
		want := [2]int64{acked[0].Load() + n, acked[1].Load() + n}
		return func() bool { return acked[0].Load() >= want[0] && acked[1].Load() >= want[1] }
	}
	waitFor("first records", progress(20))
	lead, err := c.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c.Members[lead].Kill()
	waitFor("records after the leader was killed", progress(20))
	t.Logf("both mounts wrote 20 more fsync'd records %s after the leader was killed", time.Since(killed).Round(time.Millisecond))
	if err := c.Restart(lead); err != nil {
		t.Fatal(err)
	}
	waitFor("records after the old leader came back", progress(20))
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, m := range mounts {
		checkRecords(t, filepath.Join(m.Dir, fmt.Sprintf("log%d", i)), acked[i].Load())
		t.Logf("mount %d: %d records, longest write+fsync %s", i, acked[i].Load(), time.Duration(longest[i].Load()).Round(time.Millisecond))
	}
	// Read each log through the other mount too: what one node fsync'd,
	// every node sees.
	checkRecords(t, filepath.Join(mounts[1].Dir, "log0"), acked[0].Load())
	checkRecords(t, filepath.Join(mounts[0].Dir, "log1"), acked[1].Load())
}

// recordSize is one numbered record: its number, then filler.
const recordSize = 512

// appendRecords appends record n, fsyncs, and counts it acknowledged,
// until stop; the longest write+fsync goes to longest.
func appendRecords(path string, stop chan struct{}, acked, longest *atomic.Int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	rec := make([]byte, recordSize)
	for n := int64(0); ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		binary.LittleEndian.PutUint64(rec, uint64(n))
		for i := 8; i < recordSize; i++ {
			rec[i] = byte(n) + byte(i)
		}
		start := time.Now()
		if _, err := f.Write(rec); err != nil {
			return fmt.Errorf("write record %d of %s: %w", n, path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync record %d of %s: %w", n, path, err)
		}
		if d := int64(time.Since(start)); d > longest.Load() {
			longest.Store(d)
		}
		acked.Add(1)
	}
}

// checkRecords checks that path holds records 0 to n-1 intact, in order.
func checkRecords(t *testing.T, path string, n int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) < n*recordSize {
		t.Fatalf("%s: %d bytes, want at least the %d acknowledged records (%d bytes)", path, len(data), n, n*recordSize)
	}
	for i := range n {
		rec := data[i*recordSize : (i+1)*recordSize]
		if got := int64(binary.LittleEndian.Uint64(rec)); got != i {
			t.Fatalf("%s: record %d holds number %d", path, i, got)
		}
		for j := 8; j < recordSize; j++ {
			if rec[j] != byte(i)+byte(j) {
				t.Fatalf("%s: record %d corrupt at byte %d", path, i, j)
			}
		}
	}
}
