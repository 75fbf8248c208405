package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:      "config",
		Usage:     "show or change the filesystem's capacity and inode limit",
		UsageText: "hafs config [--store URL] [--name NAME] [--capacity SIZE] [--inodes N]",
		Description: "Without flags, prints the limits and what is used. --capacity SIZE (such as\n" +
			"500G; 0 removes the limit) bounds the allocated bytes, --inodes N (0: none)\n" +
			"the files and directories; past them creates and writes fail with ENOSPC.\n" +
			"Mounted clients follow the change at once. Lowering a limit below what is\n" +
			"used removes nothing: new allocations fail until enough is freed.\n\n" +
			"EXAMPLES:\n   hafs config --capacity 1T --inodes 10000000\n   hafs config --capacity 0",
		Flags: append(cliutil.StoreFlags(),
			&cli.StringFlag{Name: "capacity", Usage: "bound on allocated bytes, `SIZE` (0: none)"},
			&cli.Int64Flag{Name: "inodes", Usage: "bound on inodes, `N` (0: none)"}),
		Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
			l, err := m.Limits(c.Context)
			if err != nil {
				return err
			}
			if c.IsSet("capacity") {
				if l.Capacity, err = cliutil.ParseSize(c.String("capacity")); err != nil {
					return fmt.Errorf("--capacity: %w", err)
				}
			}
			if c.IsSet("inodes") {
				if l.Inodes = c.Int64("inodes"); l.Inodes < 0 {
					return fmt.Errorf("--inodes %d: must not be negative", l.Inodes)
				}
			}
			if c.IsSet("capacity") || c.IsSet("inodes") {
				if err := m.SetLimits(c.Context, l); err != nil {
					return err
				}
			}
			st, err := m.Statfs(c.Context)
			if err != nil {
				return err
			}
			limit := func(v int64, s string) string {
				if v == 0 {
					return "none"
				}
				return s
			}
			fmt.Printf("capacity: %s (%s used, %s free)\n", limit(st.Limits.Capacity, cliutil.FormatSize(st.Limits.Capacity)),
				cliutil.FormatSize(st.Alloc), cliutil.FormatSize(int64(min(st.Avail, 1<<62))))
			fmt.Printf("inodes:   %s (%d used)\n", limit(st.Limits.Inodes, fmt.Sprint(st.Limits.Inodes)), st.Inodes)
			return nil
		}),
	}
}
