// Command hafs-mkfs creates a HAFS filesystem in a metadata store.
package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// Defaults of the data layout (see docs/ARCHITECTURE.md for the figures
// behind them).
const (
	defaultChunk  = 64 << 20
	defaultBlock  = 4 << 20
	defaultPage   = 64 << 10
	defaultInline = 64 << 10
)

func main() {
	cliutil.Run(&cli.App{
		Name:      "hafs-mkfs",
		Usage:     "create a HAFS filesystem",
		UsageText: "hafs-mkfs [--store URL] [--name NAME] [--force] [--bucket ENDPOINT/BUCKET[/PREFIX]]",
		Description: "Creates filesystem NAME (default \"default\") in the metadata store: its superblock,\n" +
			"root directory and counters. With no --store, the embedded store\n" +
			"sqlite:///var/lib/hafs/meta.db is used and created if missing. Without --force,\n" +
			"an existing filesystem of that name is left alone and hafs-mkfs fails;\n" +
			"with --force it is erased first (refused while a client mounts it).\n\n" +
			"With --bucket (for example http://127.0.0.1:9000/hafs), files larger than\n" +
			"--inline-max keep their bodies in that S3-compatible bucket, as immutable\n" +
			"objects of at most --block-size bytes, checksummed every --page-size bytes.\n" +
			"The bucket is created if missing and must accept a probe object (put, get,\n" +
			"delete) first. Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID\n" +
			"and AWS_SECRET_ACCESS_KEY, or --profile in ~/.aws/credentials); they are never\n" +
			"stored. Without --bucket all data stays in the metadata store.\n\n" +
			"--capacity and --inodes bound the filesystem (writes past them fail with\n" +
			"ENOSPC; df shows them); hafs config changes them later.",
		Flags: append(cliutil.StoreFlags(),
			&cli.BoolFlag{Name: "force", Usage: "erase an existing filesystem of the same name first"},
			&cli.StringFlag{Name: "bucket", Usage: "object store for large bodies: `ENDPOINT/BUCKET[/PREFIX]`"},
			&cli.StringFlag{Name: "region", Usage: "the bucket's `REGION` (default us-east-1)"},
			&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE` holding the bucket's credentials"},
			&cli.IntFlag{Name: "inline-max", Value: defaultInline, Usage: "files up to `BYTES` stay in the metadata store"},
			&cli.IntFlag{Name: "chunk-size", Value: defaultChunk, Usage: "`BYTES` of a file per slice list"},
			&cli.IntFlag{Name: "block-size", Value: defaultBlock, Usage: "largest object, in `BYTES`"},
			&cli.IntFlag{Name: "page-size", Value: defaultPage, Usage: "checksum unit, in `BYTES`"},
			&cli.StringFlag{Name: "capacity", Usage: "the filesystem's size, `SIZE` such as 100G (default: the embedded store's disk, or unbounded with a bucket)"},
			&cli.Int64Flag{Name: "inodes", Usage: "most files and directories, `N` (default: no limit)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			opts := meta.MkfsOptions{Force: c.Bool("force")}
			if s := c.String("capacity"); s != "" {
				n, err := cliutil.ParseSize(s)
				if err != nil {
					return fmt.Errorf("--capacity: %w", err)
				}
				opts.Limits.Capacity = n
			}
			if opts.Limits.Inodes = c.Int64("inodes"); opts.Limits.Inodes < 0 {
				return fmt.Errorf("--inodes %d: must not be negative", opts.Limits.Inodes)
			}
			if b := c.String("bucket"); b != "" {
				site, err := routing.ParseBucketURL(b)
				if err != nil {
					return err
				}
				site.Name, site.Role = cliutil.PrimarySite, "primary"
				site.Region, site.Profile = c.String("region"), c.String("profile")
				layout := &meta.DataLayout{ChunkSize: int64(c.Int("chunk-size")), BlockSize: int64(c.Int("block-size")),
					PageSize: int64(c.Int("page-size")), InlineMax: int64(c.Int("inline-max"))}
				if err := layout.Validate(); err != nil {
					return err
				}
				obj, err := routing.OpenS3(c.Context, site)
				if err != nil {
					return err
				}
				if err := routing.Probe(c.Context, obj); err != nil {
					return fmt.Errorf("bucket %s is not usable: %w", site, err)
				}
				desc, err := json.Marshal(site)
				if err != nil {
					return err
				}
				opts.Data, opts.Sites = layout, map[string][]byte{site.Name: desc}
			}
			s, err := cliutil.OpenStore(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			sb, err := meta.MkfsWith(c.Context, s, c.String("name"), opts)
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
			if sb.Data != nil {
				fmt.Printf("large files (over %d bytes) go to %s: chunks of %d, objects up to %d, checksums every %d bytes\n",
					sb.Data.InlineMax, c.String("bucket"), sb.Data.ChunkSize, sb.Data.BlockSize, sb.Data.PageSize)
			}
			return nil
		},
	})
}
