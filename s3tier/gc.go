package s3tier

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hafs/hafs/routing"
)

// GCMetadata is what GC needs of the metadata: the data path's (to drain
// the deletion queue) and every object reference.
type GCMetadata interface {
	Metadata
	ObjectRefs(ctx context.Context, fn func(id uint64, length int64, state string) error) error
}

// SiteRouter is an object store over sites that lists them.
type SiteRouter interface {
	routing.ObjectStore
	Sites() []routing.SiteInfo
}

// GCOptions tune GC.
type GCOptions struct {
	// Grace spares objects younger than this, so an upload that is just
	// committing is never touched.
	Grace time.Duration
	// DryRun lists what would be deleted and deletes nothing.
	DryRun bool
	// Out gets what would be deleted; Progress a progress line per site.
	Out, Progress io.Writer
	// Count, if set, counts the objects listed, and Progress gets only
	// each site's final line.
	Count Progress
}

// Progress is told how much of a long job is done (the admin tool's
// progress reporter).
type Progress interface{ Add(n int64) }

// GC drains the deletion queue, then lists every site against the
// metadata and deletes, on that site, the slice objects nothing claims.
func GC(ctx context.Context, m GCMetadata, r SiteRouter, o GCOptions) error {
	if !o.DryRun {
		tier, err := New(m, r, Options{})
		if err != nil {
			return err
		}
		defer tier.Close()
		for {
			n, err := tier.DrainOnce(ctx)
			if err != nil {
				return fmt.Errorf("drain the deletion queue: %w", err)
			}
			if n == 0 {
				break
			}
		}
	}
	known := map[uint64]bool{}
	if err := m.ObjectRefs(ctx, func(id uint64, _ int64, _ string) error { known[id] = true; return nil }); err != nil {
		return err
	}
	cutoff := time.Now().Add(-o.Grace)
	for _, site := range r.Sites() {
		if err := gcSite(ctx, site, known, cutoff, o); err != nil {
			return fmt.Errorf("site %s: %w", site.Name, err)
		}
	}
	return nil
}

// gcSite deletes from one site the objects older than cutoff that are not
// known.
func gcSite(ctx context.Context, site routing.SiteInfo, known map[uint64]bool, cutoff time.Time, o GCOptions) error {
	var listed, unref, deleted int
	var freed int64
	progress := func(final bool) {
		if o.Count != nil && !final {
			o.Count.Add(1)
			return
		}
		if final || listed%1000 == 0 {
			fmt.Fprintf(o.Progress, "\rgc %s: %d objects listed, %d unreferenced, %d deleted (%d bytes)",
				site.Name, listed, unref, deleted, freed)
			if final {
				fmt.Fprintln(o.Progress)
			}
		}
	}
	err := site.Store.List(ctx, ObjectPrefix, func(obj routing.Object) error {
		listed++
		defer progress(false)
		id, ok := ParseObjectKey(obj.Key)
		if !ok || known[id] || obj.Modified.After(cutoff) {
			return nil
		}
		unref++
		if o.DryRun {
			fmt.Fprintf(o.Out, "would delete %s from %s (%d bytes, %s old)\n", obj.Key, site.Name, obj.Size, time.Since(obj.Modified).Round(time.Second))
			return nil
		}
		if err := site.Store.Delete(ctx, obj.Key); err != nil {
			return err
		}
		deleted++
		freed += obj.Size
		return nil
	})
	progress(true)
	return err
}
