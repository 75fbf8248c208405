package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hafs/hafs/routing"
)

// crashRounds is how many rounds TestCrashLoop runs: a few in `make test`,
// HAFS_CRASH_ROUNDS of them (100 under `make soak`) when set.
func crashRounds(t *testing.T) int {
	if v := os.Getenv("HAFS_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HAFS_CRASH_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 4
}

// TestCrashLoop kills a writing hafs-fuse with -9 at a random moment, round
// after round, on a filesystem with an object store: a log of 192 KiB
// records (its body in objects) and a stream of 1 KiB files (bodies in the
// store), each fsync'd. After each kill a new mount checks every fsync'd
// byte and fsck is clean; at the end, once the dead sessions have expired,
// gc leaves no unreferenced object. The seed is printed; HAFS_CRASH_SEED
// repeats a run.
func TestCrashLoop(t *testing.T) {
	requireRoot(t)
	fs, _, obj := s3FS(t)
	crashLoop(t, fs, obj)
}

// TestCrashLoopLocalBlocks is TestCrashLoop on what hafs-mkfs gives a new
// user: the embedded store with its bodies in a directory beside it.
func TestCrashLoopLocalBlocks(t *testing.T) {
	requireRoot(t)
	fs, obj := localBlocksFS(t)
	crashLoop(t, fs, obj)
}

func crashLoop(t *testing.T, fs *FS, obj routing.ObjectStore) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HAFS_CRASH_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rounds := crashRounds(t)
	t.Logf("%d rounds, seed %d (HAFS_CRASH_SEED repeats it)", rounds, seed)
	var logAcked int         // records of the log fsync'd so far
	smallAcked := []string{} // small files fsync'd so far
	for round := range rounds {
		m := fs.Mount(t, fastSessions...)
		verifyCrashLog(t, m.Dir, logAcked)
		verifySmall(t, m.Dir, smallAcked)
		if round > 0 {
			if out, err := hafsAdmin(t, fs, "fsck"); err != nil {
				t.Fatalf("round %d: hafs fsck after the kill: %v\n%s", round, err, out)
			}
		}
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			n := appendCrashLog(m.Dir, logAcked, stop)
			mu.Lock()
			logAcked = n
			mu.Unlock()
		})
		wg.Go(func() {
			names := writeSmall(m.Dir, round, stop)
			mu.Lock()
			smallAcked = append(smallAcked, names...)
			mu.Unlock()
		})
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond) // the random moment of the crash
		m.Kill(t)
		close(stop)
		wg.Wait()
	}
	m := fs.Mount(t, fastSessions...)
	verifyCrashLog(t, m.Dir, logAcked)
	verifySmall(t, m.Dir, smallAcked)
	t.Logf("%d kills; %d log records and %d small files fsync'd, all intact", rounds, logAcked, len(smallAcked))
	gcLeavesNoOrphans(t, fs, obj)
}

// crashRecord is one record of the log: its number, then a pattern of it.
const crashRecord = 192 << 10

func crashRecordBytes(n int) []byte {
	rec := make([]byte, crashRecord)
	binary.LittleEndian.PutUint64(rec, uint64(n))
	for i := 8; i < len(rec); i++ {
		rec[i] = byte(n*7 + i)
	}
	return rec
}

// appendCrashLog writes records from the acked count on (rewriting any
// torn tail of the last crash), fsyncing each, until stop or an error (the
// kill); it returns the records fsync'd.
func appendCrashLog(dir string, acked int, stop chan struct{}) int {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return acked
	}
	defer f.Close()
	for n := acked; ; n++ {
		select {
		case <-stop:
			return n
		default:
		}
		if _, err := f.WriteAt(crashRecordBytes(n), int64(n)*crashRecord); err != nil {
			return n
		}
		if err := f.Sync(); err != nil {
			return n
		}
		acked = n + 1
	}
}

// writeSmall creates 1 KiB files, fsyncing each, until stop or an error,
// and returns the names of those fsync'd.
func writeSmall(dir string, round int, stop chan struct{}) []string {
	var names []string
	for i := 0; ; i++ {
		select {
		case <-stop:
			return names
		default:
		}
		name := fmt.Sprintf("small-%d-%d", round, i)
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return names
		}
		_, err = f.Write(bytes.Repeat([]byte(name+"\n"), 1024/(len(name)+1)))
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return names
		}
		names = append(names, name)
	}
}

func verifyCrashLog(t *testing.T, dir string, acked int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil && !(os.IsNotExist(err) && acked == 0) {
		t.Fatal(err)
	}
	if len(data) < acked*crashRecord {
		t.Fatalf("log has %d bytes; %d records of %d were fsync'd", len(data), acked, crashRecord)
	}
	for n := range acked {
		if !bytes.Equal(data[n*crashRecord:(n+1)*crashRecord], crashRecordBytes(n)) {
			t.Fatalf("fsync'd log record %d is not intact", n)
		}
	}
}

func verifySmall(t *testing.T, dir string, names []string) {
	t.Helper()
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(dir, name))
		want := bytes.Repeat([]byte(name+"\n"), 1024/(len(name)+1))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("fsync'd file %s: %d bytes, %v; want its %d bytes", name, len(got), err, len(want))
		}
	}
}
