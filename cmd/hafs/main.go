// Command hafs is the HAFS admin tool: sites, policy, status, fsck and gc.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/cmd/internal/progress"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/s3tier"
)

func main() {
	cliutil.Run(cliutil.Examples(&cli.App{
		Name:  "hafs",
		Usage: "administer a HAFS filesystem",
		Description: "Every subcommand takes --store URL and --name NAME (or HAFS_STORE and\n" +
			"HAFS_NAME in the environment). Object store credentials come from the\n" +
			"standard AWS chain (AWS_ACCESS_KEY_ID..., ~/.aws/credentials).",
		Commands: []*cli.Command{statusCommand(), siteCommand(), policyCommand(), fsckCommand(), gcCommand(),
			configCommand(), dumpCommand(), loadCommand(), serveCommand(), benchCommand(), quotaCommand()},
	}, examples))
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
				bar := progress.New(os.Stderr, "fsck: object references checked", 0)
				n, fixed, err := s3tier.CheckObjects(ctx, m, obj, c.Bool("repair"), os.Stdout, bar)
				bar.Done()
				if err != nil {
					return err
				}
				problems += n - fixed
				if n, fixed, err = s3tier.CheckSites(ctx, m, obj.Sites(), c.Bool("repair"), os.Stdout); err != nil {
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
			&cli.DurationFlag{Name: "grace", Value: time.Hour, Usage: "only objects older than this `DURATION`"},
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
			bar := progress.New(os.Stderr, "gc: objects listed", 0)
			defer bar.Done()
			return s3tier.GC(ctx, m, obj, s3tier.GCOptions{Grace: c.Duration("grace"), DryRun: c.Bool("dry-run"),
				Out: os.Stdout, Progress: os.Stderr, Count: bar})
		}),
	}
}
