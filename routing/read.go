package routing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hafs/hafs/meta"
)

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
