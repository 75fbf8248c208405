package storeurl_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hafs/hafs/fdbstore/storeurl"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"", "sqlite:///var/lib/hafs/meta.db", ""},
		{"sqlite:///tmp/x/meta.db", "sqlite:///tmp/x/meta.db", ""},
		{"sqlite:///tmp/x/../meta.db", "sqlite:///tmp/meta.db", ""},
		{"fdb:///etc/foundationdb/fdb.cluster", "fdb:///etc/foundationdb/fdb.cluster", ""},
		{"fdb://", "fdb://", ""},
		{"fdb:///etc/foundationdb/fdb.cluster?prefix=fs1", "fdb:///etc/foundationdb/fdb.cluster?prefix=fs1", ""},
		{"fdb:///etc/foundationdb/fdb.cluster?prefix=", "", "empty prefix"},
		{"fdb:///etc/foundationdb/fdb.cluster?x=1", "", `unknown parameter "x"`},
		{"fdb://host/etc/fdb.cluster", "", "absolute"},
		{"sqlite://host/tmp/meta.db", "", "no host"},
		{"sqlite://relative.db", "", "no host"},
		{"sqlite:relative.db", "", "absolute"},
		{"sqlite:///tmp/dir/", "", "absolute"},
		{"sqlite:///tmp/m.db?x=1", "", "no host, query"},
		{"postgres:///x", "", `unknown scheme "postgres"`},
		{"/var/lib/hafs/meta.db", "", "missing scheme"},
		{"fdb:relative", "", "absolute"},
		{"etcd://h1:2379,h2:2379/fs?probe-interval=100ms", "etcd://h1:2379,h2:2379/fs?probe-interval=100ms", ""},
		{"etcd://h1:2379/fs?probe-interval=1ms", "", "probe-interval"},
		{"etcd://h1:2379/fs?probe-interval=soon", "", "want a duration"},
	}
	for _, tc := range cases {
		spec, err := storeurl.Parse(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) err = %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err == "" && spec.String() != tc.want:
			t.Errorf("Parse(%q) = %s, want %s", tc.in, spec, tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "sub", "meta.db")
	if _, err := storeurl.Open(context.Background(), url, storeurl.Options{}); err == nil {
		t.Fatal("opened a missing store without Create")
	}
	s, err := storeurl.Open(context.Background(), url, storeurl.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = storeurl.Open(context.Background(), url, storeurl.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}
