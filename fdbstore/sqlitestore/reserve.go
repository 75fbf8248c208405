package sqlitestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// The reserve: as ext4 keeps blocks for root, the store keeps a file of
// preallocated bytes next to the database (path-reserve). When a commit
// fails because the disk is full, a transaction that does not grow the
// filesystem (unlink, rmdir, truncate, an open, a session's registration
// or heartbeat: see fdbstore.Growing) gives back a step of the reserve and
// runs again, so space can always be freed from inside and a client can
// always mount. A growing one gets ErrStoreFull (ENOSPC). The reserve is
// filled again once the disk has room for it and a margin.

const (
	// DefaultReserve is the reserve's size unless Options.Reserve says.
	DefaultReserve = 8 << 20
	// reserveStep is how much one refused commit gives back: an unlink's
	// commit needs a few pages of WAL, so one step serves many.
	reserveStep = 1 << 20
	// refillEvery bounds how often commits try to refill a spent reserve.
	refillEvery = 2 * time.Second
	// fullFor is how long a refused growing commit keeps the store
	// reported full after it, when the reserve is whole.
	fullFor = 10 * time.Second
)

type reserve struct {
	path string
	want int64

	mu      sync.Mutex   // serializes resizing the file
	checked atomic.Int64 // unix nanoseconds of the last look at its size
	fullAt  atomic.Int64 // unix nanoseconds of the last disk-full refusal
}

func newReserve(dbPath string, want int64) *reserve {
	r := &reserve{path: dbPath + "-reserve", want: want}
	if want > 0 {
		r.fill()
	}
	return r
}

func (r *reserve) size() int64 {
	fi, err := os.Stat(r.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// fill grows the reserve back to its size when the disk has room for it
// and a step more, so a refill does not itself fill the disk.
func (r *reserve) fill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked.Store(time.Now().UnixNano())
	have := r.size()
	if have >= r.want {
		return
	}
	if free, err := diskFree(r.path); err != nil || int64(free) < r.want-have+reserveStep {
		return
	}
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if err := allocate(f, r.want); err != nil {
		_ = f.Truncate(have)
	}
}

// release gives back one step of the reserve; false when nothing is left.
func (r *reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	have := r.size()
	if have == 0 {
		return false
	}
	return os.Truncate(r.path, max(0, have-reserveStep)) == nil
}

// spaceRetry is a disk-full refusal the transaction may run again after
// the reserve gave back some space.
type spaceRetry struct{ err error }

func (e spaceRetry) Error() string   { return e.err.Error() }
func (e spaceRetry) Unwrap() error   { return e.err }
func (e spaceRetry) Retryable() bool { return true }

// attemptWithReserve runs one write attempt and handles a full disk: a
// non-growing transaction is retried on a step of the reserve.
func (s *Store) attemptWithReserve(ctx context.Context, fn func(fdbstore.Tx) error) error {
	err := s.attemptWrite(ctx, fn)
	r := s.res
	switch {
	case err == nil:
		if r.fullAt.Load() != 0 && fdbstore.IsGrowing(ctx) {
			s.noteFull(0) // the disk took a commit that grew the store
		}
		if r.want > 0 && r.due() && r.size() < r.want {
			r.fill()
		}
		return nil
	case !errors.Is(err, fdbstore.ErrStoreFull):
		return err
	}
	s.noteFull(time.Now().UnixNano())
	if !fdbstore.IsGrowing(ctx) && r.release() {
		return spaceRetry{err}
	}
	return err
}

// due reports whether a commit should look at the reserve's size again:
// at most once per refillEvery, for a stat of the file after every commit
// was a syscall per metadata operation.
func (r *reserve) due() bool {
	now := time.Now().UnixNano()
	last := r.checked.Load()
	return now-last > int64(refillEvery) && r.checked.CompareAndSwap(last, now)
}

// fullMarkAt is where in the signal file the time of the last disk-full
// refusal is kept, for every process sharing the store: a refusal spends
// the reserve only when the refused transaction is one the reserve is
// for, so the reserve alone does not tell another process (hafs status)
// that the disk refuses commits. The bytes lie in the block the signal
// file already has, so writing them needs no space.
const fullMarkAt = 8

// sizeSignal writes the signal file out to its full size once, so that
// recording a refusal later, on a full disk, needs no new block.
func (s *Store) sizeSignal() error {
	fi, err := s.signal.Stat()
	if err != nil || fi.Size() >= fullMarkAt+8 {
		return err
	}
	_, err = s.signal.WriteAt(make([]byte, fullMarkAt+8-fi.Size()), fi.Size())
	return err
}

// noteFull records a disk-full refusal at t (unix nanoseconds), here and
// for other processes; 0 records that a growing commit went through.
func (s *Store) noteFull(t int64) {
	s.res.fullAt.Store(t)
	_, _ = s.signal.WriteAt(binary.LittleEndian.AppendUint64(nil, uint64(t)), fullMarkAt)
}

// lastFull returns when a process sharing the store last had a commit
// refused for a full disk, 0 if none did.
func (s *Store) lastFull() int64 {
	at := s.res.fullAt.Load()
	var b [8]byte
	if n, _ := s.signal.ReadAt(b[:], fullMarkAt); n == len(b) {
		at = max(at, int64(binary.LittleEndian.Uint64(b[:])))
	}
	return at
}

// Full implements fdbstore.FullReporter: the disk refused a commit lately
// (in any process sharing the store), or the reserve is spent (in part)
// and the disk has not a step free. (The database keeps the pages rm
// freed for its own reuse, so a disk with little free space after an rm
// is not full for the store.)
func (s *Store) Full() (bool, string) {
	r := s.res
	// A mark from the future (the clock stepped back) is ignored rather
	// than kept until the clock catches up.
	if at := s.lastFull(); at != 0 && at <= time.Now().UnixNano() && time.Since(time.Unix(0, at)) < fullFor {
		return true, "store full: the disk holding " + s.path + " refused a commit"
	}
	if r.want <= 0 {
		return false, ""
	}
	if have := r.size(); have < r.want {
		if free, err := diskFree(r.path); err == nil && int64(free) < reserveStep {
			return true, fmt.Sprintf("store full: %d of %d reserve bytes spent and %d bytes free on the disk holding %s",
				r.want-have, r.want, free, s.path)
		}
	}
	return false, ""
}
