package etcdstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hafs/hafs/fdbstore"
)

// Config says which cluster to use and how.
type Config struct {
	// Endpoints are the members' client addresses (host:port, or URLs).
	Endpoints []string
	// Prefix is prepended to every key; it must be non-empty.
	Prefix string
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// Username and Password authenticate to a cluster with auth enabled.
	Username, Password string
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// RequestTimeout bounds one request to a member (default 1 s). The
	// client spreads requests over the members, so a request to a member
	// that a partition cut off, or that is paused, waits this long and is
	// then retried, most likely on another member, instead of holding the
	// whole transaction until gRPC's keepalive gives up on the member.
	RequestTimeout time.Duration
	// ProbeInterval and ProbeTimeout pace the probes of each member
	// (defaults DefaultProbeInterval and DefaultProbeTimeout): a member
	// that does not answer one within ProbeTimeout gets no requests
	// until it answers again (see members).
	ProbeInterval, ProbeTimeout time.Duration
	// MemberSyncInterval is how often the member list is read, so that
	// members added later are used (default DefaultMemberSyncInterval).
	MemberSyncInterval time.Duration
	// MaxTxnOps and MaxRequestBytes are the server's --max-txn-ops and
	// --max-request-bytes (defaults 128 and 1.5 MiB, etcd's own). A
	// transaction past them fails with fdbstore.ErrTxTooLarge before it is
	// sent.
	MaxTxnOps       int
	MaxRequestBytes int
	// QuotaBytes is the server's --quota-backend-bytes (default 2 GiB,
	// etcd's own): the size DiskSpace reports.
	QuotaBytes int64
	// Options bound every transaction.
	fdbstore.Options
	Logger *slog.Logger
}

// Defaults of etcd's server flags that bound a transaction.
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 3 << 19 // 1.5 MiB
	DefaultQuotaBytes      = 2 << 30
)

// Store is an fdbstore.Store over etcd.
type Store struct {
	cli    *clientv3.Client
	cfg    Config
	data   string // key prefix of data
	marks  string // key prefix of commit markers
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; parent of watches
	cancel context.CancelFunc

	// settledCommitted and settledAborted count the commits whose answer
	// was lost and whose outcome settle learnt.
	settledCommitted, settledAborted atomic.Int64

	watches watchSet
	members *members

	leaseMu sync.Mutex
	lease   clientv3.LeaseID
	leaseAt time.Time
}

// markerTTL is how long a commit marker lives. An outcome is asked for
// within a transaction's timeout, so minutes are plenty; a new lease is
// taken every markerTTL/2, so each marker lives at least that long.
const markerTTL = 10 * time.Minute

// Open connects to the cluster and checks that it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	if cfg.Prefix == "" {
		return nil, errors.New("etcd store: empty key prefix")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.MemberSyncInterval <= 0 {
		cfg.MemberSyncInterval = DefaultMemberSyncInterval
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.QuotaBytes <= 0 {
		cfg.QuotaBytes = DefaultQuotaBytes
	}
	cfg.Options = cfg.Options.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, TLS: cfg.TLS, Username: cfg.Username, Password: cfg.Password,
		// gRPC pings no more often than every 10 s, whatever is asked
		// (it raised the 5 s this once said), so keepalive is only the
		// last resort for a silent member; the member probes (members.go)
		// find one within a probe interval. The 1 s timeout is also the
		// TCP user timeout: a connection with unacknowledged data for 1 s
		// is dropped.
		DialTimeout: cfg.DialTimeout, DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: time.Second,
		// No AutoSyncInterval: the member probes read the member list
		// themselves, and the client's sync would give the balancer back
		// members the probes took out.
		Logger: quietZap(),
		// Responses of a full page of values must fit.
		MaxCallRecvMsgSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store %v: %w", cfg.Endpoints, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	// A NUL after the prefix: no URL path holds one, so no filesystem's
	// keys fall inside another's whose prefix is a parent path of its own.
	s := &Store{cli: cli, cfg: cfg, data: cfg.Prefix + "\x00d/", marks: cfg.Prefix + "\x00t/",
		log: cfg.Logger, ctx: sctx, cancel: cancel}
	pctx, pcancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer pcancel()
	if err := s.probe(pctx); err != nil {
		cli.Close()
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("etcd store %v: no member answered within %s", cfg.Endpoints, cfg.DialTimeout)
		}
		return nil, fmt.Errorf("etcd store %v: %w", cfg.Endpoints, err)
	}
	s.members = newMembers(s, cfg.Endpoints)
	go s.members.run(cfg.Endpoints)
	return s, nil
}

// probe checks that the cluster answers and takes transactions as large
// as the store will send: a Txn of MaxTxnOps compares that all hold and
// change nothing. A server started with a smaller --max-txn-ops than
// configured refuses it, and the store says so now, not at some commit.
func (s *Store) probe(ctx context.Context) error {
	if _, err := s.cli.Get(ctx, s.data, clientv3.WithCountOnly()); err != nil {
		return describe(err)
	}
	cmps := make([]clientv3.Cmp, s.cfg.MaxTxnOps)
	for i := range cmps {
		cmps[i] = clientv3.Compare(clientv3.Version(fmt.Sprintf("%sprobe/%d", s.marks, i)), "=", 0)
	}
	if _, err := s.cli.Txn(ctx).If(cmps...).Commit(); err != nil {
		if errors.Is(err, rpctypes.ErrTooManyOps) {
			return fmt.Errorf("the server allows fewer than %d operations per transaction: start it with --max-txn-ops %d or more, or give ?max-txn-ops= its value", s.cfg.MaxTxnOps, s.cfg.MaxTxnOps)
		}
		return describe(err)
	}
	return nil
}

// TxnLimits implements fdbstore.Limited: etcd's --max-txn-ops and
// --max-request-bytes, less what every commit adds (its marker).
func (s *Store) TxnLimits() fdbstore.TxnLimits {
	return fdbstore.TxnLimits{MaxOps: s.cfg.MaxTxnOps - 1, MaxBytes: s.cfg.MaxRequestBytes - 1024}
}

// Settled returns how many commits whose answer was lost turned out to
// have landed, and how many were stopped from ever landing and retried.
func (s *Store) Settled() (committed, aborted int64) {
	return s.settledCommitted.Load(), s.settledAborted.Load()
}

// Close releases the client; pending watches fire with ErrClosed.
func (s *Store) Close() error {
	s.cancel()
	return s.cli.Close()
}

// Sync implements fdbstore.Store. An etcd commit is acknowledged once a
// quorum of members has it on disk, so there is nothing left to do.
func (s *Store) Sync(ctx context.Context) error { return nil }

// Transact implements fdbstore.Store.
func (s *Store) Transact(ctx context.Context, fn func(fdbstore.Tx) error) error {
	return s.retry(ctx, func(ctx context.Context) error {
		t := s.newTx(ctx, true)
		err := fn(t)
		if err == nil {
			err = t.commit()
		}
		t.finish(err)
		return err
	})
}

// ReadTransact implements fdbstore.Store.
func (s *Store) ReadTransact(ctx context.Context, fn func(fdbstore.ReadTx) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return fn(s.newTx(ctx, false)) })
}

// retry runs attempt until it succeeds or fails for good, bounded by the
// store's timeout and retry limit.
func (s *Store) retry(ctx context.Context, attempt func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return fdbstore.ErrClosed
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, fdbstore.ErrTimeout)
	defer cancel()
	backoff := time.Millisecond
	for n := 0; ; n++ {
		err := attempt(ctx)
		if err == nil || !fdbstore.IsRetryable(err) {
			if err != nil && ctx.Err() != nil && !errors.Is(err, fdbstore.ErrMaybeCommitted) {
				return fmt.Errorf("%w: %w", context.Cause(ctx), err)
			}
			return err
		}
		if n >= s.cfg.RetryLimit {
			return fmt.Errorf("%w after %d attempts: %w", fdbstore.ErrRetryLimit, n+1, err)
		}
		t := time.NewTimer(backoff/2 + mrand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", context.Cause(ctx), err)
		case <-t.C:
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// request returns the context of one request made for ctx: bounded by
// RequestTimeout. An expired request is a retryable failure of the
// transaction (or, for a commit, one whose outcome settle learns).
// A caller's fdbstore.WithRequestBound shortens it.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.cfg.RequestTimeout
	if b := fdbstore.RequestBound(ctx); b > 0 && b < d {
		d = b
	}
	return context.WithTimeout(ctx, d)
}

// markerLease returns the lease new commit markers attach to.
func (s *Store) markerLease(ctx context.Context, renew bool) (clientv3.LeaseID, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if !renew && s.lease != 0 && time.Since(s.leaseAt) < markerTTL/2 {
		return s.lease, nil
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Grant(rctx, int64(markerTTL/time.Second))
	if err != nil {
		return 0, fmt.Errorf("etcd store: grant a lease for commit markers: %w", describe(err))
	}
	s.lease, s.leaseAt = resp.ID, time.Now()
	return s.lease, nil
}

// newMarker returns a fresh commit marker key.
func (s *Store) newMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return s.marks + hex.EncodeToString(b[:])
}
