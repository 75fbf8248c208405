package main

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
)

func quotaCommand() *cli.Command {
	return &cli.Command{
		Name:  "quota",
		Usage: "set, show and remove per-directory quotas",
		Description: "A quota bounds the allocated bytes and the inodes under a directory (the\n" +
			"directory itself counts against the quota above it). Past a limit, writes\n" +
			"and creates fail with EDQUOT; renames and links across a quota's border fail\n" +
			"with EXDEV (mv then copies). PATH is from the filesystem's root, such as\n" +
			"/projects/a; no mount is needed.",
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "put a quota on a directory, or change its limits",
				UsageText: "hafs quota set [--bytes SIZE] [--inodes N] PATH",
				Description: "On a directory with files, counts what is there first (in pages; run it\n" +
					"again if interrupted). A limit of 0 is none. Lowering a limit below the usage\n" +
					"removes nothing: new allocations fail until enough is freed.",
				Flags: append(cliutil.StoreFlags(),
					&cli.StringFlag{Name: "bytes", Usage: "bound on allocated bytes, `SIZE` such as 10G (0: none)"},
					&cli.Int64Flag{Name: "inodes", Usage: "bound on files and directories, `N` (0: none)"}),
				Action: quotaSet,
			},
			{
				Name:      "get",
				Usage:     "show a directory's quota and its usage",
				UsageText: "hafs quota get PATH",
				Flags:     cliutil.StoreFlags(),
				Action: withPath(func(c *cli.Context, m *meta.FS, ino uint64) error {
					q, err := m.QuotaGet(c.Context, ino)
					if err != nil {
						return noQuota(c, err)
					}
					printQuotas([]meta.Quota{q})
					return nil
				}),
			},
			{
				Name:      "list",
				Usage:     "list every quota with its usage",
				UsageText: "hafs quota list",
				Flags:     cliutil.StoreFlags(),
				Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
					qs, err := m.QuotaList(c.Context)
					if err != nil {
						return err
					}
					printQuotas(qs)
					return nil
				}),
			},
			{
				Name:      "unset",
				Usage:     "remove a directory's quota",
				UsageText: "hafs quota unset PATH",
				Flags:     cliutil.StoreFlags(),
				Action: withPath(func(c *cli.Context, m *meta.FS, ino uint64) error {
					if err := m.QuotaUnset(c.Context, ino); err != nil {
						return noQuota(c, err)
					}
					return nil
				}),
			},
		},
	}
}

// withPath is the action of a command taking one PATH in the filesystem.
func withPath(fn func(c *cli.Context, m *meta.FS, ino uint64) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return errors.New("want exactly one PATH, from the filesystem's root (such as /projects/a)")
		}
		m, s, err := cliutil.OpenFS(c)
		if err != nil {
			return err
		}
		defer s.Close()
		ino, err := m.ResolvePath(c.Context, c.Args().First())
		if err != nil {
			return err
		}
		return fn(c, m, ino)
	}
}

func quotaSet(c *cli.Context) error {
	if !c.IsSet("bytes") && !c.IsSet("inodes") {
		return errors.New("give --bytes SIZE, --inodes N or both")
	}
	var bytes int64
	if c.IsSet("bytes") {
		var err error
		if bytes, err = cliutil.ParseSize(c.String("bytes")); err != nil {
			return fmt.Errorf("--bytes: %w", err)
		}
	}
	if c.Int64("inodes") < 0 {
		return fmt.Errorf("--inodes %d: must not be negative", c.Int64("inodes"))
	}
	return withPath(func(c *cli.Context, m *meta.FS, ino uint64) error {
		// A limit not given stays as it was.
		var l meta.QuotaLimits
		if q, err := m.QuotaGet(c.Context, ino); err == nil {
			l = meta.QuotaLimits{Bytes: q.Bytes, Inodes: q.Inodes}
		}
		if c.IsSet("bytes") {
			l.Bytes = bytes
		}
		if c.IsSet("inodes") {
			l.Inodes = c.Int64("inodes")
		}
		if err := m.QuotaSet(c.Context, ino, l); err != nil {
			return fmt.Errorf("%s: %w", c.Args().First(), err)
		}
		return nil
	})(c)
}

// noQuota names PATH in err, saying so plainly when it has no quota.
func noQuota(c *cli.Context, err error) error {
	if errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("%s has no quota", c.Args().First())
	}
	return fmt.Errorf("%s: %w", c.Args().First(), err)
}

func printQuotas(qs []meta.Quota) {
	limit := func(v int64, s string) string {
		if v == 0 {
			return "none"
		}
		return s
	}
	fmt.Printf("%-30s %12s %12s %10s %10s\n", "PATH", "BYTES", "LIMIT", "INODES", "LIMIT")
	for _, q := range qs {
		path := q.Path
		if path == "" {
			path = fmt.Sprintf("(removed directory %d)", q.Dir)
		}
		if q.State != "" && q.State != "removed" {
			path += " (" + q.State + ")"
		}
		fmt.Printf("%-30s %12d %12s %10d %10s\n", path, q.UsedBytes,
			limit(q.Bytes, fmt.Sprint(q.Bytes)), q.UsedInodes, limit(q.Inodes, fmt.Sprint(q.Inodes)))
	}
}
