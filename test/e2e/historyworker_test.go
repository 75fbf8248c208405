package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/test/history"
)

// historyWorkerEnv, set, makes the test binary a worker of
// TestHistoryMutualExclusion (see runHistoryWorker) instead of a test run.
const historyWorkerEnv = "HAFS_E2E_HISTORY_WORKER"

// workerSpec is what a worker is told: the mount it works on and the
// client it is (node, mount incarnation).
type workerSpec struct {
	Dir       string
	Node, Inc int
	Seed      uint64
}

// runHistoryWorker increments the counter under flock and appends to the
// log under an fcntl write lock, at random, on one mount, until SIGTERM.
// It prints every op's invocation and outcome as history events on
// stdout, one write per line, so a kill never leaves half a line. A
// separate process, so that the test process never holds a file open on a
// mount it pauses or cuts off (a fork of it would wait on that mount).
func runHistoryWorker(specJSON string) int {
	var s workerSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		fmt.Fprintln(os.Stderr, "history worker:", err)
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	rng := rand.New(rand.NewPCG(s.Seed, uint64(s.Node)<<32|uint64(s.Inc)))
	emit := func(e history.Event) { _, _ = os.Stdout.Write(e.Line()) }
	for seq := uint32(1); ; seq++ {
		select {
		case <-stop:
			return 0
		default:
		}
		id := history.OpID(s.Node, s.Inc, seq)
		kind, do := history.Inc, incrementCounter
		if rng.IntN(2) == 0 {
			kind, do = history.Append, appendLog
		}
		emit(history.Event{Op: id, Kind: kind, Ev: history.Invoked, T: time.Now().UnixNano()})
		e := do(s.Dir, id)
		e.Op, e.T = id, time.Now().UnixNano()
		emit(e)
		// Pacing, not synchronisation: leave the machine's two cores to the
		// servers between ops.
		time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
	}
}

// outcome makes an op's outcome event; err says why it was not OK.
func outcome(ev history.Outcome, err error) history.Event {
	e := history.Event{Ev: ev}
	if err != nil {
		e.Err = err.Error()
	}
	return e
}

// retryEINTR repeats a lock call interrupted by a signal (the Go
// runtime's own preemption signals reach blocking syscalls too): nothing
// has changed when a lock wait is interrupted.
func retryEINTR(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// incrementCounter reads the counter under an exclusive flock and writes
// it plus one, fsync'd. Failing before the write, nothing was changed
// (fail); failing at the write or fsync, the new value may have landed
// (unknown).
func incrementCounter(dir string, id uint64) history.Event {
	fd, err := unix.Open(filepath.Join(dir, "counter"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return outcome(history.Fail, err)
	}
	defer unix.Close(fd) // releases the flock
	if err := retryEINTR(func() error { return unix.Flock(fd, unix.LOCK_EX) }); err != nil {
		return outcome(history.Fail, fmt.Errorf("flock: %w", err))
	}
	buf := make([]byte, history.RecordSize)
	if n, err := unix.Pread(fd, buf, 0); err != nil || n != len(buf) {
		return outcome(history.Fail, fmt.Errorf("read %d bytes: %v", n, err))
	}
	cur, err := history.ParseRecord(buf)
	if err != nil {
		return outcome(history.Fail, fmt.Errorf("counter: %w", err))
	}
	next := history.Record{Op: id, Prev: cur.Op, Value: cur.Value + 1}
	if _, err := unix.Pwrite(fd, next.Marshal(), 0); err != nil {
		return outcome(history.Unknown, fmt.Errorf("write: %w", err))
	}
	if err := unix.Fsync(fd); err != nil {
		return outcome(history.Unknown, fmt.Errorf("fsync: %w", err))
	}
	e := outcome(history.OK, nil)
	e.Read = cur.Value
	return e
}

// appendLog takes an fcntl write lock on the whole log, reads the last
// whole record, and writes a record after it naming it, fsync'd.
func appendLog(dir string, id uint64) history.Event {
	fd, err := unix.Open(filepath.Join(dir, "log"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return outcome(history.Fail, err)
	}
	defer unix.Close(fd) // releases the lock
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := retryEINTR(func() error { return unix.FcntlFlock(uintptr(fd), unix.F_SETLKW, &lk) }); err != nil {
		return outcome(history.Fail, fmt.Errorf("F_SETLKW: %w", err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return outcome(history.Fail, err)
	}
	// A torn tail (an unknown append that half landed) is written over.
	end := st.Size / history.RecordSize * history.RecordSize
	var prev uint64
	if end > 0 {
		buf := make([]byte, history.RecordSize)
		if n, err := unix.Pread(fd, buf, end-history.RecordSize); err != nil || n != len(buf) {
			return outcome(history.Fail, fmt.Errorf("read the last record: %d bytes, %v", n, err))
		}
		last, err := history.ParseRecord(buf)
		if err != nil {
			return outcome(history.Fail, fmt.Errorf("the last record: %w", err))
		}
		prev = last.Op
	}
	rec := history.Record{Op: id, Prev: prev, Offset: uint64(end)}
	if _, err := unix.Pwrite(fd, rec.Marshal(), end); err != nil {
		return outcome(history.Unknown, fmt.Errorf("write: %w", err))
	}
	if err := unix.Fsync(fd); err != nil {
		return outcome(history.Unknown, fmt.Errorf("fsync: %w", err))
	}
	return outcome(history.OK, nil)
}
