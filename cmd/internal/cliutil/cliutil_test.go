package cliutil

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestFlagsFirst(t *testing.T) {
	flags := append(StoreFlags(),
		&cli.BoolFlag{Name: "read-only"},
		&cli.DurationFlag{Name: "attr-timeout"},
		&cli.StringSliceFlag{Name: "o"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}},
	)
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"MNT", "MNT"},
		{"--store URL MNT", "--store URL MNT"},
		{"MNT -o ro,attr_timeout=2", "-o ro,attr_timeout=2 MNT"},
		{"--store URL MNT --read-only", "--store URL --read-only MNT"},
		{"MNT --store=URL --name N", "--store=URL --name N MNT"},
		{"MNT -store URL", "-store URL MNT"},                   // one dash works for long names too
		{"MNT --attr-timeout 2s A", "--attr-timeout 2s MNT A"}, // value kept, order of positionals kept
		{"MNT -o ro -o debug", "-o ro -o debug MNT"},
		{"MNT -f", "-f MNT"},                               // alias of a bool: no value
		{"MNT --read-only X", "--read-only MNT X"},         // a bool takes no value
		{"MNT --read-only=false", "--read-only=false MNT"}, // nor moves one that is attached
		{"MNT --unknown X", "--unknown MNT X"},             // unknown: no value, cli rejects it
		{"MNT --help", "--help MNT"},
		{"--version", "--version"},
		{"MNT --store", "--store MNT"},       // value missing: cli reports it
		{"--store -x MNT", "--store -x MNT"}, // a value may start with a dash
		{"A - B -o ro", "-o ro A - B"},       // "-" alone is positional
		{"MNT -- -o ro", "-- MNT -o ro"},     // after "--" nothing is a flag
		{"A --read-only -- B --force", "--read-only -- A B --force"},
		{"--", "--"},
	} {
		in := append([]string{"prog"}, strings.Fields(c.in)...)
		want := append([]string{"prog"}, strings.Fields(c.want)...)
		if got := FlagsFirst(in, flags); !slices.Equal(got, want) {
			t.Errorf("FlagsFirst(%q) = %q, want %q", c.in, got[1:], want[1:])
		}
	}
	if got := FlagsFirst(nil, flags); len(got) != 0 {
		t.Errorf("FlagsFirst(nil) = %q, want nothing", got)
	}
}

// TestFlagsFirstParses checks the reordered arguments with cli itself.
func TestFlagsFirstParses(t *testing.T) {
	var store string
	var ro bool
	var opts, args []string
	app := &cli.App{
		Flags: append(StoreFlags(), &cli.BoolFlag{Name: "read-only"}, &cli.StringSliceFlag{Name: "o"}),
		Action: func(c *cli.Context) error {
			store, ro, opts, args = c.String("store"), c.Bool("read-only"), c.StringSlice("o"), c.Args().Slice()
			return nil
		},
	}
	in := []string{"prog", "MNT", "--store", "sqlite:///x.db", "-o", "ro,attr_timeout=2", "--read-only", "--", "-weird"}
	if err := app.Run(FlagsFirst(in, app.Flags)); err != nil {
		t.Fatal(err)
	}
	if store != "sqlite:///x.db" || !ro || !slices.Equal(opts, []string{"ro", "attr_timeout=2"}) ||
		!slices.Equal(args, []string{"MNT", "-weird"}) {
		t.Errorf("parsed store %q read-only %v -o %q args %q", store, ro, opts, args)
	}
}

func TestCommandFlagsFirst(t *testing.T) {
	cmds := []*cli.Command{
		{Name: "site", Subcommands: []*cli.Command{
			{Name: "remove", Flags: append(StoreFlags(), &cli.BoolFlag{Name: "drain"})},
			{Name: "add", Flags: append(StoreFlags(), &cli.StringFlag{Name: "role"})},
		}},
		{Name: "status", Flags: append(StoreFlags(), &cli.BoolFlag{Name: "json"})},
	}
	for _, c := range []struct{ in, want string }{
		{"hafs", "hafs"},
		{"hafs site remove X --drain=false", "hafs site remove --drain=false X"},
		{"hafs site add X --role burst --store U", "hafs site add --role burst --store U X"},
		{"hafs status --json", "hafs status --json"},
		{"hafs --help site", "hafs --help site"},
		{"hafs nosuch X --json", "hafs nosuch X --json"}, // cli reports it
		{"hafs site add X -- --role", "hafs site add -- X --role"},
	} {
		got := strings.Join(CommandFlagsFirst(strings.Fields(c.in), cmds), " ")
		if got != c.want {
			t.Errorf("CommandFlagsFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseTestFaults(t *testing.T) {
	if r, s, err := parseTestFaults("0.25,7"); err != nil || r != 0.25 || s != 7 {
		t.Errorf(`parseTestFaults("0.25,7") = %v, %v, %v`, r, s, err)
	}
	if r, s, err := parseTestFaults("0.5"); err != nil || r != 0.5 || s != 0 {
		t.Errorf(`parseTestFaults("0.5") = %v, %v, %v`, r, s, err)
	}
	for _, bad := range []string{"x", "0", "1", "-0.1", "0.2,x", "0.2,-1"} {
		if _, _, err := parseTestFaults(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseTestFaults(%q) err = %v, want a one-line error", bad, err)
		}
	}
}
