package gateway

import (
	"context"
	"errors"
	"io"
	"sync"
)

// reqState is what one request tells the file system under it: the
// handler's interface carries only a context.
type reqState struct {
	method string
	body   *bodyTracker // PUT: whether the whole body arrived
	// err is what the webdav handler reported, for the access log.
	err error
	// noSpace: a write failed for lack of space; the error status the
	// handler chose becomes 507 Insufficient Storage (RFC 4918, 11.5).
	noSpace bool
}

type stateKey struct{}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// bodyTracker reads a request body and remembers whether it ended
// cleanly: a client cut off mid-body makes net/http's reader fail
// (io.ErrUnexpectedEOF for a short Content-Length, an error for broken
// chunking), never return io.EOF.
type bodyTracker struct {
	r    io.Reader
	want int64 // Content-Length, or -1
	// idle, when set, extends the connection's read deadline before each
	// read: a client that stops sending mid-body is cut off, instead of
	// holding its connection and its unfinished file for ever.
	idle func() error

	mu   sync.Mutex
	n    int64
	eof  bool
	fail error
}

func (b *bodyTracker) Read(p []byte) (int, error) {
	if b.idle != nil {
		_ = b.idle() // not every connection supports deadlines (HTTP/2 does)
	}
	n, err := b.r.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		b.eof = true
	case err != nil && b.fail == nil:
		b.fail = err
	}
	return n, err
}

// complete reports whether the body was read to its clean end.
func (b *bodyTracker) complete() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && b.fail == nil && (b.want < 0 || b.n == b.want)
}
