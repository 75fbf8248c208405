// Command hafs-mkfs creates a HAFS filesystem in a metadata store.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// Defaults of the data layout (see docs/ARCHITECTURE.md for the figures
// behind them).
const (
	defaultChunk  = 64 << 20
	defaultBlock  = 4 << 20
	defaultPage   = 32 << 10
	defaultInline = 64 << 10
)

func main() {
	cliutil.Run(cliutil.Examples(&cli.App{
		Name:      "hafs-mkfs",
		Usage:     "create a HAFS filesystem",
		UsageText: "hafs-mkfs [--store URL] [--name NAME] [--force] [--bucket ENDPOINT/BUCKET[/PREFIX] | file:///DIR | none]",
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
			"stored. A bucket of file:///DIR keeps the same objects as files in a local\n" +
			"(or shared) directory.\n\n" +
			"Without --bucket, a filesystem in the embedded store keeps its large bodies in\n" +
			"the directory META.DB-blocks/NAME beside the database file; in other stores\n" +
			"all data stays in the metadata store, as it does everywhere with --bucket none.\n\n" +
			"--capacity and --inodes bound the filesystem (writes past them fail with\n" +
			"ENOSPC; df shows them); hafs config changes them later.",
		Flags: append(cliutil.StoreFlags(),
			&cli.BoolFlag{Name: "force", Usage: "erase an existing filesystem of the same name first"},
			&cli.StringFlag{Name: "bucket", Usage: "object store for large bodies: `ENDPOINT/BUCKET[/PREFIX]`, file:///DIR, or none " +
				"(default: a directory beside an embedded store's file, none for other stores)"},
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
			bucket, err := defaultBucket(c.String("bucket"), c.String("store"), c.String("name"))
			if err != nil {
				return err
			}
			if bucket != "" {
				site, err := routing.ParseBucketURL(bucket)
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
				obj, err := routing.OpenSite(c.Context, site)
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
					sb.Data.InlineMax, bucket, sb.Data.ChunkSize, sb.Data.BlockSize, sb.Data.PageSize)
			}
			return nil
		},
	}, map[string][]string{"": {
		"# a filesystem in the default embedded store, all data in it",
		"hafs-mkfs",
		"",
		"# large files in a bucket; credentials from the environment",
		"AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... hafs-mkfs --bucket http://127.0.0.1:9000/hafs",
		"",
		"# a second filesystem, named, on an etcd cluster",
		"hafs-mkfs --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/hafs --name projects",
	}}))
}

// defaultBucket returns the object store hafs-mkfs records: the --bucket
// given, or for the embedded store a directory beside its database file.
// Keeping big bodies as block files there instead of 64 KiB rows in SQLite
// makes big files several times faster (issue 18's figures) at no cost in
// guarantees: the same checksummed slices, gc and fsck. "none" keeps every
// body in the store.
func defaultBucket(flag, store, name string) (string, error) {
	switch flag {
	case "none":
		return "", nil
	case "":
	default:
		return flag, nil
	}
	spec, err := storeurl.Parse(store)
	if err != nil {
		return "", err
	}
	if spec.Scheme != "sqlite" {
		return "", nil
	}
	return "file://" + filepath.Join(spec.Path+"-blocks", name), nil
}
