// Command hafs-mkfs creates a HAFS filesystem in a metadata store.
package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/fdbstore/meta"
)

func main() {
	cliutil.Run(&cli.App{
		Name:      "hafs-mkfs",
		Usage:     "create a HAFS filesystem",
		UsageText: "hafs-mkfs [--store URL] [--name NAME] [--force]",
		Description: "Creates filesystem NAME (default \"default\") in the metadata store: its superblock,\n" +
			"root directory and counters. With no --store, the embedded store\n" +
			"sqlite:///var/lib/hafs/meta.db is used and created if missing. Without --force,\n" +
			"an existing filesystem of that name is left alone and hafs-mkfs fails;\n" +
			"with --force it is erased first.",
		Flags: append(cliutil.StoreFlags(),
			&cli.BoolFlag{Name: "force", Usage: "erase an existing filesystem of the same name first"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			s, err := cliutil.OpenStore(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			sb, err := meta.Mkfs(c.Context, s, c.String("name"), c.Bool("force"))
			if errors.Is(err, meta.ErrExists) {
				return fmt.Errorf("filesystem %q already exists in %s (use --force to erase it)", c.String("name"), c.String("store"))
			}
			if err != nil {
				return err
			}
			if err := s.Sync(c.Context); err != nil {
				return err
			}
			fmt.Printf("created filesystem %q (uuid %s, block size %d) in %s\n", sb.Name, sb.UUID, sb.BlockSize, c.String("store"))
			return nil
		},
	})
}
