package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// settings are the mount's options after flags and -o are merged.
type settings struct {
	store, name                 string
	attrTTL, entryTTL, negTTL   time.Duration
	readOnly, allowOther, debug bool
}

// genericOptions are fstab and mount(8) words that need nothing from
// hafs-fuse: mount(8) acts on some itself (noauto, nofail, _netdev, user),
// and the others describe kernel behaviour FUSE gives anyway or cannot
// change.
var genericOptions = map[string]bool{
	"": true, "rw": true, "defaults": true, "auto": true, "noauto": true, "nofail": true, "_netdev": true,
	"user": true, "nouser": true, "users": true, "owner": true, "group": true, "exec": true, "noexec": true,
	"suid": true, "nosuid": true, "dev": true, "nodev": true, "async": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nodiratime": true, "lazytime": true,
	"nolazytime": true, "loud": true, "silent": true,
}

func parseSettings(c *cli.Context) (settings, error) {
	s := settings{
		store: c.String("store"), name: c.String("name"),
		attrTTL: c.Duration("attr-timeout"), entryTTL: c.Duration("entry-timeout"), negTTL: c.Duration("negative-timeout"),
		readOnly: c.Bool("read-only"), allowOther: c.Bool("allow-other"), debug: c.Bool("debug"),
	}
	for _, group := range c.StringSlice("o") {
		for _, opt := range strings.Split(group, ",") {
			k, v, hasValue := strings.Cut(strings.TrimSpace(opt), "=")
			var err error
			switch k {
			case "ro":
				s.readOnly = true
			case "allow_other":
				s.allowOther = true
			case "debug":
				s.debug = true
			case "store":
				s.store = v
			case "name":
				s.name = v
			case "attr_timeout":
				s.attrTTL, err = parseTTL(v)
			case "entry_timeout":
				s.entryTTL, err = parseTTL(v)
			case "negative_timeout":
				s.negTTL, err = parseTTL(v)
			default:
				err = setFlagOption(c, k, v, hasValue)
			}
			if err != nil {
				return s, fmt.Errorf("mount option %s: %w", k, err)
			}
		}
	}
	return s, nil
}

// errUnknownOption is an -o word that is neither a mount(8) word nor one
// of hafs-fuse's flags.
var errUnknownOption = errors.New("unknown mount option")

// setFlagOption applies -o key[=value] as the flag of the same name with
// dashes (cache_dir=/x is --cache-dir /x, nonempty is --nonempty), so
// every flag can be given in fstab. Generic mount(8) words are ignored, as
// is anything unknown with -s (sloppy), as mount(8) asks of helpers.
func setFlagOption(c *cli.Context, k, v string, hasValue bool) error {
	if genericOptions[k] || strings.HasPrefix(k, "x-") || k == "comment" {
		return nil
	}
	name := strings.ReplaceAll(k, "_", "-")
	for _, f := range c.App.Flags {
		if !hasName(f, name) || name == "o" || name == "sloppy" {
			continue
		}
		if !hasValue {
			if tv, ok := f.(cli.DocGenerationFlag); ok && tv.TakesValue() {
				return fmt.Errorf("needs a value (%s=...)", k)
			}
			v = "true"
		}
		return c.Set(name, v)
	}
	if c.Bool("sloppy") {
		return nil
	}
	return errUnknownOption
}

func hasName(f cli.Flag, name string) bool {
	for _, n := range f.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// parseTTL accepts a Go duration or plain seconds, as fstab users write.
func parseTTL(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err != nil || secs < 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// helperNames are the names mount(8) runs a helper by: `mount -t hafs`
// runs /sbin/mount.hafs, `mount -t fuse.hafs` runs /sbin/mount.fuse.hafs
// (without it, mount.fuse3 would run a program called hafs: the admin
// tool). Both are links to hafs-fuse.
var helperNames = map[string]bool{"mount.hafs": true, "mount.fuse.hafs": true}

// isMountHelper reports whether the program was run as a mount helper.
func isMountHelper(arg0 string) bool { return helperNames[filepath.Base(arg0)] }

// helperArgs turns mount(8)'s helper command line,
// `mount.hafs SPEC DIR [-sfnv] [-o OPTIONS]`, into hafs-fuse's: the store
// URL from SPEC, the options as -o, and --background, since mount(8) waits
// for its helper to exit. fake is set by -f: mount(8) asks for everything
// but the mount itself.
func helperArgs(args []string) (out []string, fake bool, err error) {
	var pos, opts []string
	var sloppy bool
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o":
			if i+1 >= len(args) {
				return nil, false, errors.New("-o needs a value")
			}
			i++
			opts = append(opts, args[i])
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, a[2:])
		case a == "-t" || a == "-N":
			i++ // the type (we know it) and the namespace (we are in it)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, f := range a[1:] {
				switch f {
				case 'f':
					fake = true
				case 's':
					sloppy = true
				case 'n', 'v':
					// no /etc/mtab to write; verbose changes nothing
				default:
					return nil, false, fmt.Errorf("unknown option -%c (usage: mount.hafs STORE-URL MOUNTPOINT [-sfnv] [-o OPTIONS])", f)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, false, errors.New("usage: mount.hafs STORE-URL MOUNTPOINT [-sfnv] [-o OPTIONS]")
	}
	out = []string{"hafs-fuse", "--background"}
	if sloppy {
		out = append(out, "--sloppy")
	}
	// SPEC is the store URL; "hafs" or "none" leave it to store= or the
	// default, as fstab needs a word in its first field.
	spec := strings.TrimPrefix(pos[0], "hafs#")
	if spec != "hafs" && spec != "none" {
		out = append(out, "--store", spec)
	}
	for _, o := range opts {
		out = append(out, "-o", o)
	}
	return append(out, pos[1]), fake, nil
}
