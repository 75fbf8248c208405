package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/cmd/internal/progress"
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
)

// dumpTimeout bounds a dump's one read transaction (and a load's
// transactions): a dump reads a single snapshot however long it takes.
const dumpTimeout = 24 * time.Hour

// progressLine returns a meta.Progress that reports the keys written or
// read so far on stderr (a bar redrawn on a terminal, a plain line every
// few seconds otherwise), and a done that prints the final figures.
func progressLine(what string) (meta.Progress, func()) {
	bar := progress.New(os.Stderr, what+" keys", 0)
	var mu sync.Mutex
	var seen, bytes int64
	return func(k, b int64) {
			mu.Lock()
			defer mu.Unlock()
			bar.Add(k - seen)
			seen, bytes = k, b
		}, func() {
			bar.Done()
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(os.Stderr, "%s: %d keys, %s\n", what, seen, cliutil.FormatSize(bytes))
		}
}

func openStoreFor(c *cli.Context, create bool) (fdbstore.Store, error) {
	return storeurl.Open(c.Context, c.String("store"), storeurl.Options{
		Options: fdbstore.Options{Timeout: dumpTimeout}, Create: create})
}

func dumpCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "write the filesystem's metadata to stdout (JSON Lines), to back it up or move it",
		UsageText: "hafs dump [--store URL] [--name NAME] > fs.json",
		Description: "Writes every key of the filesystem but those of running clients (sessions,\n" +
			"open records, locks, uploads in flight): inodes, entries, inline bodies,\n" +
			"xattrs, chunk maps, sites, rules, queues and counters. It reads one snapshot\n" +
			"of the store, so it is consistent while the filesystem is mounted and in\n" +
			"use; the store must allow a read that long (the embedded store and etcd do;\n" +
			"on etcd, a compaction during the dump interrupts it: run it again).\n" +
			"A progress line goes to stderr every few seconds. File bodies in buckets\n" +
			"are not copied: the dump refers to them.\n\n" +
			"EXAMPLES:\n   hafs dump --store sqlite:///var/lib/hafs/meta.db > fs.json\n" +
			"   hafs dump | gzip > fs.json.gz",
		Flags: cliutil.StoreFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			s, err := openStoreFor(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			progress, done := progressLine("dump")
			n, err := meta.Dump(c.Context, s, c.String("name"), os.Stdout, progress)
			if err != nil {
				return err
			}
			done()
			fmt.Fprintf(os.Stderr, "dumped filesystem %q: %d keys\n", c.String("name"), n)
			return nil
		},
	}
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "create a filesystem from a dump read on stdin, in an empty store of any engine",
		UsageText: "hafs load --store URL [--name NAME] < fs.json",
		Description: "Reads what hafs dump wrote and writes it into the store as filesystem NAME\n" +
			"(default: the dumped name). The store must hold nothing of that name. The\n" +
			"superblock goes last, so a load cut short leaves nothing that mounts. Files\n" +
			"that were open but unlinked when the dump was taken are deleted. Run hafs fsck\n" +
			"after a load if you like; mount it as any filesystem. The old filesystem and\n" +
			"the loaded one must not both be used with the same bucket: each would delete\n" +
			"objects the other references.\n\n" +
			"EXAMPLES:\n   hafs load --store etcd://10.0.0.1:2379/hafs < fs.json\n" +
			"   gunzip < fs.json.gz | hafs load --store sqlite:///var/lib/hafs/new.db",
		Flags: cliutil.StoreFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			s, err := openStoreFor(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			name := ""
			if c.IsSet("name") {
				name = c.String("name")
			}
			progress, done := progressLine("load")
			name, n, err := meta.Load(c.Context, s, name, os.Stdin, progress)
			if err != nil {
				return err
			}
			if err := s.Sync(c.Context); err != nil {
				return err
			}
			done()
			fmt.Fprintf(os.Stderr, "loaded filesystem %q: %d keys\n", name, n)
			return nil
		},
	}
}
