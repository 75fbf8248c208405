package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

// Sites and their durable queues.
//
// A site is an object store (one bucket) described by an opaque JSON
// record that carries at least {"role": ...}; routing owns the rest. Every
// change to the set of sites or to the policy rules bumps one generation
// counter, which mounts watch to pick the change up without a restart.
//
// Replication: the transaction that makes a slice live (CommitSlices,
// ReplaceChunk) reads the site set and writes one job per non-primary site
// (primaries got the object before the commit: upload before commit). A
// site added later gets a backfill: a resumable scan of the chunk maps
// that queues a job per slice. Jobs are claimed by a live session, so two
// mounts never copy one job at once, and a dead claimer's jobs are free
// again once its session is cleaned up. Nothing drops a job but its
// completion, its cancellation by a deletion, or the removal of its site.
//
// Deletion: the filesystem queues each freed slice once (delq, written by
// the change that freed it). The router fans that row out into one row per
// site (sdel) in a transaction that also cancels the slice's pending
// replication jobs, and clears the delq row only after; a site that is
// down keeps its row until it answers, so a deleted block never comes back
// through it.

// Site roles meta must tell apart.
const (
	RolePrimary = "primary"
)

// ErrSiteExists reports AddSite of a name in use.
var ErrSiteExists = errors.New("site already exists")

// ErrNoSite reports a site name that is not recorded.
var ErrNoSite = errors.New("no such site")

// ErrLastPrimary reports the removal of the only primary site.
var ErrLastPrimary = errors.New("it is the last primary site")

// SiteRecord is a site as meta stores it.
type SiteRecord struct {
	Name string
	Role string
	// Desc is routing's description of the site (JSON, no secret).
	Desc []byte
}

func siteRole(desc []byte) string {
	var r struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(desc, &r)
	return r.Role
}

// Sites returns the object store sites: name -> description.
func (f *FS) Sites(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		clear(out)
		recs, err := f.sitesTx(tx)
		for _, r := range recs {
			out[r.Name] = r.Desc
		}
		return err
	})
	return out, err
}

// SiteView is the set of sites and policy rules at one generation.
type SiteView struct {
	Gen   uint64
	Sites []SiteRecord
	Rules map[string][]byte
}

// LoadSites reads the sites and rules together with their generation.
func (f *FS) LoadSites(ctx context.Context) (*SiteView, error) {
	var v *SiteView
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		v, err = f.siteViewTx(tx)
		return err
	})
	return v, err
}

func (f *FS) siteViewTx(tx fdbstore.ReadTx) (*SiteView, error) {
	v := &SiteView{Rules: map[string][]byte{}}
	gen, err := tx.Get(f.k.siteGen())
	if err != nil {
		return nil, err
	}
	v.Gen = decU64(gen)
	if v.Sites, err = f.sitesTx(tx); err != nil {
		return nil, err
	}
	b, e := f.k.ruleRange()
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return nil, err
		}
		name, err := f.lastString(kv.Key)
		if err != nil {
			return nil, err
		}
		v.Rules[name] = kv.Value
	}
	return v, nil
}

// WatchSites returns a watch that fires at the next site or rule change,
// and the generation current when it was set.
func (f *FS) WatchSites(ctx context.Context) (fdbstore.Watch, uint64, error) {
	w, v, err := f.watch(ctx, f.k.siteGen())
	return w, decU64(v), err
}

func (f *FS) sitesTx(tx fdbstore.ReadTx) ([]SiteRecord, error) {
	b, e := f.k.siteRange()
	var out []SiteRecord
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return nil, err
		}
		name, err := f.lastString(kv.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, SiteRecord{Name: name, Role: siteRole(kv.Value), Desc: kv.Value})
	}
	return out, nil
}

func (f *FS) bumpSiteGen(tx fdbstore.Tx) error {
	v, err := tx.Get(f.k.siteGen())
	if err != nil {
		return err
	}
	tx.Set(f.k.siteGen(), u64(decU64(v)+1))
	return nil
}

// AddSite records a site and starts its backfill: every slice already
// live gets a replication job to it (see Backfill). The caller has checked
// that the bucket answers.
func (f *FS) AddSite(ctx context.Context, name string, desc []byte) error {
	if f.sb.Data == nil {
		return ErrNoObjectStore
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.site(name))
		if err != nil {
			return err
		}
		if v != nil {
			return fmt.Errorf("site %q: %w", name, ErrSiteExists)
		}
		if err := f.bumpSiteGen(tx); err != nil {
			return err
		}
		v, err = tx.Get(f.k.siteGen())
		if err != nil {
			return err
		}
		gen := decU64(v)
		tx.Set(f.k.site(name), desc)
		tx.Set(f.k.backfill(name), encodeBackfill(backfillCursor{Gen: gen}))
		return nil
	})
}

// ErrIncomplete reports the removal of a primary while no other primary
// holds every block yet.
var ErrIncomplete = errors.New("no other primary holds every block yet (its backfill or copies are pending); drain first")

// RemoveSite forgets a site with its queues. It refuses the last primary,
// and, with drained set, a primary while no other primary is complete (no
// backfill, no copy queued), checked in the removal's own transaction.
func (f *FS) RemoveSite(ctx context.Context, name string, drained bool) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		recs, err := f.sitesTx(tx)
		if err != nil {
			return err
		}
		found, primaries, complete := false, 0, 0
		for _, r := range recs {
			if r.Role == RolePrimary && r.Name != name {
				primaries++
				bf, err := tx.Get(f.k.backfill(r.Name))
				if err != nil {
					return err
				}
				jobs, err := tx.Get(f.k.replStat(r.Name, "jobs"))
				if err != nil {
					return err
				}
				if bf == nil && decI64(jobs) == 0 {
					complete++
				}
			}
			if r.Name == name {
				found = true
				if r.Role != RolePrimary {
					primaries = -1 << 30 // not a primary: no constraint
				}
			}
		}
		if !found {
			return fmt.Errorf("site %q: %w", name, ErrNoSite)
		}
		if primaries == 0 {
			return fmt.Errorf("site %q: %w", name, ErrLastPrimary)
		}
		if drained && primaries > 0 && complete == 0 {
			return fmt.Errorf("site %q: %w", name, ErrIncomplete)
		}
		if err := f.bumpSiteGen(tx); err != nil {
			return err
		}
		tx.Clear(f.k.site(name))
		tx.ClearRange(f.k.replRange(name))
		tx.ClearRange(f.k.sdelRange(name))
		tx.ClearRange(f.k.replStatRange(name))
		tx.Clear(f.k.backfill(name))
		tx.Clear(f.k.siteState(name))
		return nil
	})
}

// ErrRuleExists reports AddRule of a name in use.
var ErrRuleExists = errors.New("policy rule already exists")

// AddRule records a policy rule, routing's JSON.
func (f *FS) AddRule(ctx context.Context, name string, rule []byte) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		if v, err := tx.Get(f.k.rule(name)); err != nil {
			return err
		} else if v != nil {
			return fmt.Errorf("policy rule %q: %w", name, ErrRuleExists)
		}
		tx.Set(f.k.rule(name), rule)
		return f.bumpSiteGen(tx)
	})
}

// RemoveRule forgets a policy rule; it reports whether it existed.
func (f *FS) RemoveRule(ctx context.Context, name string) (bool, error) {
	found := false
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.rule(name))
		if err != nil || v == nil {
			found = false
			return err
		}
		found = true
		tx.Clear(f.k.rule(name))
		return f.bumpSiteGen(tx)
	})
	return found, err
}

// AckSites records that this client now writes with the site set of
// generation gen, and that none of its uploads still uses an older set. It
// fails with ErrStaleSites when gen is no longer current: the caller
// reloads and acknowledges again. It also records the next slice id this
// client will hand out: an upload of a lower id may have gone to the old
// set and still be uncommitted. A primary's backfill waits for both (see
// Backfill). Without a session (admin tools) there is nothing to record.
func (f *FS) AckSites(ctx context.Context, gen uint64) error {
	if f.sess.id == "" {
		return nil
	}
	f.sliceMu.Lock()
	mark := f.sliceNext
	f.sliceMu.Unlock()
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		cur, err := tx.Get(f.k.siteGen())
		if err != nil {
			return err
		}
		if decU64(cur) != gen {
			return ErrStaleSites
		}
		tx.Set(f.k.siteAck(f.sess.id), append(u64(gen), u64(mark)...))
		return nil
	})
}

// ErrStaleSites reports an acknowledgement of a site set that changed.
var ErrStaleSites = errors.New("site set changed")

// PublishSiteState records this mount's view of a site (breaker state,
// latency) for `hafs status`; state is routing's JSON.
func (f *FS) PublishSiteState(ctx context.Context, site string, state []byte) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		if v, err := tx.Get(f.k.site(site)); err != nil || v == nil {
			return err
		}
		tx.Set(f.k.siteState(site), state)
		return nil
	})
}

// SiteStates returns the last state each site's mounts published.
func (f *FS) SiteStates(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		clear(out)
		recs, err := f.sitesTx(tx)
		if err != nil {
			return err
		}
		for _, s := range recs {
			v, err := tx.Get(f.k.siteState(s.Name))
			if err != nil {
				return err
			}
			if v != nil {
				out[s.Name] = v
			}
		}
		return nil
	})
	return out, err
}
