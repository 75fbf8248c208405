package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hafs/hafs/meta"
)

// Background work of a router, all of it driven by the store's durable
// rows, so any mount (or the admin tool) may do it and a restart loses
// nothing: following the site set, probing sites, copying queued
// replication jobs, deleting per-site deletions, backfilling new sites.

// idleWait bounds how long a site's worker sleeps without a wake-up; the
// job counter's watch usually wakes it first.
const idleWait = 2 * time.Second

// Run does the router's background work until ctx ends: it follows the
// site set (acknowledging each new generation once no upload uses the old
// one), probes every site each HealthInterval, and runs one worker per
// site draining its replication and deletion queues.
func (r *Router) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.follow(ctx) }()
	go func() { defer wg.Done(); r.probe(ctx) }()
	workers := map[string]context.CancelFunc{}
	sync := func() {
		v := r.current()
		live := map[string]bool{}
		for _, s := range v.sites {
			live[s.Name] = true
			if _, ok := workers[s.Name]; !ok {
				wctx, cancel := context.WithCancel(ctx)
				workers[s.Name] = cancel
				wg.Add(1)
				go func() { defer wg.Done(); r.siteWorker(wctx, s.Name) }()
			}
		}
		for name, cancel := range workers {
			if !live[name] {
				cancel()
				delete(workers, name)
			}
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		sync()
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// follow reloads the site set whenever its generation changes and
// acknowledges it (see meta.AckSites) once the uploads that started with
// the previous set have finished.
func (r *Router) follow(ctx context.Context) {
	for ctx.Err() == nil {
		old, err := r.reload(ctx)
		if err != nil {
			r.log.Warn("reload sites", "err", err)
		}
		if old != nil {
			old.inflight.Wait()
			r.log.Info("site set changed", "sites", r.String(), "generation", r.current().gen)
		}
		if err := r.Acknowledge(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("acknowledge site set", "err", err)
		}
		w, gen, err := r.m.WatchSites(ctx)
		if err != nil {
			wait(ctx, idleWait)
			continue
		}
		if gen != r.current().gen {
			w.Cancel() // changed since the reload: go round at once
			continue
		}
		select {
		case <-ctx.Done():
		case <-w.Done():
		case <-time.After(30 * time.Second):
		}
		w.Cancel()
	}
}

// Acknowledge records, for a primary's backfill, that this client writes
// with the current site set (see meta.AckSites), reloading first when the
// set changed. A mount calls it before it serves, so none of its uploads
// ever precedes its first acknowledgement.
func (r *Router) Acknowledge(ctx context.Context) error {
	for {
		err := r.m.AckSites(ctx, r.current().gen)
		if !errors.Is(err, meta.ErrStaleSites) {
			return err
		}
		old, err := r.reload(ctx)
		if err != nil {
			return err
		}
		if old != nil {
			old.inflight.Wait()
		}
	}
}

// siteState is what a mount publishes about a site for `hafs status`.
type siteState struct {
	Breaker   string    `json:"breaker"`
	Healthy   bool      `json:"healthy"`
	LatencyMS float64   `json:"latency_ms"`
	Session   string    `json:"session"`
	At        time.Time `json:"at"`
}

// publishEvery is how often a mount republishes a site's state that did
// not change.
const publishEvery = 10 * time.Second

// probe checks every site each HealthInterval through its breaker (so an
// open breaker's probe is this one when nothing else asks), feeding the
// latency average, and publishes changes of state.
func (r *Router) probe(ctx context.Context) {
	type pub struct {
		st siteState
		at time.Time
	}
	last := map[string]pub{}
	for {
		for _, s := range r.current().sites {
			r.probeSite(ctx, s)
			if ctx.Err() != nil {
				return
			}
			st := siteState{Breaker: s.br.State().String(), Healthy: s.healthy.Load(), Session: r.m.SessionID()}
			if l := s.lat(); l == l {
				st.LatencyMS = l * 1000
			}
			p, ok := last[s.Name]
			if ok && p.st.Breaker == st.Breaker && p.st.Healthy == st.Healthy && time.Since(p.at) < publishEvery {
				continue
			}
			st.At = time.Now().UTC()
			raw, _ := json.Marshal(st)
			if err := r.m.PublishSiteState(ctx, s.Name, raw); err == nil {
				last[s.Name] = pub{st, time.Now()}
			}
		}
		if !wait(ctx, r.opts.HealthInterval) {
			return
		}
	}
}

// probeTimeout bounds one health probe, and the check of the primaries at
// mount: a HEAD of the bucket, answered in milliseconds by a live server.
const probeTimeout = 3 * time.Second

// siteConnectTimeout and siteReadHeaderTimeout bound the router's
// attempts at making a connection to a site and at a GET's headers.
const (
	siteConnectTimeout    = 3 * time.Second
	siteReadHeaderTimeout = 3 * time.Second
)

func (r *Router) probeSite(ctx context.Context, s *siteConn) {
	// The timeout lives inside the call: a probe that times out is a
	// failure of the site, not a caller giving up.
	_ = r.call(ctx, s, "health", true, func(o ObjectStore) error {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return o.Health(pctx)
	})
}

// ProbeOnce probes every site once, at the same time, updating health and
// latency (for tools that show them without running the router).
func (r *Router) ProbeOnce(ctx context.Context) {
	sites := r.current().sites
	inParallel(len(sites), len(sites), func(i int) error { r.probeSite(ctx, sites[i]); return nil })
}

// wait sleeps d or until ctx ends; it reports whether ctx is still live.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// workerMaxWait caps a site worker's back-off: about the breaker's
// cool-down, so that copies resume within seconds of a site's return.
const workerMaxWait = 5 * time.Second

// claimBatch is how many jobs a worker claims at once.
const claimBatch = 32

// siteWorker drains one site's queues: backfill, deletions, copies. It
// backs off (capped, with jitter) while the site or its sources fail.
func (r *Router) siteWorker(ctx context.Context, name string) {
	attempt := 0
	for ctx.Err() == nil {
		did, err := r.WorkOnce(ctx, name)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := Backoff(attempt, 100*time.Millisecond, workerMaxWait, nil)
			attempt++
			r.log.Debug("site queue: will retry", "site", name, "err", err, "in", d)
			wait(ctx, d)
			continue
		}
		attempt = 0
		if did {
			continue
		}
		w, werr := r.m.WatchReplication(ctx, name)
		if werr != nil {
			wait(ctx, idleWait)
			continue
		}
		select {
		case <-ctx.Done():
		case <-w.Done():
		case <-time.After(idleWait):
		}
		w.Cancel()
	}
}

// WorkOnce does one round of site name's queued work: a backfill step,
// a page of deletions, a batch of copies. It reports whether it did any.
func (r *Router) WorkOnce(ctx context.Context, name string) (bool, error) {
	var dest *siteConn
	for _, s := range r.current().sites {
		if s.Name == name {
			dest = s
		}
	}
	if dest == nil {
		return false, nil
	}
	did := false
	st, err := r.m.Backfill(ctx, name)
	if err != nil {
		return false, err
	}
	did = st == meta.BackfillMore
	// A deletion the site refuses must not hold up its copies.
	n, delErr := r.deleteQueued(ctx, dest)
	did = did || n > 0
	if dest.br.State() == Open {
		return did, delErr
	}
	jobs, err := r.m.ClaimReplication(ctx, name, claimBatch)
	if err != nil || len(jobs) == 0 {
		return did, oneLine([]error{delErr, err})
	}
	errs := inParallel(len(jobs), r.opts.Copies, func(i int) error { return r.copyJob(ctx, dest, jobs[i]) })
	// Held while this client backs off, the jobs would wait for it even
	// when another client could copy them. Jobs no site has a good copy
	// for wait a while, so they do not take the head of the queue.
	var failed, noGoodCopy []meta.ReplJob
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, errCorruptCopy) && !errors.Is(err, ErrUnavailable):
			noGoodCopy = append(noGoodCopy, jobs[i])
		default:
			failed = append(failed, jobs[i])
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	relErr := r.m.ReleaseReplication(rctx, failed, 0)
	badErr := r.m.ReleaseReplication(rctx, noGoodCopy, r.opts.NoGoodCopyWait)
	return true, oneLine(append(errs, delErr, relErr, badErr))
}

// releaseTimeout bounds giving up claims, which runs when the worker is
// being stopped too: a store that does not answer must not hold it.
const releaseTimeout = 5 * time.Second

// errCorruptCopy marks a source copy that does not match its checksum.
var errCorruptCopy = errors.New("copy does not match its CRC32C")

// copyJob copies one object to dest from the best other site. A job
// that carries the object's CRC32C copies only data that matches it: a bad
// copy on a source is read from the next site and queued for repair, and
// never spreads.
func (r *Router) copyJob(ctx context.Context, dest *siteConn, j meta.ReplJob) error {
	key := r.opts.ObjectKey(j.ID)
	var verify func([]byte) error
	if j.HasCRC {
		verify = func(data []byte) error {
			if int64(len(data)) != j.Size || crc32c(data) != j.CRC {
				return fmt.Errorf("object %s (%d bytes): %w: %w", key, len(data), errCorruptCopy, syscall.EIO)
			}
			return nil
		}
	}
	data, err := r.get(ctx, key, 0, -1, nil, verify, dest.Name, false)
	switch {
	case errors.Is(err, ErrNotFound):
		// No site has it: the slice was deleted meanwhile (its job is then
		// gone too) or its data is lost, which fsck reports; nothing to copy.
		r.log.Warn("replication source missing on every site", "site", dest.Name, "object", key)
	case err != nil:
		return err
	default:
		err = r.call(ctx, dest, "put", false, func(o ObjectStore) error { return o.Put(ctx, key, data) })
		if err != nil {
			return err
		}
		r.met.replicated(dest.Name, len(data))
	}
	_, err = r.m.FinishReplication(ctx, j)
	return err
}

// deleteQueued deletes a page of dest's queued deletions.
func (r *Router) deleteQueued(ctx context.Context, dest *siteConn) (int, error) {
	ids, err := r.m.SiteDeletions(ctx, dest.Name, 256)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if dest.br.State() == Open {
		return 0, nil
	}
	errs := inParallel(len(ids), 16, func(i int) error {
		key := r.opts.ObjectKey(ids[i])
		return r.call(ctx, dest, "delete", false, func(o ObjectStore) error { return o.Delete(ctx, key) })
	})
	var ok []uint64
	for i, id := range ids {
		if errs[i] == nil {
			ok = append(ok, id)
		}
	}
	if err := r.m.DoneSiteDeletions(ctx, dest.Name, ok); err != nil {
		return 0, err
	}
	return len(ok), oneLine(errs)
}
