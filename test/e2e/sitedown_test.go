package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSitesMountWhileDown: a node mounts while the primary site is down,
// as nodes restarting during an outage do. The mount succeeds, replicated
// files are read from the burst site, a write fails with EIO, and once the
// primary is back writes work and every node sees them.
func TestSitesMountWhileDown(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	m := fs.Mount(t)
	files := writeFiles(t, m.Dir, 3, 3<<20)
	waitConverged(t, fs, 60*time.Second)

	a.stop()
	start := time.Now()
	n := fs.Mount(t)
	t.Logf("mounted with the primary down in %v", time.Since(start).Round(time.Millisecond))
	checkFiles(t, n.Dir, files)
	start = time.Now()
	wantWriteEIO(t, filepath.Join(n.Dir, "while-down"), 6<<20, "with the primary down")
	t.Logf("a 6 MiB write with the primary down failed with EIO after %v", time.Since(start).Round(time.Millisecond))

	a.start()
	start = time.Now()
	waitHealthy(t, n)
	t.Logf("the new mount was healthy %v after the primary came back", time.Since(start).Round(time.Millisecond))
	must(t, os.Mkdir(filepath.Join(n.Dir, "after"), 0o755))
	again := writeFiles(t, filepath.Join(n.Dir, "after"), 1, 5<<20)
	dropCaches(t)
	checkFiles(t, filepath.Join(m.Dir, "after"), again)
	checkFiles(t, n.Dir, files)
}

// TestS3MountRefusedCredentials: a site that answers but refuses the
// mount's credentials is a mistake to fix, not an outage to ride out: the
// mount is refused with one line.
func TestS3MountRefusedCredentials(t *testing.T) {
	requireRoot(t)
	fs, _, _ := s3FS(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	dir := PublicTempDir(t)
	r := runBinary(t, FuseBinary, append(fs.storeArgs(), dir)...)
	wantOneLineError(t, FuseBinary, r, "refused the credentials")
	if mounted, err := isFUSEMount(dir); err != nil || mounted {
		t.Errorf("%s is mounted (%v) after a refused mount", dir, err)
	}
}
