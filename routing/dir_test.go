package routing

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTestDir(t *testing.T) (*Dir, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "blocks")
	site, err := ParseBucketURL("file://" + root)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := OpenSite(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := obj.(*Dir)
	if !ok {
		t.Fatalf("OpenSite(%s) = %T, want *Dir", site, obj)
	}
	return d, root
}

// TestDirSite: a file:// site keeps the ObjectStore contract of an S3
// bucket: ranged reads, short reads at the end, not-found answers, listing
// in key order with the prefix applied.
func TestDirSite(t *testing.T) {
	d, root := openTestDir(t)
	ctx := context.Background()
	if err := d.Health(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("health of a directory not made yet: %v, want ErrNotFound", err)
	}
	if err := Probe(ctx, d); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := d.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := d.Put(ctx, "blk/01/a", data); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data}, {10, 5, data[10:15]}, {9990, -1, data[9990:]}, {9995, 100, data[9995:]}, {20000, 10, nil},
	} {
		got, err := d.Get(ctx, "blk/01/a", c.off, c.n)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Get(%d, %d) = %d bytes, %v; want %d bytes", c.off, c.n, len(got), err, len(c.want))
		}
	}
	if n, err := d.Head(ctx, "blk/01/a"); err != nil || n != int64(len(data)) {
		t.Errorf("Head = %d, %v", n, err)
	}
	// Keys whose order differs from a plain walk: "blk/0" sorts after
	// "blk.x" as a key ('/' > '.'), and "blk/01/b" after "blk/01/a".
	for _, k := range []string{"blk/01/b", "blk.x", "blk/00/z", "other"} {
		if err := d.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) string {
		var keys []string
		if err := d.List(ctx, prefix, func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return strings.Join(keys, ",")
	}
	if got, want := list(""), "blk.x,blk/00/z,blk/01/a,blk/01/b,other"; got != want {
		t.Errorf("List(\"\") = %s, want %s", got, want)
	}
	if got, want := list("blk/01/"), "blk/01/a,blk/01/b"; got != want {
		t.Errorf("List(blk/01/) = %s, want %s", got, want)
	}
	if _, err := d.Get(ctx, "missing", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := d.Head(ctx, "blk/09/missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head of a missing key: %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, "blk/01/a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "blk/01/a"); err != nil {
		t.Errorf("deleting a missing key: %v, want success", err)
	}
	if _, err := d.Get(ctx, "../escape", 0, -1); err == nil {
		t.Error("a key with .. was accepted")
	}
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("temporary files left after the puts: %v %v", ents, err)
	}
}

// TestDirSiteTemps: a Put cut short by a crash leaves a temporary file,
// which a later open removes once it is old, and which no listing shows.
func TestDirSiteTemps(t *testing.T) {
	d, root := openTestDir(t)
	ctx := context.Background()
	if err := d.Put(ctx, "blk/00/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(root, "tmp", "put-old")
	fresh := filepath.Join(root, "tmp", "put-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * dirTempAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := d.List(ctx, "", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "blk/00/a" {
		t.Errorf("List = %v, want only blk/00/a", keys)
	}
	if _, err := OpenDir(d.site); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an old temporary file survived the open: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary file (a Put perhaps still writing) was removed: %v", err)
	}
}

// TestDirSiteRefused: a directory the client may not write is a refusal
// (the mount stops on it), not an outage.
func TestDirSiteRefused(t *testing.T) {
	d, root := openTestDir(t)
	if err := os.WriteFile(root, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Health(context.Background()); !errors.Is(err, ErrRefused) {
		t.Errorf("health of a file in place of the directory: %v, want ErrRefused", err)
	}
}
