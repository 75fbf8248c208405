package main

import (
	"slices"
	"strings"
	"testing"
)

// TestHelperArgs: mount(8)'s helper command line becomes hafs-fuse's.
func TestHelperArgs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		fake bool
		err  string
	}{
		{"/sbin/mount.hafs sqlite:///m.db /mnt/x -o rw,name=a", "hafs-fuse --background --store sqlite:///m.db -o rw,name=a /mnt/x", false, ""},
		{"mount.fuse.hafs etcd://h:2379/p /mnt/x -n -v -o _netdev -o allow_other", "hafs-fuse --background --store etcd://h:2379/p -o _netdev -o allow_other /mnt/x", false, ""},
		{"mount.hafs hafs /mnt/x -ostore=sqlite:///m.db", "hafs-fuse --background -o store=sqlite:///m.db /mnt/x", false, ""},
		{"mount.hafs hafs#sqlite:///m.db /mnt/x -s", "hafs-fuse --background --sloppy --store sqlite:///m.db /mnt/x", false, ""},
		{"mount.hafs none /mnt/x -fv", "hafs-fuse --background /mnt/x", true, ""},
		{"mount.hafs sqlite:///m.db", "", false, "usage: mount.hafs"},
		{"mount.hafs sqlite:///m.db /mnt/x -o", "", false, "-o needs a value"},
		{"mount.hafs sqlite:///m.db /mnt/x -z", "", false, "unknown option -z"},
	} {
		out, fake, err := helperArgs(strings.Fields(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(out, strings.Fields(c.want)) || fake != c.fake {
			t.Errorf("%s:\n got %q fake %v (%v)\nwant %q fake %v", c.in, out, fake, err, c.want, c.fake)
		}
	}
	for name, want := range map[string]bool{"/sbin/mount.hafs": true, "mount.fuse.hafs": true, "/usr/local/bin/hafs-fuse": false, "hafs": false} {
		if isMountHelper(name) != want {
			t.Errorf("isMountHelper(%q) = %v", name, !want)
		}
	}
}

// TestParseTTL: fstab users write plain seconds or Go durations.
func TestParseTTL(t *testing.T) {
	for in, want := range map[string]string{"2": "2s", "0.5": "500ms", "3s": "3s", "1m": "1m0s"} {
		if d, err := parseTTL(in); err != nil || d.String() != want {
			t.Errorf("parseTTL(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"soon", "-1", ""} {
		if _, err := parseTTL(in); err == nil {
			t.Errorf("parseTTL(%q) accepted", in)
		}
	}
}
