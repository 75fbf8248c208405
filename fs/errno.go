package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// errno maps an error from the layers below to the errno the application
// sees. Errors that carry an errno keep it; store limits and timeouts get
// the nearest POSIX meaning; anything else is EIO and is logged, since the
// application learns nothing more from it.
func (r *Root) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, fdbstore.ErrTxTooLarge), errors.Is(err, fdbstore.ErrValueTooLarge):
		return syscall.EFBIG
	case errors.Is(err, fdbstore.ErrKeyTooLarge):
		return syscall.ENAMETOOLONG
	case errors.Is(err, fdbstore.ErrStoreFull):
		// Nothing is lost and rm frees space: say so, not EIO.
		return syscall.ENOSPC
	}
	r.log.Error("operation failed", "op", op, "err", err)
	return syscall.EIO
}
