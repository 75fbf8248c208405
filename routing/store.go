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

// ErrRefused reports a site that answered but refuses this client: wrong
// credentials, no access to the bucket. Unlike an outage it will not pass
// by itself, so a mount refuses to start on it (it is also ErrUnavailable,
// so every other path treats it as a failed request).
var ErrRefused = errors.New("object store refuses this client")

// ErrPartlyMissing reports an object that the sites which answered do not
// have while the others failed: it may be gone (a reader whose plan is
// stale should read the plan again) or only on a site that is down, so it
// is not ErrNotFound and nothing treats it as deleted.
var ErrPartlyMissing = errors.New("object missing on every site that answered")

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
	// GetVerifiedInto reads len(dst) bytes of key from off, into dst where
	// the site allows it (BufferedStore), and returns the verified data:
	// dst's first bytes, or a buffer of the store's own.
	GetVerifiedInto(ctx context.Context, key string, off int64, dst []byte, verify func([]byte) error) ([]byte, error)
}

// BufferedStore is an ObjectStore that reads into the caller's buffer, so
// that a reader that recycles its buffers allocates nothing per read.
type BufferedStore interface {
	// GetInto reads up to len(dst) bytes of key from off into dst and
	// returns how many it read: fewer only at the end of the object.
	GetInto(ctx context.Context, key string, off int64, dst []byte) (int, error)
}

// GetInto reads len(dst) bytes of key from off out of o: into dst when o
// is a BufferedStore, else in a buffer of o's own. Callers that recycle
// dst tell the two apart by the returned slice's first byte.
func GetInto(ctx context.Context, o ObjectStore, key string, off int64, dst []byte) ([]byte, error) {
	if b, ok := o.(BufferedStore); ok {
		got, err := b.GetInto(ctx, key, off, dst)
		if err != nil {
			return nil, err
		}
		return dst[:got], nil
	}
	return o.Get(ctx, key, off, int64(len(dst)))
}
