package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafs/hafs/meta"
)

// RouterOptions tune a Router. ObjectKey and ParseKey are required: they
// map slice ids to object keys (the data path owns the naming).
type RouterOptions struct {
	ObjectKey func(id uint64) string
	ParseKey  func(key string) (uint64, bool)
	// Open connects to a site (default: OpenSite, S3 trying each request once:
	// the router retries, moving to the next site first).
	Open   func(ctx context.Context, s Site) (ObjectStore, error)
	Logger *slog.Logger
	// Copies is how many replication copies run at once (default 4).
	Copies int
	// BreakerThreshold consecutive failures open a site's breaker
	// (default 3); it stays open BreakerCooldown (default 5 s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// HealthInterval is how often every site is probed (default 1 s).
	HealthInterval time.Duration
	// NoGoodCopyWait is how long a copy job whose object matched its
	// checksum on no site waits before it is tried again (default 1 min).
	NoGoodCopyWait time.Duration
}

// Retries: the router, not the S3 client, retries, so that a read leaves
// a dead site for the next at once. A read makes up to readRounds passes
// over its sites; a write tries each primary up to putAttempts times. Both
// back off between tries (capped, with jitter) on transient errors only:
// a not-found or a refusal by an open breaker is not retried.
const (
	readRounds   = 3
	putAttempts  = 4
	retryBase    = 100 * time.Millisecond
	retryMaxWait = 2 * time.Second
)

// Router is an ObjectStore over every site of a filesystem: writes reach
// every primary before they are acknowledged, reads go to the nearest
// healthy site and fail over, deletions and replication go through the
// store's durable queues. Its site set follows the store (see Run).
type Router struct {
	m    Metadata
	opts RouterOptions
	log  *slog.Logger

	mu    sync.Mutex
	view  *view
	conns map[string]*siteConn // by name; kept across views for breaker and latency

	met *routerMetrics
}

// view is the site set and policy of one generation. Uploads hold it
// (inflight) so that a newer generation is acknowledged only once no
// upload still writes with the older set.
type view struct {
	gen      uint64
	sites    []*siteConn
	policy   Policy
	inflight sync.WaitGroup
}

// siteConn is one site with its client and its measured state.
type siteConn struct {
	Site
	desc string
	obj  ObjectStore
	br   *Breaker
	// latency is the EWMA of request latency in seconds (float64 bits);
	// NaN until measured.
	latency atomic.Uint64
	healthy atomic.Bool
	// lastErr is the last failure's message while the site is unhealthy:
	// the reason hafs status gives.
	lastErr atomic.Pointer[string]
}

func (s *siteConn) lat() float64 { return math.Float64frombits(s.latency.Load()) }

// ewmaAlpha weighs a new latency sample: with 0.5 a lasting change shows
// within a few samples (a site no read prefers is sampled only by the
// health probe, once a second), while one slow request moves it half way.
const ewmaAlpha = 0.5

func (s *siteConn) observe(d time.Duration) {
	for {
		old := s.latency.Load()
		o := math.Float64frombits(old)
		v := d.Seconds()
		if !math.IsNaN(o) {
			v = ewmaAlpha*v + (1-ewmaAlpha)*o
		}
		if s.latency.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// NewRouter opens every site of filesystem m.
func NewRouter(ctx context.Context, m Metadata, opts RouterOptions) (*Router, error) {
	if opts.ObjectKey == nil || opts.ParseKey == nil {
		return nil, errors.New("routing: RouterOptions needs ObjectKey and ParseKey")
	}
	if opts.Open == nil {
		opts.Open = func(ctx context.Context, s Site) (ObjectStore, error) {
			// Short connect and read bounds: a site whose host is cut off
			// (packets vanish, nothing refuses) must fail an attempt in
			// seconds, so reads go to the next site and the breaker opens.
			return OpenSite(ctx, s, WithAttempts(1), WithHeaderTimeout(10*time.Second),
				WithConnectTimeout(siteConnectTimeout), WithReadHeaderTimeout(siteReadHeaderTimeout))
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Copies <= 0 {
		opts.Copies = 4
	}
	if opts.BreakerThreshold <= 0 {
		opts.BreakerThreshold = 3
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = 5 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = time.Second
	}
	if opts.NoGoodCopyWait <= 0 {
		opts.NoGoodCopyWait = time.Minute
	}
	r := &Router{m: m, opts: opts, log: opts.Logger, conns: map[string]*siteConn{}}
	r.met = newRouterMetrics(r)
	if _, err := r.reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the site set and policy and swaps them in; it returns the
// view replaced (nil when the generation did not change).
func (r *Router) reload(ctx context.Context) (*view, error) {
	sv, err := r.m.LoadSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sites: %w", err)
	}
	r.mu.Lock()
	cur := r.view
	r.mu.Unlock()
	if cur != nil && cur.gen == sv.Gen {
		return nil, nil
	}
	v := &view{gen: sv.Gen}
	for name, raw := range sv.Rules {
		var rule Rule
		if err := json.Unmarshal(raw, &rule); err != nil {
			return nil, fmt.Errorf("policy rule %q: corrupt record: %w", name, err)
		}
		v.policy = append(v.policy, rule)
	}
	for _, rec := range sv.Sites {
		sc, err := r.conn(ctx, rec)
		if err != nil {
			return nil, err
		}
		v.sites = append(v.sites, sc)
	}
	r.mu.Lock()
	old := r.view
	r.view = v
	keep := map[string]bool{}
	for _, s := range v.sites {
		keep[s.Name] = true
	}
	var dropped []*siteConn
	for name, sc := range r.conns {
		if !keep[name] {
			delete(r.conns, name)
			dropped = append(dropped, sc)
		}
	}
	r.mu.Unlock()
	for _, sc := range dropped {
		// A directory site's kept descriptors; a read still under way on
		// the old view goes on with a descriptor of its own.
		if c, ok := sc.obj.(io.Closer); ok {
			_ = c.Close()
		}
	}
	return old, nil
}

// conn returns the client of a site, reusing the open one while its
// description is unchanged.
func (r *Router) conn(ctx context.Context, rec meta.SiteRecord) (*siteConn, error) {
	r.mu.Lock()
	sc := r.conns[rec.Name]
	r.mu.Unlock()
	if sc != nil && sc.desc == string(rec.Desc) {
		return sc, nil
	}
	var s Site
	if err := json.Unmarshal(rec.Desc, &s); err != nil {
		return nil, fmt.Errorf("site %q: corrupt record: %w", rec.Name, err)
	}
	s.Name = rec.Name
	obj, err := r.opts.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	sc = &siteConn{Site: s, desc: string(rec.Desc), obj: obj,
		br: NewBreaker(r.opts.BreakerThreshold, r.opts.BreakerCooldown, nil)}
	sc.latency.Store(math.Float64bits(math.NaN()))
	sc.healthy.Store(true)
	r.mu.Lock()
	r.conns[rec.Name] = sc
	r.mu.Unlock()
	return sc, nil
}

// current returns the view in use.
func (r *Router) current() *view {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view
}

// acquire returns the view in use, held for an upload.
func (r *Router) acquire() *view {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.view.inflight.Add(1)
	return r.view
}

// call sends one request to a site through its breaker, measuring it. A
// not-found is an answer, not a failure; a cancelled request counts for
// neither.
func (r *Router) call(ctx context.Context, sc *siteConn, op string, timed bool, fn func(ObjectStore) error) error {
	if !sc.br.Allow() {
		r.met.refused(sc.Name, op)
		return fmt.Errorf("site %s: %w: %w", sc.Name, errBreakerOpen, ErrUnavailable)
	}
	start := time.Now()
	err := fn(sc.obj)
	d := time.Since(start)
	switch {
	case err == nil || errors.Is(err, ErrNotFound):
		sc.br.Done(true)
		sc.healthy.Store(true)
		if timed {
			sc.observe(d)
		}
	case ctx.Err() != nil:
		sc.br.Release()
	default:
		sc.br.Done(false)
		sc.healthy.Store(false)
		msg := err.Error()
		sc.lastErr.Store(&msg)
		r.met.failed(sc.Name, op)
	}
	r.met.request(sc.Name, op, d)
	return err
}

// errBreakerOpen marks a request the breaker did not let through.
var errBreakerOpen = errors.New("circuit breaker open")

// retry calls a site up to putAttempts times with back-off while it fails
// transiently.
func (r *Router) retry(ctx context.Context, s *siteConn, op string, fn func(ObjectStore) error) error {
	var err error
	for i := range putAttempts {
		if err = r.call(ctx, s, op, false, fn); !transient(ctx, err) {
			return err
		}
		if i < putAttempts-1 && !wait(ctx, Backoff(i, retryBase, retryMaxWait, nil)) {
			return err
		}
	}
	return err
}

// transient reports whether err is worth another try.
func transient(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, errBreakerOpen)
}

// Put stores data on every primary site at once and returns when all have
// it; the commit that follows queues the copies to the other sites.
func (r *Router) Put(ctx context.Context, key string, data []byte) error {
	v := r.acquire()
	defer v.inflight.Done()
	var targets []*siteConn
	for _, s := range v.sites {
		if s.Role == RolePrimary {
			targets = append(targets, s)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("put %s: no primary site: %w", key, ErrUnavailable)
	}
	return oneLine(inParallel(len(targets), len(targets), func(i int) error {
		return r.retry(ctx, targets[i], "put", func(o ObjectStore) error { return o.Put(ctx, key, data) })
	}))
}

// oneLine joins errors on one line (errors.Join uses newlines), for
// messages an operator reads.
func oneLine(errs []error) error {
	var live []error
	for _, e := range errs {
		if e != nil {
			live = append(live, e)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	msgs := make([]string, len(live))
	for i, e := range live {
		msgs[i] = e.Error()
	}
	return &joined{msg: strings.Join(msgs, "; "), errs: live}
}

type joined struct {
	msg  string
	errs []error
}

func (j *joined) Error() string   { return j.msg }
func (j *joined) Unwrap() []error { return j.errs }

// Head returns the size of key from the first site that has it.
func (r *Router) Head(ctx context.Context, key string) (int64, error) {
	order, _ := readOrder(r.current(), "", false)
	var errs []error
	for _, s := range order {
		var size int64
		err := r.call(ctx, s, "head", true, func(o ObjectStore) error {
			var err error
			size, err = o.Head(ctx, key)
			return err
		})
		if err == nil {
			return size, nil
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return 0, oneLine(errs)
	}
	return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
}

// Delete deletes key from every site. The deletion first becomes one
// durable row per site (cancelling pending copies), so a site that fails
// now keeps its row and is retried by Run until it answers; Delete then
// returns nil. Keys that are not slice objects are deleted directly.
func (r *Router) Delete(ctx context.Context, key string) error {
	id, ok := r.opts.ParseKey(key)
	v := r.current()
	if !ok {
		var errs []error
		for _, s := range v.sites {
			errs = append(errs, r.call(ctx, s, "delete", false, func(o ObjectStore) error { return o.Delete(ctx, key) }))
		}
		return oneLine(errs)
	}
	names, err := r.m.FanOutDeletion(ctx, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	var sites []*siteConn
	for _, s := range v.sites {
		if slices.Contains(names, s.Name) {
			sites = append(sites, s)
		}
	}
	inParallel(len(sites), len(sites), func(i int) error {
		s := sites[i]
		err := r.call(ctx, s, "delete", false, func(o ObjectStore) error { return o.Delete(ctx, key) })
		if err == nil {
			err = r.m.DoneSiteDeletions(ctx, s.Name, []uint64{id})
		}
		if err != nil {
			r.log.Debug("site deletion left queued", "site", s.Name, "object", key, "err", err)
		}
		return nil
	})
	return nil
}

// List lists the first primary site, which holds every live object.
func (r *Router) List(ctx context.Context, prefix string, fn func(Object) error) error {
	for _, s := range r.current().sites {
		if s.Role == RolePrimary {
			return s.obj.List(ctx, prefix, fn)
		}
	}
	return fmt.Errorf("list: no primary site: %w", ErrUnavailable)
}

// Health reports an error naming every primary site that does not answer
// or whose breaker is open (it closes once a probe after its cool-down
// succeeds).
func (r *Router) Health(ctx context.Context) error {
	var errs []error
	for _, s := range r.current().sites {
		if s.Role != RolePrimary {
			continue
		}
		err := r.call(ctx, s, "health", true, func(o ObjectStore) error {
			// Bounded as the probes are: a mount during an outage
			// goes on after it (cliutil.DataPath).
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			return o.Health(pctx)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("primary site %s: %w", s.Name, err))
		}
	}
	return oneLine(errs)
}

func (r *Router) String() string {
	v := r.current()
	names := make([]string, len(v.sites))
	for i, s := range v.sites {
		names[i] = s.Name
	}
	return fmt.Sprintf("sites %v", names)
}

// SiteInfo is one site as a router sees it now.
type SiteInfo struct {
	Site
	Healthy bool
	// Reason is the last failure while unhealthy.
	Reason  string
	Breaker BreakerState
	// Latency is the moving average of measured latency; 0 until measured.
	Latency time.Duration
	Store   ObjectStore
}

// Sites returns the router's sites in name order.
func (r *Router) Sites() []SiteInfo {
	v := r.current()
	out := make([]SiteInfo, 0, len(v.sites))
	for _, s := range v.sites {
		l := s.lat()
		if math.IsNaN(l) {
			l = 0
		}
		info := SiteInfo{Site: s.Site, Healthy: s.healthy.Load(), Breaker: s.br.State(),
			Latency: time.Duration(l * float64(time.Second)), Store: s.obj}
		if msg := s.lastErr.Load(); msg != nil && !info.Healthy {
			info.Reason = *msg
		}
		out = append(out, info)
	}
	return out
}
