package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/routing"
)

// localBlocksFS makes a filesystem as a new user does, hafs-mkfs with no
// --bucket in the embedded store, and returns the directory site its large
// bodies go to.
func localBlocksFS(t *testing.T) (*FS, routing.ObjectStore) {
	t.Helper()
	fs := NewFS(t, FSOptions{MkfsDefault: true})
	spec, err := storeurl.Parse(fs.Store)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Scheme != "sqlite" {
		t.Skipf("the local block directory is the embedded store's default; this run's store is %s", spec.Scheme)
	}
	site, err := routing.ParseBucketURL("file://" + filepath.Join(spec.Path+"-blocks", "default"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := routing.OpenSite(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	return fs, obj
}

// TestDefaultLocalBlocks: hafs-mkfs's default keeps small bodies in the
// store and large ones as block files beside it; they read back whole
// after a remount with cold caches, the site shows in hafs status, and
// once the files are removed gc leaves no block file behind.
func TestDefaultLocalBlocks(t *testing.T) {
	requireRoot(t)
	fs, obj := localBlocksFS(t)
	m := fs.Mount(t)
	big := make([]byte, 9<<20+12345) // three objects of 4 MiB, the last short
	_, _ = rand.Read(big)
	small := []byte("a small body stays in the store")
	must(t, os.WriteFile(filepath.Join(m.Dir, "big"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(m.Dir, "small"), small, 0o644))
	if objs := sliceObjects(t, obj); len(objs) < 3 {
		t.Fatalf("a 9 MiB file made %d block files, want at least 3: %v", len(objs), objs)
	}
	if out, err := hafsCLI(t, fs, "site", "list"); err != nil || !strings.Contains(out, "file://") {
		t.Errorf("hafs site list does not show the block directory: %v\n%s", err, out)
	}
	m.Unmount(t)
	dropCaches(t)
	m = fs.Mount(t)
	for name, want := range map[string][]byte{"big": big, "small": small} {
		got, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after a remount: %d bytes, %v; want the %d bytes written", name, len(got), err, len(want))
		}
	}
	must(t, os.Remove(filepath.Join(m.Dir, "big")))
	gcLeavesNoOrphans(t, fs, obj)
	// The mount's deleter empties the durable deletion queue.
	eventually(t, 30*time.Second, func() error {
		if objs := sliceObjects(t, obj); len(objs) != 0 {
			return fmt.Errorf("block files left after the file was removed: %v", objs)
		}
		return nil
	})
}
