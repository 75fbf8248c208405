package etcdstore

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hafs/hafs/fdbstore"
)

// retryable marks an error after which the transaction may run again.
type retryable struct{ err error }

func (r retryable) Error() string   { return r.err.Error() }
func (r retryable) Unwrap() error   { return r.err }
func (r retryable) Retryable() bool { return true }

// describe turns a client error into one line with HAFS's meaning: reads
// that failed for a passing reason (no leader, a member down, a compacted
// revision) are retryable; a full database or refused credentials are not.
func describe(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		// One request's bound (the transaction's own deadline is checked
		// by the caller first): the member may be cut off; try again.
		return retryable{fmt.Errorf("etcd store: request timed out: %w", err)}
	case errors.Is(err, rpctypes.ErrCompacted), errors.Is(err, rpctypes.ErrFutureRev),
		errors.Is(err, rpctypes.ErrTooManyRequests):
		return retryable{fmt.Errorf("etcd store: %w", err)}
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("etcd store: %w: %v", fdbstore.ErrTxTooLarge, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("etcd store: the cluster is out of space (its quota alarm is raised; compact, defragment and disarm it): %w: %w", fdbstore.ErrStoreFull, err)
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrPermissionDenied),
		errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("etcd store: access refused (check HAFS_ETCD_USER and HAFS_ETCD_PASSWORD): %w", err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition,
			codes.ResourceExhausted, codes.OutOfRange:
			return fmt.Errorf("etcd store: %s", st.Message())
		}
	}
	return retryable{fmt.Errorf("etcd store: %w", err)}
}

// refused reports whether a failed commit was certainly not applied: the
// server turned it down before proposing it.
func refused(err error) bool {
	if errors.Is(err, rpctypes.ErrTooManyRequests) {
		return true
	}
	if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) ||
		errors.Is(err, rpctypes.ErrDuplicateKey) || errors.Is(err, rpctypes.ErrNoSpace) ||
		errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrAuthFailed) ||
		errors.Is(err, rpctypes.ErrInvalidAuthToken) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.InvalidArgument || st.Code() == codes.PermissionDenied ||
		st.Code() == codes.Unauthenticated || st.Code() == codes.ResourceExhausted)
}

// quietZap keeps the client's own logging off: HAFS reports what matters
// through its errors and slog.
func quietZap() *zap.Logger { return zap.NewNop() }
