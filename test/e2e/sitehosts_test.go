package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/test/minio"
)

// TestSiteOutageOnHosts: the object stores are hosts of their own, as in
// a cluster: the primary site's MinIO on host 2, a burst site's on host
// 1, a node writing on host 0, all on one etcd cluster across the three.
// The primary fails twice, two ways only separate hosts can fail: its
// server stopped (connections refused) and its host cut off (packets
// vanish: nothing refuses, every try must time out). Each time a node
// on host 1 reads replicated files from the burst site and a write fails
// with EIO, and once the primary is back writes work again and the other
// node sees them. The times taken are reported; the node mounts during
// each outage. The second outage costs seconds of timeouts (connect and
// read bounds of 3 s each until the primary's breaker opens), so it runs
// only under `make soak`.
func TestSiteOutageOnHosts(t *testing.T) {
	nw, c := hostEtcd(t, 3)
	primary := minio.StartOn(t, nw.Hosts[2].Addr+":9000", nw.Hosts[2].Command)
	burst := minio.StartOn(t, nw.Hosts[1].Addr+":9000", nw.Hosts[1].Command)
	env := primary.Env()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	fs := NewFS(t, FSOptions{Store: c.StoreURL("sites"), Bucket: primary.Endpoint + "/hafs-primary", Env: env})
	if out, err := hafsCLI(t, fs, "site", "add", "--endpoint", burst.Endpoint, "--bucket", "hafs-cloud", "--role", "burst", "cloud"); err != nil {
		t.Fatalf("hafs site add: %v\n%s", err, out)
	}
	writer := fs.MountOn(t, nw.Hosts[0].Command)
	files := writeFiles(t, writer.Dir, 3, 3<<20)
	waitConverged(t, fs, 60*time.Second)

	// outage takes the primary down; the reading node mounts during it.
	outage := func(what string, down, up func()) {
		t.Helper()
		down()
		start := time.Now()
		reader := fs.MountOn(t, nw.Hosts[1].Command)
		t.Logf("%s: a node mounted in %s", what, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		checkFiles(t, reader.Dir, files)
		t.Logf("%s: %d replicated files (%d MiB) read from the burst site in %s", what, len(files), len(files)*3, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		wantWriteEIO(t, filepath.Join(reader.Dir, "while-down"), 6<<20, "with the primary down")
		t.Logf("%s: a 6 MiB write failed with EIO after %s", what, time.Since(start).Round(time.Millisecond))
		up()
		start = time.Now()
		name := filepath.Join(reader.Dir, "after-"+strings.ReplaceAll(what, " ", "-"))
		body := []byte(strings.Repeat("back ", 1<<20))
		// The primary's breaker reopens the way within seconds; poll.
		eventually(t, 60*time.Second, func() error { return os.WriteFile(name, body, 0o644) })
		t.Logf("%s: writes worked again %s after the primary came back", what, time.Since(start).Round(time.Millisecond))
		// The other node's breaker on the primary may still be open (5 s):
		// the new file's blocks are only on the primary yet.
		eventually(t, 30*time.Second, func() error {
			got, err := os.ReadFile(filepath.Join(writer.Dir, filepath.Base(name)))
			if err == nil && !bytes.Equal(got, body) {
				t.Fatalf("%s: the other node reads %d bytes, not the %d written", name, len(got), len(body))
			}
			return err
		})
		reader.Unmount(t)
	}
	outage("primary server stopped", primary.Stop, primary.Start)
	if os.Getenv("HAFS_SOAK") == "" {
		checkFiles(t, writer.Dir, files)
		t.Log("the outage with the primary's host cut off runs under make soak (HAFS_SOAK): " +
			"its mount and reads wait out seconds of timeouts before the primary's breaker opens")
		return
	}
	// Mounted during the cut: the start-up check of the primary gives up
	// after the router's probe timeout (3 s), well within the harness's
	// 10 s.
	outage("primary host cut off", func() { nw.Cut(nw.Hosts[2]) }, func() {
		nw.Heal(nw.Hosts[2])
		if err := c.WaitHealthy(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	})
	checkFiles(t, writer.Dir, files)
}
