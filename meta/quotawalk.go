package meta

import (
	"context"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// QuotaLimits are the limits QuotaSet gives a directory; zero is none.
type QuotaLimits struct {
	Bytes, Inodes int64
}

// QuotaSet puts a quota on directory dir, or changes its limits. A new
// quota walks the subtree (breadth first, a page of entries per
// transaction), labeling each inode that counted against the enclosing
// quota with dir and adding it to dir's usage; a nested quota found on the
// way becomes dir's child and adds its usage whole. Operations go on
// meanwhile: what is labeled counts against dir, what is not yet against
// the enclosing quota, and a rename between the two is EXDEV. Run again
// after an interruption, it finishes the walk. Lowering a limit below the
// usage removes nothing.
func (f *FS) QuotaSet(ctx context.Context, dir uint64, l QuotaLimits) error {
	if l.Bytes < 0 || l.Inodes < 0 {
		return fmt.Errorf("quota limits must not be negative (bytes %d, inodes %d)", l.Bytes, l.Inodes)
	}
	var walk bool
	var old uint64
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		d, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		r, err := f.quotaRecTx(tx, dir)
		if err != nil {
			return err
		}
		if r != nil && r.State == quotaUnsetting {
			return fmt.Errorf("the quota on directory %d is being unset: run quota unset again first: %w", dir, syscall.EBUSY)
		}
		if r == nil {
			r = &quotaRec{Parent: d.Qid, State: quotaSetting}
			d.Flags |= AttrQuotaDir
			f.putAttr(tx, d)
		}
		r.Bytes, r.Inodes = l.Bytes, l.Inodes
		walk, old = r.State == quotaSetting, r.Parent
		return f.putQuotaRec(tx, dir, r)
	})
	if err != nil || !walk {
		return err
	}
	if err := f.relabel(ctx, dir, old, dir, true); err != nil {
		return fmt.Errorf("quota set on directory %d interrupted (run it again to finish): %w", dir, err)
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		r, err := f.quotaRecTx(tx, dir)
		if err != nil || r == nil {
			return err
		}
		r.State = ""
		return f.putQuotaRec(tx, dir, r)
	})
}

// QuotaUnset removes the quota on directory dir: its flag first (new
// children count against the enclosing quota at once), then the subtree's
// labels move to the enclosing quota in pages (its usage already counts
// them), then the record and counters go. Run again after an interruption,
// it finishes.
func (f *FS) QuotaUnset(ctx context.Context, dir uint64) error {
	var parent uint64
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		d, err := f.dirTx(tx, dir)
		if err != nil {
			return err
		}
		r, err := f.quotaRecTx(tx, dir)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("directory %d has no quota: %w", dir, syscall.ENOENT)
		}
		r.State, parent = quotaUnsetting, r.Parent
		d.Flags &^= AttrQuotaDir
		f.putAttr(tx, d)
		return f.putQuotaRec(tx, dir, r)
	})
	if err != nil {
		return err
	}
	if err := f.relabel(ctx, dir, dir, parent, false); err != nil {
		return fmt.Errorf("quota unset on directory %d interrupted (run it again to finish): %w", dir, err)
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		f.clearQuota(tx, dir)
		return nil
	})
}

// relabel walks the subtree under root, moving every inode labeled from to
// to (count: adding it to to's usage, for a new quota) and re-parenting
// the nested quotas whose parent is from; it descends through the
// directories labeled from or to, not into nested quotas.
func (f *FS) relabel(ctx context.Context, root, from, to uint64, count bool) error {
	queue := []uint64{root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		for after := uint64(0); ; {
			var dirs []uint64
			var last uint64
			err := f.transact(ctx, func(tx fdbstore.Tx) error {
				var err error
				dirs, last, err = f.relabelPage(tx, dir, after, from, to, count)
				return err
			})
			if err != nil {
				return err
			}
			queue = append(queue, dirs...)
			if last == 0 {
				break
			}
			after = last
		}
	}
	return nil
}

// relabelPage relabels one page of dir's entries, in readdir cookie order
// from the cookie after after: an entry created or renamed (within dir, the
// only rename the walk allows between differently labeled places) while
// the walk runs gets a higher cookie than any already seen, so none hides
// behind the walk's position. It returns the directories to descend into
// and the page's last cookie (0: no entry left).
func (f *FS) relabelPage(tx fdbstore.Tx, dir, after, from, to uint64, count bool) (dirs []uint64, last uint64, err error) {
	b, e := f.k.dcookieFrom(dir, after+1)
	type ent struct {
		name string
		ino  uint64
	}
	var ents []ent
	for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: f.page(256, 6)}) {
		if err != nil {
			return nil, 0, err
		}
		kel, err := f.k.unpack(kv.Key)
		if err != nil || len(kel) != 3 {
			return nil, 0, fmt.Errorf("%w: readdir key in directory %d", fdbstore.ErrCorrupt, dir)
		}
		vel, err := tuple.Unpack(kv.Value)
		if err != nil || len(vel) != 3 {
			return nil, 0, fmt.Errorf("%w: readdir entry in directory %d", fdbstore.ErrCorrupt, dir)
		}
		c, _ := kel[2].(int64)
		name, _ := vel[0].(string)
		ino, _ := vel[1].(int64)
		ents = append(ents, ent{name, uint64(ino)})
		last = uint64(c)
	}
	for _, en := range ents {
		a, err := f.getAttr(tx, en.ino)
		if err != nil {
			return nil, 0, fmt.Errorf("directory %d, entry %q: %w", dir, en.name, err)
		}
		descend, err := f.relabelOne(tx, a, from, to, count)
		if err != nil {
			return nil, 0, err
		}
		if descend {
			dirs = append(dirs, a.Ino)
		}
	}
	return dirs, last, nil
}

// reparentQuota makes nested quota q (whose parent was from) a child of
// to, adding its usage to to's when to is a new quota.
func (f *FS) reparentQuota(tx fdbstore.Tx, q, from, to uint64, count bool) error {
	r, err := f.quotaRecTx(tx, q)
	if err != nil || r == nil || r.Parent != from {
		return err
	}
	r.Parent = to
	if count {
		vs, err := fdbstore.GetMany(tx, [][]byte{f.k.quotaUse(q, "alloc"), f.k.quotaUse(q, "inodes")})
		if err != nil {
			return err
		}
		tx.Add(f.k.quotaUse(to, "alloc"), decI64(vs[0]))
		tx.Add(f.k.quotaUse(to, "inodes"), decI64(vs[1]))
	}
	return f.putQuotaRec(tx, q, r)
}

// relabelOne moves inode a from label from to to, and reports whether the
// walk descends into it: a directory labeled from or to (labeled already:
// created since, or by a run interrupted before it listed the directory),
// not a nested quota.
func (f *FS) relabelOne(tx fdbstore.Tx, a *Attr, from, to uint64, count bool) (bool, error) {
	quotaDir := a.Flags&AttrQuotaDir != 0
	switch a.Qid {
	case from:
		a.Qid = to
		f.putAttr(tx, a)
		if count {
			tx.Add(f.k.quotaUse(to, "inodes"), 1)
			if a.Alloc != 0 {
				tx.Add(f.k.quotaUse(to, "alloc"), int64(a.Alloc))
			}
		}
		if quotaDir {
			if err := f.reparentQuota(tx, a.Ino, from, to, count); err != nil {
				return false, err
			}
		}
	case to:
	default:
		return false, nil
	}
	return a.IsDir() && !quotaDir, nil
}
