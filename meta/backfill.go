package meta

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

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
		return c, fmt.Errorf("%w: backfill cursor", fdbstore.ErrCorrupt)
	}
	b = b[n:]
	if c.Ino, n = binary.Uvarint(b); n <= 0 {
		return c, fmt.Errorf("%w: backfill cursor", fdbstore.ErrCorrupt)
	}
	b = b[n:]
	if c.Idx, n = binary.Varint(b); n <= 0 {
		return c, fmt.Errorf("%w: backfill cursor", fdbstore.ErrCorrupt)
	}
	ref, n := binary.Uvarint(b[n:])
	if n <= 0 {
		return c, fmt.Errorf("%w: backfill cursor", fdbstore.ErrCorrupt)
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
	ctx = fdbstore.Background(ctx) // no application waits on it
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
		_, e := f.k.kindRange(kindChunk)
		n, jobs := 0, 0
		// One budget for both: a chunk record read costs one read, a job
		// one read and one write.
		page, jobsMax := f.page(backfillPage, 2), f.page(backfillJobs, 2)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: page}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 3 {
				return fmt.Errorf("%w: chunk key", fdbstore.ErrCorrupt)
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
				if jobs == jobsMax {
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
		if n < page {
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
