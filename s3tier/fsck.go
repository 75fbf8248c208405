package s3tier

import (
	"context"
	"fmt"
	"io"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// ObjectIndex is what fsck's object checks read and repair of the
// metadata: every slice the chunk maps reference, the copies queued per
// site, and the repairs (a hole for a lost object, a queued copy for a
// site that lacks one).
type ObjectIndex interface {
	ChunkRefs(ctx context.Context, fn func(ino uint64, idx int64, r meta.SliceRef) error) error
	DropSlice(ctx context.Context, ino uint64, idx int64, id uint64) (bool, error)
	Backlogs(ctx context.Context) (map[string]meta.Backlog, error)
	PendingCopies(ctx context.Context, site string) (map[uint64]bool, error)
	RepairJob(site string, ref meta.SliceRef) meta.ReplJob
	QueueRepair(ctx context.Context, job meta.ReplJob) error
}

// CheckSites verifies that every other site holds every live object or
// has a copy of it queued (a site whose backfill is unfinished is
// skipped); with repair it queues the missing copies.
func CheckSites(ctx context.Context, m ObjectIndex, sites []routing.SiteInfo, repair bool, out io.Writer) (problems, fixed int, err error) {
	if len(sites) < 2 {
		return 0, 0, nil
	}
	refs := map[uint64]meta.SliceRef{}
	err = m.ChunkRefs(ctx, func(_ uint64, _ int64, ref meta.SliceRef) error {
		if ref.ID != 0 {
			refs[ref.ID] = ref
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	backlogs, err := m.Backlogs(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range sites {
		if backlogs[s.Name].Backfill {
			fmt.Fprintf(out, "site %s: backfill in progress, not checked\n", s.Name)
			continue
		}
		pending, err := m.PendingCopies(ctx, s.Name)
		if err != nil {
			return 0, 0, err
		}
		have := map[uint64]int64{}
		err = s.Store.List(ctx, ObjectPrefix, func(o routing.Object) error {
			if id, ok := ParseObjectKey(o.Key); ok {
				have[id] = o.Size
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("site %s: %w", s.Name, err)
		}
		missing := 0
		for id, ref := range refs {
			if have[id] == int64(ref.Len) || pending[id] {
				continue
			}
			missing++
			problems++
			fmt.Fprintf(out, "problem: site %s lacks object %s of slice %d and no copy is queued\n", s.Name, ObjectKey(id), id)
			if repair {
				if err := m.QueueRepair(ctx, m.RepairJob(s.Name, ref)); err != nil {
					return 0, 0, err
				}
				fixed++
				fmt.Fprintf(out, "repaired: a copy of slice %d to site %s is queued\n", id, s.Name)
			}
		}
		fmt.Fprintf(out, "site %s: %d objects, %d copies queued, %d missing\n", s.Name, len(have), len(pending), missing)
	}
	return problems, fixed, nil
}

// CheckObjects verifies that every referenced slice object exists with its
// recorded length; with repair it turns references to lost objects into
// holes. It returns the problems found and how many it fixed.
// p, if not nil, counts the references checked.
func CheckObjects(ctx context.Context, m ObjectIndex, obj routing.ObjectStore, repair bool, out io.Writer, p Progress) (problems, fixed int, err error) {
	sizes := map[uint64]int64{}
	err = obj.List(ctx, ObjectPrefix, func(o routing.Object) error {
		if id, ok := ParseObjectKey(o.Key); ok {
			sizes[id] = o.Size
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	refs := 0
	err = m.ChunkRefs(ctx, func(ino uint64, idx int64, r meta.SliceRef) error {
		if r.ID == 0 {
			return nil
		}
		refs++
		if p != nil {
			p.Add(1)
		}
		size, ok := sizes[r.ID]
		if ok && size == int64(r.Len) {
			return nil
		}
		// The listing is one site's; another may hold it (a primary added
		// later lacks what its backfill has not copied yet).
		if hs, err := obj.Head(ctx, ObjectKey(r.ID)); err == nil && hs == int64(r.Len) {
			return nil
		}
		problems++
		what := "missing"
		if ok {
			what = fmt.Sprintf("%d bytes, %d recorded", size, r.Len)
		}
		fmt.Fprintf(out, "problem: inode %d chunk %d: object %s of slice %d: %s\n", ino, idx, ObjectKey(r.ID), r.ID, what)
		if repair {
			if done, err := m.DropSlice(ctx, ino, idx, r.ID); err != nil {
				return err
			} else if done {
				fixed++
				fmt.Fprintf(out, "repaired: inode %d chunk %d: the range of slice %d now reads as zeros\n", ino, idx, r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(out, "objects: %d in the bucket, %d references, %d problems, %d repaired\n", len(sizes), refs, problems, fixed)
	return problems, fixed, nil
}
