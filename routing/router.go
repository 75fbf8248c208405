package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Open connects to a site (default: OpenS3 trying each request once:
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
			return OpenS3(ctx, s, WithAttempts(1), WithHeaderTimeout(10*time.Second))
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
	for name := range r.conns {
		if !keep[name] {
			delete(r.conns, name)
		}
	}
	r.mu.Unlock()
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

type pathKey struct{}

// WithPath tells the router which file a read is for (relative to the
// filesystem root), so that policy rules can choose its sites.
func WithPath(ctx context.Context, path string) context.Context {
	return context.WithValue(ctx, pathKey{}, path)
}

// PathFrom returns the path WithPath set, or "".
func PathFrom(ctx context.Context) string {
	p, _ := ctx.Value(pathKey{}).(string)
	return p
}

// latencyBucket rounds latency so that sites within a few milliseconds
// of each other rank by role, not by noise.
const latencyBucket = 5 * time.Millisecond

// readOrder returns the sites to read from, best first, and the rule that
// chose the order. A matching read rule (when policy is set) puts its
// roles first, in its order, nearest first within a role; the sites it
// leaves out follow, so a block still reads while the preferred sites lack
// it. Otherwise primary and burst sites rank by latency (role breaking
// ties) and backups come last. Sites whose breaker is open go to the end:
// they are only tried if their cool-down has ended.
func readOrder(v *view, path string, policy bool) ([]*siteConn, string) {
	roles, rule := defaultRoles, ""
	if policy {
		roles, rule = v.policy.Choose(path, OpRead)
	}
	rank := func(role string) int {
		if i := slices.Index(roles, role); i >= 0 {
			return i
		}
		return len(roles) + slices.Index(defaultRoles, role)
	}
	out := slices.Clone(v.sites)
	bucket := func(s *siteConn) int64 {
		l := s.lat()
		if math.IsNaN(l) {
			return math.MaxInt64
		}
		return int64(l * float64(time.Second) / float64(latencyBucket))
	}
	group := func(s *siteConn) int {
		if rule != "" && slices.Contains(roles, s.Role) {
			return rank(s.Role)
		}
		g := 0
		if rule != "" {
			g = len(roles) // after every role the rule names
		}
		if s.Role == RoleBackup {
			g++
		}
		return g
	}
	open := func(s *siteConn) int {
		if s.br.State() == Open {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(out, func(a, b *siteConn) int {
		if c := open(a) - open(b); c != 0 {
			return c
		}
		if c := group(a) - group(b); c != 0 {
			return c
		}
		if ba, bb := bucket(a), bucket(b); ba != bb {
			if ba < bb {
				return -1
			}
			return 1
		}
		return rank(a.Role) - rank(b.Role)
	})
	return out, rule
}

// Get reads from the best site that answers (see readOrder).
func (r *Router) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	return r.get(ctx, key, off, n, nil, nil, "", true)
}

// GetVerified reads like Get and checks the data with verify: data that
// fails it is read from the next site instead, and the bad copy is queued
// for repair.
func (r *Router) GetVerified(ctx context.Context, key string, off, n int64, verify func([]byte) error) ([]byte, error) {
	return r.get(ctx, key, off, n, nil, verify, "", true)
}

// GetVerifiedInto is GetVerified of len(dst) bytes, read into dst where the
// site allows it (VerifyingStore).
func (r *Router) GetVerifiedInto(ctx context.Context, key string, off int64, dst []byte, verify func([]byte) error) ([]byte, error) {
	return r.get(ctx, key, off, int64(len(dst)), dst, verify, "", true)
}

// smallRead bounds the reads whose time counts as latency: a large read's
// time is mostly transfer.
const smallRead = 1 << 20

// get reads key from the best site but skip; policy applies the read
// rules (copies and repairs ignore them: any site with the block will do).
func (r *Router) get(ctx context.Context, key string, off, n int64, dst []byte, verify func([]byte) error, skip string, policy bool) ([]byte, error) {
	var errs []error
	for round := range readRounds {
		if round > 0 && !wait(ctx, Backoff(round-1, retryBase, retryMaxWait, nil)) {
			break
		}
		data, retry, err := r.getRound(ctx, key, off, n, dst, verify, skip, policy)
		if err == nil || !retry {
			return data, err
		}
		errs = append(errs, err)
	}
	return nil, oneLine(errs)
}

// getRound tries each site once, best first. It reports whether another
// round may help: some site failed transiently.
func (r *Router) getRound(ctx context.Context, key string, off, n int64, dst []byte, verify func([]byte) error, skip string, policy bool) ([]byte, bool, error) {
	order, _ := readOrder(r.current(), PathFrom(ctx), policy)
	var errs []error
	missing, retry := 0, false
	var bad []*siteConn
	for _, s := range order {
		if s.Name == skip {
			continue
		}
		var data []byte
		err := r.call(ctx, s, "get", n >= 0 && n <= smallRead, func(o ObjectStore) error {
			var err error
			if dst != nil {
				data, err = GetInto(ctx, o, key, off, dst)
			} else {
				data, err = o.Get(ctx, key, off, n)
			}
			return err
		})
		if errors.Is(err, ErrNotFound) {
			missing++
			continue
		}
		if err != nil {
			errs = append(errs, err)
			retry = retry || transient(ctx, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if verify != nil {
			if verr := verify(data); verr != nil {
				r.met.corrupt(s.Name)
				r.log.Error("bad copy of a block: reading it from the next site and queuing a repair",
					"site", s.Name, "object", key, "err", verr)
				bad = append(bad, s)
				errs = append(errs, fmt.Errorf("site %s: %w", s.Name, verr))
				continue
			}
		}
		var whole []byte
		if off == 0 && n < 0 && verify != nil {
			whole = data // a verified read of the whole object
		}
		r.repair(ctx, key, s, bad, whole)
		return data, false, nil
	}
	if len(errs) == 0 && missing > 0 {
		return nil, false, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if len(errs) == 0 {
		return nil, false, fmt.Errorf("%s: no site to read from: %w", key, ErrUnavailable)
	}
	if missing > 0 {
		errs = append(errs, fmt.Errorf("%s: missing on %d sites: %w", key, missing, ErrPartlyMissing))
	}
	return nil, retry, oneLine(errs)
}

// repair queues fresh copies of key to the sites whose copies were bad.
//
// whole is the verified data when the read was of the whole object: the
// repair then carries its CRC32C and the copy is checked against it.
func (r *Router) repair(ctx context.Context, key string, good *siteConn, bad []*siteConn, whole []byte) {
	if len(bad) == 0 {
		return
	}
	id, ok := r.opts.ParseKey(key)
	if !ok {
		return
	}
	job := meta.ReplJob{ID: id}
	if whole != nil {
		job.Size, job.HasCRC = int64(len(whole)), true
		job.CRC = crc32c(whole)
	} else if size, err := good.obj.Head(ctx, key); err == nil {
		job.Size = size
	}
	for _, s := range bad {
		job.Site = s.Name
		if err := r.m.QueueRepair(ctx, job); err != nil {
			r.log.Warn("queue repair", "site", s.Name, "object", key, "err", err)
		}
	}
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
		err := r.call(ctx, s, "health", true, func(o ObjectStore) error { return o.Health(ctx) })
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
		out = append(out, SiteInfo{Site: s.Site, Healthy: s.healthy.Load(), Breaker: s.br.State(),
			Latency: time.Duration(l * float64(time.Second)), Store: s.obj})
	}
	return out
}

// ReadOrder returns the names of the sites a read of path would try, in
// order, and the rule that chose them ("" for the default).
func (r *Router) ReadOrder(path string) ([]string, string) {
	order, rule := readOrder(r.current(), path, true)
	names := make([]string, len(order))
	for i, s := range order {
		names[i] = s.Name
	}
	return names, rule
}
