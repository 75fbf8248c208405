// Package cliutil holds what every HAFS binary shares on its command line:
// the --store and --name flags (also read from HAFS_STORE and HAFS_NAME),
// the version, and how errors end a program (one line, non-zero exit).
package cliutil

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/meta"
	"github.com/hafs/hafs/fdbstore/storeurl"
)

// Version is the HAFS version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// StoreFlags are the flags naming the store and the filesystem in it.
func StoreFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "store", Value: storeurl.Default, EnvVars: []string{"HAFS_STORE"},
			Usage: "metadata store `URL`: sqlite:///path/meta.db or fdb:///path/fdb.cluster"},
		&cli.StringFlag{Name: "name", Value: "default", EnvVars: []string{"HAFS_NAME"},
			Usage: "filesystem `NAME` within the store"},
	}
}

// OpenStore opens the store named by --store.
func OpenStore(c *cli.Context, create bool) (fdbstore.Store, error) {
	return storeurl.Open(c.Context, c.String("store"), storeurl.Options{Create: create})
}

// OpenFS opens the store and the filesystem named by --store and --name.
func OpenFS(c *cli.Context) (*meta.FS, fdbstore.Store, error) {
	s, err := OpenStore(c, false)
	if err != nil {
		return nil, nil, err
	}
	m, err := meta.Open(c.Context, s, c.String("name"))
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// Run runs app and exits: 0 on success, 1 with a one-line error otherwise.
func Run(app *cli.App) {
	app.Version = Version
	app.EnableBashCompletion = false
	app.UseShortOptionHandling = true
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		os.Exit(1)
	}
}
