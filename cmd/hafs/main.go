// Command hafs is the HAFS admin tool: sites, policy, status, fsck and gc.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
)

func main() {
	cliutil.Run(&cli.App{
		Name:  "hafs",
		Usage: "administer a HAFS filesystem",
		Description: "Every subcommand takes --store URL and --name NAME (or HAFS_STORE and\n" +
			"HAFS_NAME in the environment). Object store credentials come from the\n" +
			"standard AWS chain (AWS_ACCESS_KEY_ID..., ~/.aws/credentials).",
		Commands: []*cli.Command{statusCommand(), siteCommand(), policyCommand(), fsckCommand(), gcCommand()},
	})
}

func fsckCommand() *cli.Command {
	return &cli.Command{
		Name:      "fsck",
		Usage:     "check the filesystem's invariants and its objects",
		UsageText: "hafs fsck [--store URL] [--name NAME] [--repair]",
		Description: "Checks the namespace (every entry points to a live inode, nlink equals the\n" +
			"links found, open and orphan records agree, chunk records belong to sliced\n" +
			"files) and that every object a file references exists with the right size.\n" +
			"--repair replaces references to lost objects with holes (the bytes read as\n" +
			"zeros instead of failing) and says what it could not fix. Exits 1 when a\n" +
			"problem remains.",
		Flags: append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "repair", Usage: "fix what can be fixed"}),
		Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
			ctx := c.Context
			rep, err := m.Check(ctx)
			if err != nil {
				return err
			}
			problems := len(rep.Problems)
			for _, p := range rep.Problems {
				fmt.Printf("problem: %s\n", p)
			}
			fmt.Printf("namespace: %d inodes, %d entries, %d open-unlinked, %d problems\n",
				rep.Inodes, rep.Entries, len(rep.Orphans), len(rep.Problems))
			obj, err := cliutil.OpenRouter(ctx, m, nil)
			if err != nil {
				return err
			}
			if obj != nil {
				n, fixed, err := checkObjects(ctx, m, obj, c.Bool("repair"))
				if err != nil {
					return err
				}
				problems += n - fixed
				if n, fixed, err = checkSites(ctx, m, obj, c.Bool("repair")); err != nil {
					return err
				}
				problems += n - fixed
			}
			if problems > 0 {
				return fmt.Errorf("%d problems remain", problems)
			}
			fmt.Println("clean")
			return nil
		}),
	}
}

// checkSites verifies that every other site holds every live object or
// has a copy of it queued (a site whose backfill is unfinished is
// skipped); with repair it queues the missing copies.
func checkSites(ctx context.Context, m *meta.FS, r *routing.Router, repair bool) (int, int, error) {
	sites := r.Sites()
	if len(sites) < 2 {
		return 0, 0, nil
	}
	refs := map[uint64]meta.SliceRef{}
	err := m.ChunkRefs(ctx, func(_ uint64, _ int64, ref meta.SliceRef) error {
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
	problems, fixed := 0, 0
	for _, s := range sites {
		if backlogs[s.Name].Backfill {
			fmt.Printf("site %s: backfill in progress, not checked\n", s.Name)
			continue
		}
		pending, err := m.PendingCopies(ctx, s.Name)
		if err != nil {
			return 0, 0, err
		}
		have := map[uint64]int64{}
		err = s.Store.List(ctx, s3tier.ObjectPrefix, func(o routing.Object) error {
			if id, ok := s3tier.ParseObjectKey(o.Key); ok {
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
			fmt.Printf("problem: site %s lacks object %s of slice %d and no copy is queued\n", s.Name, s3tier.ObjectKey(id), id)
			if repair {
				if err := m.QueueRepair(ctx, m.RepairJob(s.Name, ref)); err != nil {
					return 0, 0, err
				}
				fixed++
				fmt.Printf("repaired: a copy of slice %d to site %s is queued\n", id, s.Name)
			}
		}
		fmt.Printf("site %s: %d objects, %d copies queued, %d missing\n", s.Name, len(have), len(pending), missing)
	}
	return problems, fixed, nil
}

// checkObjects verifies that every referenced slice object exists with its
// recorded length; with repair it turns references to lost objects into
// holes. It returns the problems found and how many it fixed.
func checkObjects(ctx context.Context, m *meta.FS, obj routing.ObjectStore, repair bool) (int, int, error) {
	sizes := map[uint64]int64{}
	err := obj.List(ctx, s3tier.ObjectPrefix, func(o routing.Object) error {
		if id, ok := s3tier.ParseObjectKey(o.Key); ok {
			sizes[id] = o.Size
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	refs, problems, fixed := 0, 0, 0
	err = m.ChunkRefs(ctx, func(ino uint64, idx int64, r meta.SliceRef) error {
		if r.ID == 0 {
			return nil
		}
		refs++
		size, ok := sizes[r.ID]
		if ok && size == int64(r.Len) {
			return nil
		}
		// The listing is one site's; another may hold it (a primary added
		// later lacks what its backfill has not copied yet).
		if hs, err := obj.Head(ctx, s3tier.ObjectKey(r.ID)); err == nil && hs == int64(r.Len) {
			return nil
		}
		problems++
		what := "missing"
		if ok {
			what = fmt.Sprintf("%d bytes, %d recorded", size, r.Len)
		}
		fmt.Printf("problem: inode %d chunk %d: object %s of slice %d: %s\n", ino, idx, s3tier.ObjectKey(r.ID), r.ID, what)
		if repair {
			if done, err := m.DropSlice(ctx, ino, idx, r.ID); err != nil {
				return err
			} else if done {
				fixed++
				fmt.Printf("repaired: inode %d chunk %d: the range of slice %d now reads as zeros\n", ino, idx, r.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	fmt.Printf("objects: %d in the bucket, %d references, %d problems, %d repaired\n", len(sizes), refs, problems, fixed)
	return problems, fixed, nil
}

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:      "gc",
		Usage:     "delete objects nothing references",
		UsageText: "hafs gc [--store URL] [--name NAME] [--grace DURATION] [--dry-run]",
		Description: "Drains the deletion queue, then lists the bucket against the metadata and\n" +
			"deletes every slice object that no file references, no upload in flight\n" +
			"claims and is older than --grace (so an upload that is just committing is\n" +
			"never touched). --dry-run prints what it would delete and deletes nothing.",
		Flags: append(cliutil.StoreFlags(),
			&cli.DurationFlag{Name: "grace", Value: time.Hour, Usage: "only objects older than this"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list, do not delete"}),
		Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
			ctx := c.Context
			obj, err := cliutil.OpenRouter(ctx, m, nil)
			if err != nil {
				return err
			}
			if obj == nil {
				return errors.New("this filesystem keeps all data in the metadata store: nothing to collect")
			}
			return gc(ctx, m, obj, c.Duration("grace"), c.Bool("dry-run"))
		}),
	}
}

// gc drains the deletion queue, then lists every site against the
// metadata and deletes, on that site, the slice objects nothing claims.
func gc(ctx context.Context, m *meta.FS, r *routing.Router, grace time.Duration, dry bool) error {
	if !dry {
		tier, err := s3tier.New(m, r, s3tier.Options{})
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
	cutoff := time.Now().Add(-grace)
	for _, site := range r.Sites() {
		if err := gcSite(ctx, site, known, cutoff, dry); err != nil {
			return fmt.Errorf("site %s: %w", site.Name, err)
		}
	}
	return nil
}

func gcSite(ctx context.Context, site routing.SiteInfo, known map[uint64]bool, cutoff time.Time, dry bool) error {
	var listed, unref, deleted int
	var freed int64
	progress := func(final bool) {
		if final || listed%1000 == 0 {
			fmt.Fprintf(os.Stderr, "\rgc %s: %d objects listed, %d unreferenced, %d deleted (%d bytes)",
				site.Name, listed, unref, deleted, freed)
			if final {
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	err := site.Store.List(ctx, s3tier.ObjectPrefix, func(o routing.Object) error {
		listed++
		defer progress(false)
		id, ok := s3tier.ParseObjectKey(o.Key)
		if !ok || known[id] || o.Modified.After(cutoff) {
			return nil
		}
		unref++
		if dry {
			fmt.Printf("would delete %s from %s (%d bytes, %s old)\n", o.Key, site.Name, o.Size, time.Since(o.Modified).Round(time.Second))
			return nil
		}
		if err := site.Store.Delete(ctx, o.Key); err != nil {
			return err
		}
		deleted++
		freed += o.Size
		return nil
	})
	progress(true)
	return err
}
