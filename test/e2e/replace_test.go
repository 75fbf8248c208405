package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// soakEnv, when set to a duration ("10m"), makes the long-running
// consistency loops run that long instead of their short default
// (make soak sets it).
const soakEnv = "HAFS_SOAK"

// soakFor returns how long a loop runs: def, or $HAFS_SOAK when set.
func soakFor(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(soakEnv)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", soakEnv, v)
	}
	return d
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sealed returns a file body: a sequence number, random bytes of a random
// length (so sizes change from one version to the next) and a CRC32C of
// all that, so a reader can tell a whole version from a torn one.
func sealed(seq uint64, rng *rand.Rand) []byte {
	body := binary.LittleEndian.AppendUint64(nil, seq)
	n := 64 + rng.IntN(16<<10)
	for range n {
		body = append(body, byte(rng.Uint32()))
	}
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

// unseal checks a body made by sealed and returns its sequence number.
func unseal(b []byte) (uint64, error) {
	if len(b) < 12 {
		return 0, fmt.Errorf("%d bytes, too short to be whole", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, fmt.Errorf("%d bytes whose checksum does not match", len(b))
	}
	return binary.LittleEndian.Uint64(body), nil
}

// replaceStats counts what the reader of TestRenameReplaceLoop saw.
type replaceStats struct {
	reads, torn, missing, failed atomic.Int64
	mu                           sync.Mutex
	errs                         map[string]int // failed reads by error
	firstTorn                    string
}

// fail counts a failed read by its errno's name (or its text).
func (s *replaceStats) fail(err error) {
	s.failed.Add(1)
	key := err.Error()
	var e unix.Errno
	if errors.As(err, &e) {
		key = errnoName(e)
	}
	s.mu.Lock()
	s.errs[key]++
	s.mu.Unlock()
}

// TestRenameReplaceLoop: the way configuration is updated on a local disk
// (write a temporary file, fsync, rename it over the old one) works across
// clients. A writer on one mount replaces a checksummed file in a loop; a
// reader on the other opens and reads it as fast as it can. Every read
// must see one whole version: none torn, none missing, and no error (an
// open that reaches a version replaced a moment ago through a name the
// kernel still caches reads that version). Two seconds by default; set
// HAFS_SOAK (make soak) for longer.
func TestRenameReplaceLoop(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	a, b := fs.Mount(t).Dir, fs.Mount(t).Dir
	target, tmp := filepath.Join(a, "config"), filepath.Join(a, "config.tmp")
	must(t, os.WriteFile(target, sealed(0, rand.New(rand.NewPCG(0, 0))), 0o644))

	run := soakFor(t, 2*time.Second)
	stop := make(chan struct{})
	var replaced atomic.Uint64
	var writerErr error
	st := &replaceStats{errs: map[string]int{}}
	var wg sync.WaitGroup
	wg.Go(func() { writerErr = replaceLoop(stop, tmp, target, &replaced) })
	wg.Go(func() { readLoop(stop, filepath.Join(b, "config"), st) })
	// Both loops run for the test's duration, then stop.
	time.AfterFunc(run, func() { close(stop) })
	wg.Wait()
	must(t, writerErr)
	t.Logf("%v: %d replacements, %d reads: %d torn, %d missing, %d failed %v",
		run, replaced.Load(), st.reads.Load(), st.torn.Load(), st.missing.Load(), st.failed.Load(), st.errs)
	if replaced.Load() < 10 || st.reads.Load() < 10 {
		t.Errorf("the loop did too little to prove anything: %d replacements, %d reads", replaced.Load(), st.reads.Load())
	}
	if st.torn.Load() > 0 {
		t.Errorf("%d torn reads (first: %s)", st.torn.Load(), st.firstTorn)
	}
	if st.missing.Load() > 0 {
		t.Errorf("%d reads found no file under a name that always exists", st.missing.Load())
	}
	if st.failed.Load() > 0 {
		t.Errorf("%d reads failed: %v", st.failed.Load(), st.errs)
	}
}

// replaceLoop replaces target with a new sealed version (write tmp, fsync,
// rename) until stop closes, counting versions in replaced.
func replaceLoop(stop <-chan struct{}, tmp, target string, replaced *atomic.Uint64) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := uint64(1); ; seq++ {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := writeSynced(tmp, sealed(seq, rng)); err != nil {
			return err
		}
		if err := os.Rename(tmp, target); err != nil {
			return err
		}
		replaced.Store(seq)
	}
}

// readLoop reads path whole until stop closes and counts in st what it saw.
// Half the reads fstat the file first (as most programs do), half read with
// read(2) alone, trusting the size the kernel caches.
func readLoop(stop <-chan struct{}, path string, st *replaceStats) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		var data []byte
		var err error
		if st.reads.Add(1)%2 == 0 {
			data, err = os.ReadFile(path)
		} else {
			data, err = readPlain(path)
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			st.missing.Add(1)
		case err != nil:
			st.fail(err)
		default:
			if _, err := unseal(data); err != nil {
				st.torn.Add(1)
				st.mu.Lock()
				st.firstTorn = err.Error()
				st.mu.Unlock()
			}
		}
	}
}

// writeSynced writes path (created or truncated), fsyncs and closes it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
