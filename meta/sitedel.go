package meta

import (
	"context"

	"github.com/hafs/hafs/fdbstore"
)

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
	return inPages(ids, f.page(len(ids), 1), func(part []uint64) error {
		return f.transact(ctx, func(tx fdbstore.Tx) error {
			for _, id := range part {
				tx.Clear(f.k.sdel(site, id))
			}
			return nil
		})
	})
}
