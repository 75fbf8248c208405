// Package cliutil holds what every HAFS binary shares on its command line:
// the --store and --name flags (also read from HAFS_STORE and HAFS_NAME),
// the version, and how errors end a program (one line, non-zero exit).
package cliutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
)

// Version is the HAFS version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// StoreFlags are the flags naming the store and the filesystem in it.
func StoreFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "store", Value: storeurl.Default, EnvVars: []string{"HAFS_STORE"},
			Usage: "metadata store `URL`: sqlite:///path/meta.db, etcd://HOST:2379,.../PREFIX or fdb:///path/fdb.cluster"},
		&cli.StringFlag{Name: "name", Value: "default", EnvVars: []string{"HAFS_NAME"},
			Usage: "filesystem `NAME` within the store"},
	}
}

// OpenStore opens the store named by --store (wrapped for fault injection
// when a test sets EnvTestUnknownResults). An empty one is a mistake (an
// unset variable in a script, say), not a wish for the default.
func OpenStore(c *cli.Context, create bool) (fdbstore.Store, error) {
	if strings.TrimSpace(c.String("store")) == "" {
		return nil, fmt.Errorf("--store is empty: give a store URL such as %s (or leave --store out for that default)", storeurl.Default)
	}
	s, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{Create: create})
	if err != nil {
		return nil, err
	}
	w, err := withTestFaults(s)
	if err != nil {
		s.Close()
		return nil, err
	}
	return w, nil
}

// OpenFS opens the store and the filesystem named by --store and --name.
func OpenFS(c *cli.Context) (*meta.FS, fdbstore.Store, error) {
	s, err := OpenStore(c, false)
	if err != nil {
		return nil, nil, err
	}
	m, err := meta.Open(c.Context, s, c.String("name"))
	if errors.Is(err, meta.ErrNoFS) {
		err = noSuchFS(c, s)
	}
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// noSuchFS says that --name names no filesystem in the store, and which
// ones it holds.
func noSuchFS(c *cli.Context, s fdbstore.Store) error {
	name := c.String("name")
	names, err := meta.Names(c.Context, s, 20)
	switch {
	case err != nil:
		return fmt.Errorf("filesystem %q: %w (create it with hafs-mkfs --name %s)", name, meta.ErrNoFS, name)
	case len(names) == 0:
		return fmt.Errorf("filesystem %q: %w: the store %s holds none (create one with hafs-mkfs)", name, meta.ErrNoFS, c.String("store"))
	}
	return fmt.Errorf("filesystem %q: %w; the store holds: %s (choose one with --name, or create it with hafs-mkfs --name %s)",
		name, meta.ErrNoFS, strings.Join(names, ", "), name)
}

// Run runs app on the process's arguments and exits: 0 on success, 1 with
// a one-line error otherwise. An app without subcommands takes its flags
// after its arguments too (see FlagsFirst).
func Run(app *cli.App) { RunArgs(app, os.Args) }

// RunArgs is Run with the arguments given (args[0] is the program): for a
// binary that rewrites its command line first, as a mount helper does.
func RunArgs(app *cli.App, args []string) {
	app.Version = VersionLine()
	app.EnableBashCompletion = false
	if len(app.Commands) == 0 {
		// A binary without subcommands has no help command: `hafs-fuse
		// help` mounts a directory called help, as it says.
		app.HideHelpCommand = true
	}
	app.UseShortOptionHandling = true
	app.ExitErrHandler = func(*cli.Context, error) {}
	// A mistyped flag or value gets the same one-line error, not the whole
	// help on stdout.
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return fmt.Errorf("%w (see --help)", err)
	}
	if len(app.Commands) == 0 {
		args = FlagsFirst(args, app.Flags)
	} else {
		args = CommandFlagsFirst(args, app.Commands)
	}
	if err := app.RunContext(context.Background(), args); err != nil {
		// One line, even for joined errors.
		msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
		fmt.Fprintf(os.Stderr, "%s: %s\n", app.Name, msg)
		os.Exit(1)
	}
}

// FlagsFirst returns args (args[0] is the program) with every flag moved
// ahead of the positional arguments, each keeping its value and the order
// among its kind. urfave/cli stops parsing flags at the first positional
// argument, but mount(8) and fstab put options last:
// `hafs-fuse MOUNTPOINT -o ro`.
//
// A flag among flags that takes a value (not a bool) owns the argument after
// it unless written --flag=value; a flag not among flags (--help, --version,
// or a mistake for cli to report) is taken to have none. "--" ends the flags:
// the arguments after it stay positional, behind the "--". Only for apps
// without subcommands: a subcommand's name is an argument, and its flags
// are not among flags.
func FlagsFirst(args []string, flags []cli.Flag) []string {
	if len(args) == 0 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range flags {
		v, ok := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = ok && v.TakesValue()
		}
	}
	out := append(make([]string, 0, len(args)), args[0])
	var positional []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			return append(append(append(out, a), positional...), rest[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
		default:
			out = append(out, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !hasValue && takesValue[name] && i+1 < len(rest) {
				i++
				out = append(out, rest[i])
			}
		}
	}
	return append(out, positional...)
}

// CommandFlagsFirst is FlagsFirst for an app with subcommands: it finds
// the (sub)command the arguments name and moves that command's flags ahead
// of its positional arguments, so `hafs site remove NAME --drain=false`
// works as `hafs site remove --drain=false NAME` does.
func CommandFlagsFirst(args []string, cmds []*cli.Command) []string {
	i := 1
	for {
		for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
			i++ // flags before the command name take no value in HAFS
		}
		if i >= len(args) {
			return args
		}
		var cmd *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				cmd = c
			}
		}
		if cmd == nil {
			return args
		}
		i++
		if len(cmd.Subcommands) == 0 {
			rest := FlagsFirst(append([]string{args[0]}, args[i:]...), cmd.Flags)[1:]
			return append(append([]string(nil), args[:i]...), rest...)
		}
		cmds = cmd.Subcommands
	}
}

// WithFS is the action of a command that takes no arguments and works on
// the filesystem named by --store and --name: it opens it, runs fn, and
// closes the store.
func WithFS(fn func(c *cli.Context, m *meta.FS) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", c.Args().First())
		}
		m, s, err := OpenFS(c)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(c, m)
	}
}
