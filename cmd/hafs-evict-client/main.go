// Command hafs-evict-client fences a client of a HAFS filesystem and
// releases its locks.
package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
)

func main() {
	cliutil.Run(cliutil.Examples(&cli.App{
		Name:      "hafs-evict-client",
		Usage:     "fence a client and release its locks",
		UsageText: "hafs-evict-client [--store URL] [--name NAME] ID",
		Description: "Deletes the session of client ID (see hafs-list-clients) first, so that from\n" +
			"that commit on the client can commit nothing more (its applications get EIO\n" +
			"until it is unmounted and mounted again), then releases its locks and the\n" +
			"files it had open after unlinking them. Running it again is harmless.",
		Flags: cliutil.StoreFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("need exactly one client ID (see hafs-list-clients)")
			}
			m, s, err := cliutil.OpenFS(c)
			if err != nil {
				return err
			}
			defer s.Close()
			cliutil.InstallCleanup(m)
			rep, err := m.Evict(c.Context, c.Args().First())
			if errors.Is(err, meta.ErrNoSession) {
				return fmt.Errorf("no client %q in filesystem %q (see hafs-list-clients)", c.Args().First(), c.String("name"))
			}
			if err != nil {
				return err
			}
			if rep.AlreadyGone {
				fmt.Printf("client %s was already fenced; released %d locks and %d open-unlinked files left over\n", rep.Session, rep.Locks, rep.Orphans)
				return nil
			}
			fmt.Printf("evicted client %s: fenced; released %d locks and %d open-unlinked files\n", rep.Session, rep.Locks, rep.Orphans)
			return nil
		},
	}, map[string][]string{"": {
		"# find the client (its id, host, pid, mount point), then fence it",
		"hafs-list-clients",
		"hafs-evict-client 3f2a9c0d41b7e615",
	}}))
}
