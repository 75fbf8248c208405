package meta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
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

func (k keys) siteGen() []byte                        { return k.pack("ctr", "sitegen") }
func (k keys) rule(name string) []byte                { return k.pack("rule", name) }
func (k keys) ruleRange() ([]byte, []byte)            { return tuple.Range(k.pack("rule")) }
func (k keys) siteAck(sess string) []byte             { return k.pack("siteack", sess) }
func (k keys) siteAckRange() ([]byte, []byte)         { return tuple.Range(k.pack("siteack")) }
func (k keys) repl(site string, id uint64) []byte     { return k.pack("repl", site, int64(id)) }
func (k keys) replRange(site string) ([]byte, []byte) { return tuple.Range(k.pack("repl", site)) }
func (k keys) replStat(site, what string) []byte      { return k.pack("replstat", site, what) }
func (k keys) sdel(site string, id uint64) []byte     { return k.pack("sdel", site, int64(id)) }
func (k keys) sdelRange(site string) ([]byte, []byte) { return tuple.Range(k.pack("sdel", site)) }
func (k keys) backfill(site string) []byte            { return k.pack("backfill", site) }
func (k keys) siteState(site string) []byte           { return k.pack("sitestate", site) }

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

// lastString returns the last element of key, a string.
func (f *FS) lastString(key []byte) (string, error) { return lastElem[string](f, key) }

// lastElem returns the last element of one of f's keys, of type T.
func lastElem[T any](f *FS, key []byte) (T, error) {
	var zero T
	el, err := tuple.Unpack(key[len(f.k.prefix):])
	if err != nil || len(el) == 0 {
		return zero, fmt.Errorf("corrupt key %q", key)
	}
	v, ok := el[len(el)-1].(T)
	if !ok {
		return zero, fmt.Errorf("corrupt key %q", key)
	}
	return v, nil
}

// lastID returns the last element of key, a slice id.
func (f *FS) lastID(key []byte) (uint64, error) {
	id, err := lastElem[int64](f, key)
	return uint64(id), err
}

// errEnough stops a scan that has what it wanted.
var errEnough = errors.New("enough")

// idsIn returns the slice ids ending the keys of [b, e), at most limit of
// them (0: all), read in pages.
func (f *FS) idsIn(ctx context.Context, b, e []byte, limit int) ([]uint64, error) {
	var out []uint64
	page := scanPage
	if limit > 0 {
		page = limit
	}
	err := f.scanPages(ctx, b, e, page, func(key, _ []byte) error {
		id, err := f.lastID(key)
		if err != nil {
			return err
		}
		out = append(out, id)
		if len(out) == limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, err
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
		gen := decU64(mustGet(tx, f.k.siteGen()))
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
		tx.ClearRange(tuple.Range(f.k.pack("replstat", name)))
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

// enqueueReplication writes, in the transaction making slices live, one
// replication job per slice and per site that did not get the objects
// before the commit. It reads the site set once per transaction.
func (f *FS) enqueueReplication(tx fdbstore.Tx, refs []SliceRef) error {
	recs, err := f.sitesTx(tx)
	if err != nil {
		return err
	}
	var jobs []jobValue // one per slice, whatever the number of sites
	for _, s := range recs {
		if s.Role == RolePrimary {
			continue
		}
		if jobs == nil {
			for _, r := range refs {
				if r.ID != 0 {
					jobs = append(jobs, f.newJob(r))
				}
			}
		}
		for _, j := range jobs {
			if err := f.putReplJob(tx, s.Name, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// putReplJob queues a copy of slice j.id to site (no-op when one is
// queued).
func (f *FS) putReplJob(tx fdbstore.Tx, site string, j jobValue) error {
	if v, err := tx.Get(f.k.repl(site, j.id)); err != nil || v != nil {
		return err
	}
	j.enq = time.Now().UnixNano()
	tx.Set(f.k.repl(site, j.id), j.encode())
	tx.Add(f.k.replStat(site, "jobs"), 1)
	tx.Add(f.k.replStat(site, "bytes"), j.size)
	return nil
}

// newJob is the job that copies slice r, with its object's CRC32C when
// the page checksums give it.
func (f *FS) newJob(r SliceRef) jobValue {
	j := jobValue{id: r.ID, size: int64(r.Len)}
	if l := f.sb.Data; l != nil {
		j.crc, j.hasCRC = objectCRC(r.CRCs, j.size, l.PageSize)
	}
	return j
}

func (f *FS) dropReplJob(tx fdbstore.Tx, site string, id uint64, size int64) {
	tx.Clear(f.k.repl(site, id))
	tx.Add(f.k.replStat(site, "jobs"), -1)
	tx.Add(f.k.replStat(site, "bytes"), -size)
}

// jobValue is a replication job row: the object's size, when the job was
// queued, optional fields, and the session that claimed it. Encoded as
// uvarint size, varint enqueue time, then tagged optional fields, then the
// claim (hex, so it never starts with a tag byte): tag 0 and 4 bytes (big
// endian) for the object's CRC32C, tag 1 and a varint for the time before
// which nobody should claim the job again. Rows written before the tags
// existed still decode.
type jobValue struct {
	id      uint64 // from the key, not the value
	size    int64
	enq     int64
	crc     uint32
	hasCRC  bool
	retryAt int64 // unix ns; 0: claimable now
	claim   string
}

const (
	jobTagCRC     = 0
	jobTagRetryAt = 1
)

func (j jobValue) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(j.size))
	b = binary.AppendVarint(b, j.enq)
	if j.hasCRC {
		b = append(b, jobTagCRC)
		b = binary.BigEndian.AppendUint32(b, j.crc)
	}
	if j.retryAt != 0 {
		b = append(b, jobTagRetryAt)
		b = binary.AppendVarint(b, j.retryAt)
	}
	return append(b, j.claim...)
}

// errCorruptJob reports a replication job row that does not decode.
var errCorruptJob = errors.New("corrupt replication job")

// replJob is the job as ReplJob shows it, for site.
func (j jobValue) replJob(site string) ReplJob {
	r := ReplJob{Site: site, ID: j.id, Size: j.size, CRC: j.crc, HasCRC: j.hasCRC}
	if j.enq != 0 { // not queued yet (RepairJob)
		r.Enqueued = time.Unix(0, j.enq)
	}
	return r
}

func decodeJob(b []byte) (jobValue, error) {
	var j jobValue
	s, n := binary.Uvarint(b)
	if n <= 0 {
		return j, errCorruptJob
	}
	e, m := binary.Varint(b[n:])
	if m <= 0 {
		return j, errCorruptJob
	}
	j.size, j.enq = int64(s), e
	rest := b[n+m:]
	for len(rest) > 0 && rest[0] <= jobTagRetryAt {
		switch rest[0] {
		case jobTagCRC:
			if len(rest) < 5 {
				return j, errCorruptJob
			}
			j.crc, j.hasCRC = binary.BigEndian.Uint32(rest[1:5]), true
			rest = rest[5:]
		case jobTagRetryAt:
			t, k := binary.Varint(rest[1:])
			if k <= 0 {
				return j, errCorruptJob
			}
			j.retryAt = t
			rest = rest[1+k:]
		}
	}
	j.claim = string(rest)
	return j, nil
}

// ReplJob is one object to copy to a site.
type ReplJob struct {
	Site     string
	ID       uint64
	Size     int64
	Enqueued time.Time
	// CRC is the whole object's CRC32C, when HasCRC: a copy is checked
	// against it before it is stored (a repair queued after a ranged read
	// has none).
	CRC    uint32
	HasCRC bool
}

// claimScan bounds the job rows one claim reads past others' claims.
const claimScan = 1000

// ClaimReplication claims up to limit jobs of site for this client: jobs
// no one holds, held by a session that no longer exists, or already held
// by this client (a retry).
func (f *FS) ClaimReplication(ctx context.Context, site string, limit int) ([]ReplJob, error) {
	var out []ReplJob
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		out = out[:0]
		live := map[string]bool{}
		now := time.Now().UnixNano()
		b, e := f.k.replRange(site)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: claimScan}) {
			if err != nil {
				return err
			}
			j, err := decodeJob(kv.Value)
			if err != nil {
				return err
			}
			if j.retryAt > now {
				continue // failed for want of a good copy: not yet
			}
			if j.claim != "" && j.claim != f.sess.id {
				ok, seen := live[j.claim]
				if !seen {
					v, err := tx.Get(f.k.session(j.claim))
					if err != nil {
						return err
					}
					ok = v != nil
					live[j.claim] = ok
				}
				if ok {
					continue
				}
			}
			id, err := f.lastID(kv.Key)
			if err != nil {
				return err
			}
			if j.claim != f.sess.id || j.retryAt != 0 {
				j.claim, j.retryAt = f.sess.id, 0
				tx.Set(kv.Key, j.encode())
			}
			j.id = id
			out = append(out, j.replJob(site))
			if len(out) == limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// ReleaseReplication gives up this client's claims on jobs (copies that
// failed here), so that another client, which may reach a source this one
// cannot, takes them while this one backs off. With wait > 0 (no site had
// a good copy) nobody claims them again before wait has passed, so that
// jobs which cannot succeed yet do not take the head of the queue from
// those that can.
func (f *FS) ReleaseReplication(ctx context.Context, jobs []ReplJob, wait time.Duration) error {
	if len(jobs) == 0 {
		return nil
	}
	retryAt := int64(0)
	if wait > 0 {
		retryAt = time.Now().Add(wait).UnixNano()
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		for _, job := range jobs {
			v, err := tx.Get(f.k.repl(job.Site, job.ID))
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			j, err := decodeJob(v)
			if err != nil {
				return err
			}
			if j.claim == f.sess.id {
				j.claim, j.retryAt = "", retryAt
				tx.Set(f.k.repl(job.Site, job.ID), j.encode())
			}
		}
		return nil
	})
}

// FinishReplication records that job's object is on its site. When the
// job was cancelled meanwhile (the slice was deleted), the copy just made
// must go too: it queues the object's deletion from the site and reports
// false.
func (f *FS) FinishReplication(ctx context.Context, job ReplJob) (bool, error) {
	live := false
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.repl(job.Site, job.ID))
		if err != nil {
			return err
		}
		site, err := tx.Get(f.k.site(job.Site))
		if err != nil {
			return err
		}
		live = v != nil
		if live {
			j, err := decodeJob(v)
			if err != nil {
				return err
			}
			f.dropReplJob(tx, job.Site, job.ID, j.size)
		} else if site != nil {
			tx.Set(f.k.sdel(job.Site, job.ID), nil)
		}
		return nil
	})
	return live, err
}

// RepairJob is the copy of slice ref to site that QueueRepair takes, with
// the object's CRC32C when ref's page checksums give it.
func (f *FS) RepairJob(site string, ref SliceRef) ReplJob { return f.newJob(ref).replJob(site) }

// QueueRepair queues a fresh copy of job.ID to job.Site, whose copy was
// found bad or missing; with job.HasCRC the copy is checked against it. A
// slice on its way out (queued for deletion anywhere) is left alone: a copy
// would outlive the deletion there.
func (f *FS) QueueRepair(ctx context.Context, job ReplJob) error {
	id, site := job.ID, job.Site
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		recs, err := f.sitesTx(tx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(recs, func(r SiteRecord) bool { return r.Name == site }) {
			return nil
		}
		if v, err := tx.Get(f.k.delq(id)); err != nil || v != nil {
			return err
		}
		for _, r := range recs {
			if v, err := tx.Get(f.k.sdel(r.Name, id)); err != nil || v != nil {
				return err
			}
		}
		return f.putReplJob(tx, site, jobValue{id: id, size: job.Size, crc: job.CRC, hasCRC: job.HasCRC})
	})
}

// FanOutDeletion turns the deletion of slice id into one deletion row per
// site, cancelling its pending replication jobs, and returns the sites.
func (f *FS) FanOutDeletion(ctx context.Context, id uint64) ([]string, error) {
	var names []string
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		names = names[:0]
		recs, err := f.sitesTx(tx)
		if err != nil {
			return err
		}
		for _, s := range recs {
			names = append(names, s.Name)
			v, err := tx.Get(f.k.repl(s.Name, id))
			if err != nil {
				return err
			}
			if v != nil {
				j, err := decodeJob(v)
				if err != nil {
					return err
				}
				f.dropReplJob(tx, s.Name, id, j.size)
			}
			tx.Set(f.k.sdel(s.Name, id), nil)
		}
		return nil
	})
	return names, err
}

// SiteDeletions returns up to limit slice ids whose objects site must
// delete.
func (f *FS) SiteDeletions(ctx context.Context, site string, limit int) ([]uint64, error) {
	b, e := f.k.sdelRange(site)
	return f.idsIn(ctx, b, e, limit)
}

// DoneSiteDeletions clears deletion rows of site whose objects are gone.
func (f *FS) DoneSiteDeletions(ctx context.Context, site string, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		for _, id := range ids {
			tx.Clear(f.k.sdel(site, id))
		}
		return nil
	})
}

// Backlog is a site's replication queue as the store sees it.
type Backlog struct {
	Jobs  int64
	Bytes int64
	// Oldest is when the job at the head of the queue was queued (zero
	// when the queue is empty).
	Oldest time.Time
	// Deletions pending on the site (counted up to 10,000).
	Deletions int
	// Backfill is set while the site's backfill scan has not finished.
	Backfill bool
}

// Backlogs returns every site's backlog.
func (f *FS) Backlogs(ctx context.Context) (map[string]Backlog, error) {
	out := map[string]Backlog{}
	err := f.store.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		clear(out)
		recs, err := f.sitesTx(tx)
		if err != nil {
			return err
		}
		for _, s := range recs {
			var bl Backlog
			j, err := tx.Get(f.k.replStat(s.Name, "jobs"))
			if err != nil {
				return err
			}
			by, err := tx.Get(f.k.replStat(s.Name, "bytes"))
			if err != nil {
				return err
			}
			bl.Jobs, bl.Bytes = decI64(j), decI64(by)
			b, e := f.k.replRange(s.Name)
			for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 1}) {
				if err != nil {
					return err
				}
				j, err := decodeJob(kv.Value)
				if err != nil {
					return err
				}
				bl.Oldest = time.Unix(0, j.enq)
			}
			b, e = f.k.sdelRange(s.Name)
			for _, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 10000}) {
				if err != nil {
					return err
				}
				bl.Deletions++
			}
			bf, err := tx.Get(f.k.backfill(s.Name))
			if err != nil {
				return err
			}
			bl.Backfill = bf != nil
			out[s.Name] = bl
		}
		return nil
	})
	return out, err
}

type backfillCursor struct {
	Gen uint64 // the site generation that added the site
	Ino uint64 // next chunk record to scan: (Ino, Idx), from its Ref'th entry
	Idx int64
	Ref int
}

func encodeBackfill(c backfillCursor) []byte {
	b := binary.AppendUvarint(nil, c.Gen)
	b = binary.AppendUvarint(b, c.Ino)
	b = binary.AppendVarint(b, c.Idx)
	return binary.AppendUvarint(b, uint64(c.Ref))
}

func decodeBackfill(b []byte) (backfillCursor, error) {
	var c backfillCursor
	var n int
	if c.Gen, n = binary.Uvarint(b); n <= 0 {
		return c, errors.New("corrupt backfill cursor")
	}
	b = b[n:]
	if c.Ino, n = binary.Uvarint(b); n <= 0 {
		return c, errors.New("corrupt backfill cursor")
	}
	b = b[n:]
	if c.Idx, n = binary.Varint(b); n <= 0 {
		return c, errors.New("corrupt backfill cursor")
	}
	ref, n := binary.Uvarint(b[n:])
	if n <= 0 {
		return c, errors.New("corrupt backfill cursor")
	}
	c.Ref = int(ref)
	return c, nil
}

// A backfill step reads at most backfillPage chunk records and queues at
// most backfillJobs copies (a chunk may list thousands of slices), so its
// transaction stays small.
const (
	backfillPage = 200
	backfillJobs = 2000
)

// BackfillState is what one Backfill step found.
type BackfillState int

// Backfill states.
const (
	BackfillDone    BackfillState = iota // no backfill pending
	BackfillMore                         // a page was queued; call again
	BackfillWaiting                      // a mount still writes with an older site set
)

// Backfill advances site's backfill by one page of chunk records, queuing
// a replication job per live slice. For a primary it first waits until
// every mount that writes objects has acknowledged the site set that added
// it (AckSites): from then on their uploads reach the new primary, so
// every slice either is scanned here or was uploaded to it.
func (f *FS) Backfill(ctx context.Context, site string) (BackfillState, error) {
	state := BackfillDone
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		state = BackfillDone
		v, err := tx.Get(f.k.backfill(site))
		if err != nil || v == nil {
			return err
		}
		cur, err := decodeBackfill(v)
		if err != nil {
			return err
		}
		desc, err := tx.Get(f.k.site(site))
		if err != nil {
			return err
		}
		if siteRole(desc) == RolePrimary {
			wait, err := f.writersBehind(tx, cur.Gen)
			if err != nil {
				return err
			}
			if wait {
				state = BackfillWaiting
				return nil
			}
		}
		b := f.k.chunk(cur.Ino, cur.Idx)
		_, e := tuple.Range(f.k.pack("chunk"))
		n, jobs := 0, 0
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: backfillPage}) {
			if err != nil {
				return err
			}
			el, err := tuple.Unpack(kv.Key[len(f.k.prefix):])
			if err != nil || len(el) != 3 {
				return fmt.Errorf("corrupt chunk key")
			}
			ino, _ := el[1].(int64)
			idx, _ := el[2].(int64)
			refs, err := decodeChunk(kv.Value)
			if err != nil {
				return err
			}
			if uint64(ino) != cur.Ino || idx != cur.Idx {
				cur.Ref = 0 // a chunk the last step did not start
			}
			for i := cur.Ref; i < len(refs); i++ {
				if jobs == backfillJobs {
					cur.Ino, cur.Idx, cur.Ref = uint64(ino), idx, i
					tx.Set(f.k.backfill(site), encodeBackfill(cur))
					state = BackfillMore
					return nil
				}
				if r := refs[i]; r.ID != 0 {
					if err := f.putReplJob(tx, site, f.newJob(r)); err != nil {
						return err
					}
					jobs++
				}
			}
			cur.Ino, cur.Idx, cur.Ref = uint64(ino), idx+1, 0
			n++
		}
		if n < backfillPage {
			tx.Clear(f.k.backfill(site))
			return nil
		}
		tx.Set(f.k.backfill(site), encodeBackfill(cur))
		state = BackfillMore
		return nil
	})
	return state, err
}

// writersBehind reports whether a live client that writes objects may
// still commit a slice uploaded with a site set older than gen: it has not
// acknowledged gen, or an upload it started before its acknowledgement
// (an intent below the slice id it recorded) is not committed yet.
func (f *FS) writersBehind(tx fdbstore.Tx, gen uint64) (bool, error) {
	b, e := f.k.siteAckRange()
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
		if err != nil {
			return false, err
		}
		sess, err := f.lastString(kv.Key)
		if err != nil {
			return false, err
		}
		if s, err := tx.Get(f.k.session(sess)); err != nil {
			return false, err
		} else if s == nil {
			continue // gone: fenced, it commits nothing more
		}
		if len(kv.Value) < 16 || decU64(kv.Value[:8]) < gen {
			return true, nil
		}
		mark := decU64(kv.Value[8:16])
		ib, ie := f.k.intentRange(sess)
		for ikv, err := range tx.GetRange(ib, ie, fdbstore.RangeOptions{Limit: 1}) {
			if err != nil {
				return false, err
			}
			id, err := f.lastID(ikv.Key)
			if err != nil {
				return false, err
			}
			if id < mark {
				return true, nil
			}
		}
	}
	return false, nil
}

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

// WatchReplication returns a watch that fires when site's queue changes.
func (f *FS) WatchReplication(ctx context.Context, site string) (fdbstore.Watch, error) {
	w, _, err := f.watch(ctx, f.k.replStat(site, "jobs"))
	return w, err
}

// watch returns a watch on key, which fires when a later commit changes
// it, and the value it had.
func (f *FS) watch(ctx context.Context, key []byte) (fdbstore.Watch, []byte, error) {
	var w fdbstore.Watch
	var v []byte
	err := f.store.Transact(ctx, func(tx fdbstore.Tx) error {
		if w != nil {
			w.Cancel()
		}
		var err error
		if v, err = tx.Get(key); err != nil {
			return err
		}
		w = tx.Watch(key)
		return nil
	})
	if err != nil {
		if w != nil {
			w.Cancel()
		}
		return nil, nil, err
	}
	return w, v, nil
}

// PendingCopies returns the slice ids with a replication job for site.
func (f *FS) PendingCopies(ctx context.Context, site string) (map[uint64]bool, error) {
	b, e := f.k.replRange(site)
	ids, err := f.idsIn(ctx, b, e, 0)
	out := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}
