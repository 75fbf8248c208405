package meta

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

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
var errCorruptJob = fmt.Errorf("%w: replication job", fdbstore.ErrCorrupt)

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
		// The scan is a snapshot: rows passed over (held, or waiting) add no
		// conflict and cost nothing against the store's limits; a row taken
		// is read again, which makes two claims of it conflict.
		limit = f.page(limit, 2)
		for skv, err := range tx.Snapshot().GetRange(b, e, fdbstore.RangeOptions{Limit: claimScan}) {
			if err != nil {
				return err
			}
			j, err := decodeJob(skv.Value)
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
			id, err := f.lastID(skv.Key)
			if err != nil {
				return err
			}
			kv := fdbstore.KeyValue{Key: skv.Key}
			if kv.Value, err = tx.Get(skv.Key); err != nil {
				return err
			} else if kv.Value == nil {
				continue // finished meanwhile
			}
			if j, err = decodeJob(kv.Value); err != nil {
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

// WatchReplication returns a watch that fires when site's queue changes.
func (f *FS) WatchReplication(ctx context.Context, site string) (fdbstore.Watch, error) {
	w, _, err := f.watch(ctx, f.k.replStat(site, "jobs"))
	return w, err
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
