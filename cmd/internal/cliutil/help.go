package cliutil

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// Set at build time with -ldflags -X (the Makefile does); without them the
// Go toolchain's record of the build (debug.ReadBuildInfo) fills in what
// it knows.
var (
	// Commit is the source revision the binaries were built from.
	Commit = ""
	// BuildDate is when they were built (UTC, RFC 3339).
	BuildDate = ""
)

// VersionLine is what --version prints after "NAME version ": the
// version, the commit and the build date.
func VersionLine() string {
	commit, date, dirty := Commit, BuildDate, false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" && len(s.Value) >= 12 {
					commit = s.Value[:12]
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true" && Commit == ""
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	} else if dirty {
		commit += "-dirty"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", Version, commit, date)
}

// examplesSection renders examples as a man page's EXAMPLES: each
// example is a comment line (starting with #) or a command, indented.
func examplesSection(examples []string) string {
	if len(examples) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nEXAMPLES:\n")
	for _, e := range examples {
		if e == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("   " + e + "\n")
	}
	return b.String()
}

// AppHelp is the help template of a binary, with its examples last, as a
// man page has them. A binary without subcommands says OPTIONS, not
// GLOBAL OPTIONS.
func AppHelp(single bool, examples ...string) string {
	t := cli.AppHelpTemplate
	if single {
		t = strings.ReplaceAll(t, "GLOBAL OPTIONS:", "OPTIONS:")
	}
	return t + examplesSection(examples)
}

// CommandHelp is the help template of a subcommand with its examples.
func CommandHelp(examples ...string) string {
	return cli.CommandHelpTemplate + examplesSection(examples)
}

// SubcommandHelp is the help template of a command that has subcommands
// (hafs site), with its examples.
func SubcommandHelp(examples ...string) string {
	return cli.SubcommandHelpTemplate + examplesSection(examples)
}

// Examples gives app and its commands EXAMPLES sections: byCommand maps
// a command's path ("" for the binary itself, "site add" for a
// subcommand) to its examples. It returns app.
func Examples(app *cli.App, byCommand map[string][]string) *cli.App {
	app.CustomAppHelpTemplate = AppHelp(len(app.Commands) == 0, byCommand[""]...)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			if ex, ok := byCommand[path]; ok {
				if len(c.Subcommands) > 0 {
					c.CustomHelpTemplate = SubcommandHelp(ex...)
				} else {
					c.CustomHelpTemplate = CommandHelp(ex...)
				}
			}
			walk(path, c.Subcommands)
		}
	}
	walk("", app.Commands)
	return app
}
