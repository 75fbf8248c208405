package directio

import (
	"container/list"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// Files keeps the most recently read files open, for files that never
// change once written (block objects: a key is never reused). A cold
// random 4 KiB read of a file:// site spent 40 of its 260 µs opening,
// stat-ing and closing the object file (a profile of 2,000 reads of a
// 1 GiB file after drop_caches); with the descriptor kept, a read is one
// pread. A descriptor unused for idleClose is closed, so that a file
// another process deleted does not hold its disk space for long. The zero
// value is not usable: call NewFiles.
type Files struct {
	max  int
	idle time.Duration // idleClose but in tests

	mu     sync.Mutex
	lru    *list.List // of *openFile, front = most recent
	byPath map[string]*list.Element
	closed bool        // after Close: every read opens and closes its own
	sweep  *time.Timer // armed while a descriptor is kept
}

// idleClose is how long a kept descriptor may go unused.
const idleClose = 5 * time.Second

type openFile struct {
	path string
	f    *os.File
	// direct: f was opened with O_DIRECT, so reads through it must be
	// aligned; the rest goes through a descriptor of its own.
	direct  bool
	refs    int       // readers using f, guarded by Files.mu
	dropped bool      // out of the cache: the last reader closes f
	used    time.Time // last acquired, guarded by Files.mu
}

// NewFiles returns a cache of at most max open files.
func NewFiles(max int) *Files {
	return &Files{max: max, idle: idleClose, lru: list.New(), byPath: map[string]*list.Element{}}
}

// ReadAt reads into dst from off of the file at path; at the end of the
// file it returns what there was, without error. An error from a kept
// descriptor (the file replaced or gone on a network filesystem) is
// retried once on a fresh one.
func (c *Files) ReadAt(path string, dst []byte, off int64) (int, error) {
	of, err := c.acquire(path)
	if err != nil {
		return 0, err
	}
	n, err := of.readAt(dst, off)
	c.release(of)
	if err == nil {
		return n, nil
	}
	c.Forget(path)
	if of, err = c.acquire(path); err != nil {
		return 0, err
	}
	defer c.release(of)
	return of.readAt(dst, off)
}

// Forget closes path's descriptor (once its readers are done), as when
// the file is deleted.
func (c *Files) Forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byPath[path]; ok {
		c.removeLocked(e)
	}
}

// Close closes every kept descriptor once its readers are done; reads
// after it still work, each on a descriptor of its own.
func (c *Files) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.sweep != nil {
		c.sweep.Stop()
		c.sweep = nil
	}
	for c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
}

func (c *Files) acquire(path string) (*openFile, error) {
	c.mu.Lock()
	if e, ok := c.byPath[path]; ok {
		c.lru.MoveToFront(e)
		of := e.Value.(*openFile)
		of.refs++
		of.used = time.Now()
		c.mu.Unlock()
		return of, nil
	}
	c.mu.Unlock()
	// Opened outside the lock: a cold open reads directory blocks from
	// disk, and other readers must not wait for it.
	f, direct, err := openRead(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byPath[path]; ok { // another reader opened it meanwhile
		f.Close()
		of := e.Value.(*openFile)
		of.refs++
		return of, nil
	}
	of := &openFile{path: path, f: f, direct: direct, refs: 1, used: time.Now()}
	if c.closed {
		of.dropped = true
		return of, nil
	}
	c.byPath[path] = c.lru.PushFront(of)
	for c.lru.Len() > c.max {
		c.removeLocked(c.lru.Back())
	}
	if c.sweep == nil {
		c.sweep = time.AfterFunc(c.idle, c.closeIdle)
	}
	return of, nil
}

// closeIdle closes the descriptors unused for idleClose, and comes back
// while any is left.
func (c *Files) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sweep == nil {
		return // closed meanwhile
	}
	for e := c.lru.Back(); e != nil && time.Since(e.Value.(*openFile).used) >= c.idle; e = c.lru.Back() {
		c.removeLocked(e)
	}
	if c.lru.Len() == 0 {
		c.sweep = nil
		return
	}
	c.sweep.Reset(c.idle)
}

func (c *Files) release(of *openFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	of.refs--
	if of.dropped && of.refs == 0 {
		of.f.Close()
	}
}

func (c *Files) removeLocked(e *list.Element) {
	of := e.Value.(*openFile)
	c.lru.Remove(e)
	delete(c.byPath, of.path)
	of.dropped = true
	if of.refs == 0 {
		of.f.Close()
	}
}

// readAt reads through the kept descriptor what it can (all of it for a
// buffered one, the aligned part for a direct one) and the rest through a
// descriptor of its own.
func (of *openFile) readAt(dst []byte, off int64) (int, error) {
	if !of.direct {
		return readAll(of.f, dst, off)
	}
	n := len(dst) &^ (align - 1)
	done := 0
	if n > 0 && off%align == 0 && aligned(dst) {
		got, err := readAll(of.f, dst[:n], off)
		switch {
		case errors.Is(err, syscall.EINVAL):
			// The filesystem took O_DIRECT at open but not this read (a
			// block size above 4 KiB): all of it goes the other way.
		case err != nil || got < n || n == len(dst):
			return got, err
		default:
			done = got
		}
	}
	f, err := os.Open(of.path)
	if err != nil {
		return done, err
	}
	defer f.Close()
	got, err := readAll(f, dst[done:], off+int64(done))
	return done + got, err
}
