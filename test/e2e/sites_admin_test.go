package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/faultproxy"
)

// TestSitesCLI checks the admin contract: bad input is one line and a
// non-zero exit; policy rules list and explain.
func TestSitesCLI(t *testing.T) {
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	bad := [][]string{
		{"site", "add", "--endpoint", b.proxy.Endpoint, "--bucket", "hafs-x", "--role", "burst", "cloud"},
		{"site", "add", "--endpoint", "http://127.0.0.1:1", "--bucket", "hafs-x", "--role", "burst", "nowhere"},
		{"site", "add", "--endpoint", b.proxy.Endpoint, "--bucket", "hafs-x", "--role", "mirror", "x"},
		{"site", "remove", "primary"},
		{"site", "remove", "missing"},
		{"policy", "add", "--pattern", "/abs", "--ops", "read", "--roles", "burst", "r"},
		{"policy", "explain", "x", "copy"},
	}
	for _, args := range bad {
		out, err := hafsCLI(t, fs, args...)
		if err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("hafs %s: exit %v, output %q; want one line and a failure", strings.Join(args, " "), err, out)
		}
	}
	// Flags after the positional arguments work too.
	if out, err := hafsCLI(t, fs, "policy", "add", "hot", "--pattern", "projects/**", "--ops", "read",
		"--roles", "burst,primary", "--priority", "5"); err != nil {
		t.Fatalf("policy add: %v\n%s", err, out)
	}
	out, err := hafsCLI(t, fs, "policy", "list")
	if err != nil || !strings.Contains(out, "projects/**") {
		t.Errorf("policy list: %v\n%s", err, out)
	}
	out, err = hafsCLI(t, fs, "policy", "explain", "projects/a/b.dat", "read")
	if err != nil || !strings.Contains(out, "rule: hot") || strings.Index(out, "1. cloud") < 0 {
		t.Errorf("policy explain under the rule: %v\n%s", err, out)
	}
	out, err = hafsCLI(t, fs, "policy", "explain", "home/x", "write")
	if err != nil || !strings.Contains(out, "1. primary") || !strings.Contains(out, "asynchronous") {
		t.Errorf("policy explain of a write: %v\n%s", err, out)
	}
	if out, err := hafsCLI(t, fs, "policy", "remove", "hot"); err != nil {
		t.Errorf("policy remove: %v\n%s", err, out)
	}
	out, err = hafsCLI(t, fs, "site", "list")
	if err != nil || !strings.Contains(out, "cloud") || !strings.Contains(out, "burst") {
		t.Errorf("site list: %v\n%s", err, out)
	}
	if out, err := hafsCLI(t, fs, "site", "remove", "cloud", "--drain=false"); err != nil {
		t.Errorf("site remove --drain=false after the name: %v\n%s", err, out)
	}
}

// TestSitesAddWhileMounted adds a burst site and then a second primary
// while a mount writes: the mount picks each up without a restart, the
// backfill copies what was there before, and every block ends on every
// site.
func TestSitesAddWhileMounted(t *testing.T) {
	requireRoot(t)
	a, b, c := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst"), versitySite(t, "second", "primary")
	fs := multiSiteFS(t, a)
	m := fs.Mount(t)
	files := writeFiles(t, m.Dir, 3, 5<<20)
	for _, s := range []*site{b, c} {
		out, err := hafsCLI(t, fs, "site", "add", "--endpoint", s.proxy.Endpoint, "--bucket", s.bucket, "--role", s.role, s.name)
		if err != nil {
			t.Fatalf("site add %s: %v\n%s", s.name, err, out)
		}
		dir := "after-" + s.name
		must(t, os.Mkdir(filepath.Join(m.Dir, dir), 0o755))
		for k, v := range writeFiles(t, filepath.Join(m.Dir, dir), 1, 3<<20) {
			files[dir+"/"+k] = v
		}
	}
	waitConverged(t, fs, 90*time.Second)
	sameObjects(t, a, b, c)
	a.stop()
	dropCaches(t)
	checkFiles(t, m.Dir, files)
	a.start()
}

// BenchmarkSiteReplication measures replication between two local MinIO
// sites: files are written while the burst site refuses connections, then
// it comes back. It reports how long the queue took to start moving
// (resume_s: the worker's back-off and the site's breaker) and the copy
// rate from then until the backlog is empty (MiB/s), read from the store
// every 20 ms. HAFS_BENCH_REPL_MIB sets the amount (default 512).
func BenchmarkSiteReplication(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root to mount")
	}
	mib := 512
	if v := os.Getenv("HAFS_BENCH_REPL_MIB"); v != "" {
		fmt.Sscan(v, &mib)
	}
	ctx := context.Background()
	for range b.N {
		a, c := minioSite(b, "primary", "primary"), minioSite(b, "cloud", "burst")
		fs := multiSiteFS(b, a, c)
		c.proxy.SetMode(faultproxy.Refuse)
		m := fs.Mount(b)
		writeFiles(b, m.Dir, mib/32, 32<<20)
		st, err := storeurl.Open(ctx, fs.Store, storeurl.Options{})
		must(b, err)
		mf, err := meta.Open(ctx, st, "default")
		must(b, err)
		backlog := func() int64 {
			bl, err := mf.Backlogs(ctx)
			must(b, err)
			return bl["cloud"].Bytes
		}
		total := backlog()
		b.ResetTimer()
		start := time.Now()
		c.proxy.SetMode(faultproxy.Pass)
		var moving time.Time
		var left int64
		for {
			left = backlog()
			if moving.IsZero() && left < total {
				moving = time.Now()
			}
			if left == 0 {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("backlog still %d bytes after 10 minutes", left)
			}
			time.Sleep(20 * time.Millisecond) // sampling the backlog for the figure
		}
		end := time.Now()
		b.StopTimer()
		st.Close()
		b.ReportMetric(moving.Sub(start).Seconds(), "resume_s")
		b.ReportMetric(float64(total)/(1<<20)/end.Sub(moving).Seconds(), "MiB/s")
		m.Unmount(b)
	}
}

// TestSitesServerErrors puts the fault proxy's other faults in front of
// the sites: a burst site answering 503 and then stalling builds a backlog
// and shows unhealthy with its breaker open; a primary answering 500
// fails writes with EIO while reads go on from the burst site; with the
// faults gone everything converges.
func TestSitesServerErrors(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	m := fs.Mount(t)
	before := writeFiles(t, m.Dir, 2, 5<<20)
	waitConverged(t, fs, 60*time.Second)

	b.proxy.SetStatus(503)
	must(t, os.Mkdir(filepath.Join(m.Dir, "during"), 0o755))
	during := map[string][]byte{}
	for k, v := range writeFiles(t, filepath.Join(m.Dir, "during"), 2, 5<<20) {
		during["during/"+k] = v
	}
	eventually(t, 30*time.Second, func() error {
		rows, _ := status(t, fs)
		r := rows["cloud"]
		if r["healthy"] != false || r["breaker"] != "open" || r["backlog_jobs"].(float64) == 0 {
			return fmt.Errorf("cloud answering 503: %v; want unhealthy, breaker open, a backlog", r)
		}
		return nil
	})
	b.proxy.SetMode(faultproxy.Stall)
	if rows, _ := status(t, fs); rows["cloud"]["healthy"] != false {
		t.Errorf("a stalled site reported healthy: %v", rows["cloud"])
	}

	b.proxy.SetMode(faultproxy.Pass)
	waitConverged(t, fs, 90*time.Second)
	sameObjects(t, a, b)

	a.proxy.SetStatus(500)
	wantWriteEIO(t, filepath.Join(m.Dir, "refused"), 5<<20, "with the primary answering 500")
	dropCaches(t)
	checkFiles(t, m.Dir, before)
	checkFiles(t, m.Dir, during)
	a.proxy.SetMode(faultproxy.Pass)
	waitHealthy(t, m)
	after := writeFiles(t, m.Dir, 1, 5<<20)
	dropCaches(t)
	checkFiles(t, m.Dir, after)
}
