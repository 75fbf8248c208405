package fdbstore

import (
	"context"
	"errors"
)

// ErrStoreFull reports a store that could not commit for lack of space:
// its disk is full (the embedded store) or its quota is reached (etcd's
// NOSPACE alarm). The filesystem answers ENOSPC, not EIO: nothing was
// lost, and freeing space (rm, truncate) makes writes work again.
var ErrStoreFull = errors.New("metadata store full")

// growingKey marks a context whose transaction grows the filesystem.
type growingKey struct{}

// Growing marks ctx's transactions as ones that make the filesystem larger
// (create, write, link, xattr). A store that keeps a space reserve, as ext4
// keeps blocks for root, refuses them the reserve: it is there so that
// unlink, rmdir, truncate, opens and sessions still commit on a full disk,
// and space can be freed from inside.
func Growing(ctx context.Context) context.Context {
	return context.WithValue(ctx, growingKey{}, true)
}

// IsGrowing reports whether ctx was marked by Growing.
func IsGrowing(ctx context.Context) bool {
	v, _ := ctx.Value(growingKey{}).(bool)
	return v
}

// FullReporter is implemented by stores that can tell they are out of
// space (for /healthz and hafs status) and why.
type FullReporter interface {
	// Full reports whether the store is out of space, with a one-line
	// reason when it is.
	Full() (bool, string)
}
