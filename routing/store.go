package routing

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound reports an object that does not exist. Callers treat it as an
// answer, not a failure of the site.
var ErrNotFound = errors.New("object not found")

// ErrUnavailable reports a site that could not be reached or answered with
// an error after the retries. The transport's own error is kept in the
// message only: an errno deep inside it (ECONNREFUSED) must not reach the
// application in place of EIO.
var ErrUnavailable = errors.New("object store unavailable")

// Object describes one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ObjectStore is where block objects live. Objects are immutable and
// uniquely named: HAFS never overwrites one, so readers may cache them.
type ObjectStore interface {
	// Put stores data under key.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns n bytes of key from off; n < 0 reads to the end. A read
	// past the end returns what there is.
	Get(ctx context.Context, key string, off, n int64) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Head returns the size of key.
	Head(ctx context.Context, key string) (int64, error)
	// List calls fn for every object whose key starts with prefix, in key
	// order, until fn returns an error.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Health checks that the site answers.
	Health(ctx context.Context) error
	// String names the site for logs and errors (never credentials).
	String() string
}

// VerifyingStore is an ObjectStore that checks what it reads: data that
// fails verify is not returned while another copy may be good.
type VerifyingStore interface {
	GetVerified(ctx context.Context, key string, off, n int64, verify func([]byte) error) ([]byte, error)
}
