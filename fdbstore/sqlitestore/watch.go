package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// errWatchCanceled is the Err of a watch stopped by Cancel.
var errWatchCanceled = errors.New("watch canceled")

// watch is one fdbstore.Watch: the key and the value it had at commit.
type watch struct {
	key   []byte
	value []byte // nil when absent
	hub   *watchHub

	once sync.Once
	done chan struct{}
	err  error
}

func newWatch(key []byte) *watch { return &watch{key: key, done: make(chan struct{})} }

func (w *watch) Done() <-chan struct{} { return w.done }

func (w *watch) Err() error {
	<-w.done
	return w.err
}

func (w *watch) Cancel() {
	if w.hub != nil {
		w.hub.remove(w)
	}
	w.fail(errWatchCanceled)
}

func (w *watch) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}

// watchHub checks watched keys whenever the database may have changed: on
// a commit in this process, on an inotify event for the store's signal file
// (a commit in another process), and on a slow safety poll. SQLite's
// data_version tells cheaply whether anything changed at all.
//
// Every process writes one byte to the signal file after each commit. The
// write-ahead log itself is no signal: its last write lands before the
// commit is published in the shared-memory index, so a reader woken by it
// can look too early and miss the change.
type watchHub struct {
	s       *Store
	c       *conn
	fsw     *fsnotify.Watcher
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	mu      sync.Mutex
	watches map[*watch]struct{}
	force   bool // new watches since the last check
	version int64
}

func newWatchHub(s *Store, c *conn) (*watchHub, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: watch for changes: %w", s.path, err)
	}
	if err := fsw.Add(s.signal.Name()); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("sqlite store %s: watch for changes: %w", s.path, err)
	}
	h := &watchHub{
		s:       s,
		c:       c,
		fsw:     fsw,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		watches: make(map[*watch]struct{}),
		version: -1,
	}
	go h.run()
	return h, nil
}

// committed registers the watches of a transaction that just committed.
func (h *watchHub) committed(ws []*watch) {
	if len(ws) > 0 {
		h.mu.Lock()
		for _, w := range ws {
			w.hub = h
			h.watches[w] = struct{}{}
		}
		h.force = true
		h.mu.Unlock()
	}
	h.mu.Lock()
	n := len(h.watches)
	h.mu.Unlock()
	if n > 0 {
		h.wake()
	}
}

func (h *watchHub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *watchHub) remove(w *watch) {
	h.mu.Lock()
	delete(h.watches, w)
	h.mu.Unlock()
}

// checkGap is the least time between two checks. Each commit signals, and
// a check is a read transaction over every watched key: without a gap a
// busy store spent a fifth of its CPU checking watches, once per commit.
// With it a burst of commits costs one check per gap, and a watch fires at
// most this much later.
const checkGap = 2 * time.Millisecond

func (h *watchHub) run() {
	defer close(h.stopped)
	poll := time.NewTicker(h.s.opts.SafetyPoll)
	defer poll.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-h.kick:
		case <-poll.C:
		case _, ok := <-h.fsw.Events:
			if !ok {
				h.fsw.Events = nil
				continue
			}
		case err, ok := <-h.fsw.Errors:
			if !ok {
				h.fsw.Errors = nil
				continue
			}
			slog.Warn("sqlite store: change notifications", "path", h.s.path, "err", err)
		}
		// Wait out the gap since the last check, then take every signal
		// that came meanwhile: this check covers them all.
		select {
		case <-h.stop:
			return
		case <-gap.C:
		}
		h.drainSignals()
		h.check()
		gap.Reset(checkGap)
	}
}

// drainSignals takes the kicks and change events already waiting.
func (h *watchHub) drainSignals() {
	for {
		select {
		case <-h.kick:
		case _, ok := <-h.fsw.Events:
			if !ok {
				h.fsw.Events = nil
				return
			}
		default:
			return
		}
	}
}

// check fires every watch whose key no longer holds its value.
func (h *watchHub) check() {
	h.mu.Lock()
	if len(h.watches) == 0 {
		h.mu.Unlock()
		return
	}
	force := h.force
	h.force = false
	ws := make([]*watch, 0, len(h.watches))
	for w := range h.watches {
		ws = append(ws, w)
	}
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), h.s.opts.Timeout)
	defer cancel()
	var version int64
	// Statements run under a context that never ends (readTx.stmtCtx):
	// each check is two short statements and a few point reads.
	if err := h.c.c.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&version); err != nil {
		slog.Warn("sqlite store: check watches", "path", h.s.path, "err", err)
		return
	}
	if version == h.version && !force {
		return
	}
	h.version = version
	if _, err := h.c.beginRead.ExecContext(context.Background()); err != nil {
		slog.Warn("sqlite store: check watches", "path", h.s.path, "err", err)
		return
	}
	defer h.c.rollback()
	tx := &readTx{ctx: ctx, c: h.c}
	for _, w := range ws {
		v, err := tx.Get(w.key)
		if err != nil {
			slog.Warn("sqlite store: check watches", "path", h.s.path, "err", err)
			h.mu.Lock()
			h.force = true
			h.mu.Unlock()
			return
		}
		if (v == nil) != (w.value == nil) || !bytes.Equal(v, w.value) {
			h.remove(w)
			w.fail(nil)
		}
	}
}

func (h *watchHub) close() {
	close(h.stop)
	<-h.stopped
	h.fsw.Close()
	h.mu.Lock()
	ws := h.watches
	h.watches = map[*watch]struct{}{}
	h.mu.Unlock()
	for w := range ws {
		w.fail(errors.New("watch: store closed"))
	}
	h.c.close()
}
