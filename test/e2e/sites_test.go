package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
	"github.com/hafs/hafs/test/faultproxy"
	"github.com/hafs/hafs/test/minio"
	"github.com/hafs/hafs/test/versitygw"
)

// site is one real S3 server behind a fault proxy, as a filesystem site.
type site struct {
	name, role, bucket string
	proxy              *faultproxy.Proxy
	stop, start        func()
	// dataDir holds versitygw's objects as plain files (bucket/key).
	dataDir string
}

func minioSite(t testing.TB, name, role string) *site {
	srv := minio.Start(t)
	return &site{name: name, role: role, bucket: "hafs-" + name,
		proxy: faultproxy.Start(t, strings.TrimPrefix(srv.Endpoint, "http://")), stop: srv.Stop, start: srv.Start}
}

func versitySite(t testing.TB, name, role string) *site {
	srv := versitygw.Start(t)
	return &site{name: name, role: role, bucket: "hafs-" + name, dataDir: srv.Dir,
		proxy: faultproxy.Start(t, strings.TrimPrefix(srv.Endpoint, "http://")), stop: srv.Stop, start: srv.Start}
}

// direct opens the site's bucket straight, not through the proxy.
func (s *site) objects(t testing.TB) map[uint64]int64 {
	t.Helper()
	out, err := s.list()
	must(t, err)
	return out
}

// list lists the site's slice objects through its proxy.
func (s *site) list() (map[uint64]int64, error) {
	obj, err := routing.OpenS3(context.Background(), routing.Site{Endpoint: s.proxy.Endpoint, Bucket: s.bucket})
	if err != nil {
		return nil, err
	}
	out := map[uint64]int64{}
	err = obj.List(context.Background(), s3tier.ObjectPrefix, func(o routing.Object) error {
		if id, ok := s3tier.ParseObjectKey(o.Key); ok {
			out[id] = o.Size
		}
		return nil
	})
	return out, err
}

// multiSiteFS makes a filesystem whose first site is given to hafs-mkfs
// (as "primary") and the others added with `hafs site add`.
func multiSiteFS(t testing.TB, sites ...*site) *FS {
	t.Helper()
	env := (&minio.Server{}).Env()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	fs := NewFS(t, FSOptions{Bucket: sites[0].proxy.Endpoint + "/" + sites[0].bucket, Env: env})
	sites[0].name = "primary"
	for _, s := range sites[1:] {
		out, err := hafsCLI(t, fs, "site", "add", "--endpoint", s.proxy.Endpoint, "--bucket", s.bucket, "--role", s.role, s.name)
		if err != nil {
			t.Fatalf("hafs site add %s: %v\n%s", s.name, err, out)
		}
	}
	return fs
}

// hafsCLI runs the admin binary with the filesystem named by HAFS_STORE
// and HAFS_NAME in the environment (part of the command-line contract).
func hafsCLI(t testing.TB, fs *FS, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := hafsRun(t, fs, args...)
	if err != nil {
		return stdout + stderr, err
	}
	return stdout, nil
}

// hafsRun runs the admin binary and returns its stdout and stderr apart.
func hafsRun(t testing.TB, fs *FS, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "hafs"), args...)
	cmd.Env = append(append(os.Environ(), fs.Env...), "HAFS_STORE="+fs.Store)
	if fs.Name != "" {
		cmd.Env = append(cmd.Env, "HAFS_NAME="+fs.Name)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// waitHealthy polls the mount's /healthz until it answers 200.
func waitHealthy(t testing.TB, m *Mount) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if body, code := httpGet(t, metricsURL(t, m)+"/healthz"); code != 200 {
			return fmt.Errorf("/healthz: %d %s", code, body)
		}
		return nil
	})
}

// wantWriteEIO writes and fsyncs n bytes to a new file at path and wants
// EIO from the write, the fsync or the close.
func wantWriteEIO(t testing.TB, path string, n int, when string) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	_, werr := f.Write(bytes.Repeat([]byte("y"), n))
	serr := f.Sync()
	cerr := f.Close()
	if !errors.Is(errors.Join(werr, serr, cerr), unix.EIO) {
		t.Errorf("a write %s: write %v, fsync %v, close %v; want EIO", when, werr, serr, cerr)
	}
}

// statusRow is one site of `hafs status --json`.
type statusRow map[string]any

func status(t testing.TB, fs *FS) (map[string]statusRow, error) {
	t.Helper()
	out, _, err := hafsRun(t, fs, "status", "--json")
	var doc struct {
		Sites []statusRow `json:"sites"`
	}
	if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil {
		t.Fatalf("hafs status --json: %v (%v)\n%s", jerr, err, out)
	}
	rows := map[string]statusRow{}
	want := []string{"backlog_bytes", "backlog_jobs", "breaker", "healthy", "latency_ms", "name", "oldest_job_age_s", "role"}
	for _, r := range doc.Sites {
		keys := make([]string, 0, len(r))
		for k := range r {
			if k != "reason" { // only while unhealthy
				keys = append(keys, k)
			}
		}
		if reason, _ := r["reason"].(string); r["healthy"] == false && reason == "" {
			t.Errorf("hafs status --json: unhealthy site %v without a reason", r["name"])
		}
		sort.Strings(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("hafs status --json site keys %v, want %v", keys, want)
		}
		rows[r["name"].(string)] = r
	}
	return rows, err
}

// waitConverged polls `hafs status` until every site's backlog is empty.
func waitConverged(t testing.TB, fs *FS, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		rows, _ := status(t, fs)
		for name, r := range rows {
			if r["backlog_jobs"].(float64) != 0 {
				return fmt.Errorf("site %s: backlog %v jobs, %v bytes", name, r["backlog_jobs"], r["backlog_bytes"])
			}
		}
		return nil
	})
}

// sameObjects checks that every site holds exactly the primary's objects.
func sameObjects(t testing.TB, sites ...*site) map[uint64]int64 {
	t.Helper()
	var want map[uint64]int64
	// Deletions of overwritten blocks reach the sites one after another:
	// poll until they agree.
	eventually(t, 60*time.Second, func() error {
		var err error
		if want, err = sites[0].list(); err != nil {
			return err
		}
		if len(want) == 0 {
			return errors.New("the primary holds no object")
		}
		for _, s := range sites[1:] {
			got, err := s.list()
			if err != nil {
				return err
			}
			for id, size := range want {
				if got[id] != size {
					return fmt.Errorf("site %s: object %d has %d bytes, the primary %d", s.name, id, got[id], size)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					return fmt.Errorf("site %s: object %d is not on the primary", s.name, id)
				}
			}
		}
		return nil
	})
	return want
}

// writeFiles writes n files of distinct content (a few MiB each) and
// returns their contents by name.
func writeFiles(t testing.TB, dir string, n int, size int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("f%02d", i)
		body := bytes.Repeat([]byte(fmt.Sprintf("%s-%d ", name, i)), size/8)
		must(t, os.WriteFile(filepath.Join(dir, name), body, 0o644))
		files[name] = body
	}
	return files
}

func checkFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		wantContent(t, filepath.Join(dir, name), body)
	}
}

// TestSitesReplicateAndFailover: a primary and a burst site (MinIO) and a
// backup (versitygw) converge after writes; with the primary stopped, the
// replicated files read on from the burst site byte for byte while writes
// fail with EIO; when it is back everything works.
func TestSitesReplicateAndFailover(t *testing.T) {
	requireRoot(t)
	a, b, c := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst"), versitySite(t, "vault", "backup")
	fs := multiSiteFS(t, a, b, c)
	m := fs.Mount(t)
	start := time.Now()
	files := writeFiles(t, m.Dir, 6, 6<<20)
	wrote := time.Since(start)
	waitConverged(t, fs, 60*time.Second)
	total := 0
	for _, f := range files {
		total += len(f)
	}
	t.Logf("replication: %d MiB written in %v, every site converged %v after the first write",
		total>>20, wrote.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	sameObjects(t, a, b, c)

	a.stop()
	dropCaches(t)
	stopped := time.Now()
	var first time.Duration
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil {
			t.Fatalf("read %s with the primary stopped: %v", name, err)
		}
		if first == 0 {
			first = time.Since(stopped)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("read %s with the primary stopped: content differs", name)
		}
	}
	t.Logf("primary stopped: first read served by another site %v later", first.Round(time.Millisecond))
	wantWriteEIO(t, filepath.Join(m.Dir, "while-down"), 6<<20, "with the primary down")
	if rows, err := status(t, fs); err == nil || rows["primary"]["healthy"] != false {
		t.Errorf("hafs status with the primary down: exit %v, primary %v; want a failure and healthy=false", err, rows["primary"])
	}

	a.start()
	waitHealthy(t, m)
	again := writeFiles(t, m.Dir, 1, 5<<20)
	dropCaches(t)
	checkFiles(t, m.Dir, again)
	waitConverged(t, fs, 60*time.Second)
	sameObjects(t, a, b, c)
	// A copy lost from a site: fsck finds it, --repair queues it, the
	// mount copies it.
	// A referenced one: the site may also still hold blocks whose
	// deletion is on its way, which fsck rightly does not ask for.
	var lost uint64
	live := liveSlices(t, fs)
	for id := range c.objects(t) {
		if live[id] {
			lost = id
			break
		}
	}
	if lost == 0 {
		t.Fatal("the backup site holds no referenced block")
	}
	must(t, os.Remove(filepath.Join(c.dataDir, c.bucket, s3tier.ObjectKey(lost))))
	if out, err := hafsCLI(t, fs, "fsck"); err == nil || !strings.Contains(out, "site vault lacks object") {
		t.Errorf("fsck with a copy lost from the backup site: %v\n%s", err, out)
	}
	if out, err := hafsCLI(t, fs, "fsck", "--repair"); err != nil {
		t.Errorf("fsck --repair: %v\n%s", err, out)
	}
	waitConverged(t, fs, 60*time.Second)
	sameObjects(t, a, b, c)
	if out, err := hafsCLI(t, fs, "fsck"); err != nil {
		t.Errorf("fsck after the repair: %v\n%s", err, out)
	}
}

// liveSlices returns the slices the filesystem's chunk maps refer to.
func liveSlices(t testing.TB, fs *FS) map[uint64]bool {
	t.Helper()
	ctx := context.Background()
	st, err := storeurl.Open(ctx, fs.Store, storeurl.Options{})
	must(t, err)
	defer st.Close()
	m, err := meta.Open(ctx, st, "default")
	must(t, err)
	live := map[uint64]bool{}
	must(t, m.ChunkRefs(ctx, func(_ uint64, _ int64, ref meta.SliceRef) error {
		if ref.ID != 0 {
			live[ref.ID] = true
		}
		return nil
	}))
	return live
}

// TestSitesKillDuringBacklog kills the mount with -9 while the burst site
// is unreachable and its backlog grows; after a remount the backlog
// drains to zero and every block is on every site.
func TestSitesKillDuringBacklog(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	b.proxy.SetMode(faultproxy.Refuse)
	m := fs.Mount(t)
	files := writeFiles(t, m.Dir, 5, 5<<20)
	rows, _ := status(t, fs)
	if rows["cloud"]["backlog_jobs"].(float64) == 0 {
		t.Fatalf("no backlog for the unreachable site: %v", rows["cloud"])
	}
	m.Kill(t)
	b.proxy.SetMode(faultproxy.Pass)
	m = fs.Mount(t)
	waitConverged(t, fs, 90*time.Second)
	sameObjects(t, a, b)
	dropCaches(t)
	checkFiles(t, m.Dir, files)
	if out, err := hafsCLI(t, fs, "fsck"); err != nil || !strings.Contains(out, "site cloud: ") {
		t.Errorf("fsck after the backlog drained: %v\n%s", err, out)
	}
}

// siteGets reads a mount's count of GETs sent to site.
func siteGets(t *testing.T, m *Mount, site string) float64 {
	t.Helper()
	body, code := httpGet(t, metricsURL(t, m)+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	prefix := fmt.Sprintf(`hafs_site_request_seconds_count{op="get",site="%s"} `, site)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// readsGoTo reads every file with the page cache dropped and reports which
// site served the GETs.
func readsGoTo(t *testing.T, m *Mount, files map[string][]byte, sites ...string) string {
	t.Helper()
	before := map[string]float64{}
	for _, s := range sites {
		before[s] = siteGets(t, m, s)
	}
	dropCaches(t)
	checkFiles(t, m.Dir, files)
	best, most := "", 0.0
	for _, s := range sites {
		if d := siteGets(t, m, s) - before[s]; d > most {
			best, most = s, d
		}
	}
	return best
}

// TestSitesLatencyMovesReads adds 50 ms to the primary through its proxy:
// reads move to the burst site; when the latency goes, they move back.
func TestSitesLatencyMovesReads(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	m := fs.Mount(t, "--mem-cache-size", "1")
	files := writeFiles(t, m.Dir, 2, 5<<20)
	// A rule pins reads under pinned/ to the primary, whatever latency.
	must(t, os.Mkdir(filepath.Join(m.Dir, "pinned"), 0o755))
	pinned := map[string][]byte{}
	for name, body := range writeFiles(t, filepath.Join(m.Dir, "pinned"), 1, 5<<20) {
		pinned["pinned/"+name] = body
	}
	if out, err := hafsCLI(t, fs, "policy", "add", "--pattern", "pinned/", "--ops", "read", "--roles", "primary", "pin"); err != nil {
		t.Fatalf("policy add: %v\n%s", err, out)
	}
	waitConverged(t, fs, 60*time.Second)
	// Equal latency (within the ranking's 5 ms granularity): by role.
	eventually(t, 30*time.Second, func() error {
		if got := readsGoTo(t, m, files, "primary", "cloud"); got != "primary" {
			return fmt.Errorf("reads with equal latency go to %q, want the primary", got)
		}
		return nil
	})
	a.proxy.SetLatency(50 * time.Millisecond)
	start := time.Now()
	eventually(t, 30*time.Second, func() error {
		if got := readsGoTo(t, m, files, "primary", "cloud"); got != "cloud" {
			return fmt.Errorf("reads still go to %q", got)
		}
		return nil
	})
	t.Logf("reads moved to the burst site %v after 50 ms was added to the primary", time.Since(start).Round(time.Millisecond))
	if got := readsGoTo(t, m, pinned, "primary", "cloud"); got != "primary" {
		t.Errorf("reads under pinned/ went to %q, want the primary the rule names", got)
	}
	a.proxy.SetLatency(0)
	start = time.Now()
	eventually(t, 30*time.Second, func() error {
		if got := readsGoTo(t, m, files, "primary", "cloud"); got != "primary" {
			return fmt.Errorf("reads still go to %q", got)
		}
		return nil
	})
	t.Logf("reads moved back to the primary %v after the latency was removed", time.Since(start).Round(time.Millisecond))
}

// TestSitesCorruptCopyRepaired corrupts a block on the primary (versitygw
// keeps objects as plain files): reads return good data from the burst
// site and the bad copy is rewritten.
func TestSitesCorruptCopyRepaired(t *testing.T) {
	requireRoot(t)
	a, b := versitySite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	// Reads go to the primary first whatever the latency, so the bad copy
	// is the one read.
	if out, err := hafsCLI(t, fs, "policy", "add", "--pattern", "**", "--ops", "read", "--roles", "primary,burst", "--priority", "1", "primary-first"); err != nil {
		t.Fatalf("policy add: %v\n%s", err, out)
	}
	m := fs.Mount(t)
	files := writeFiles(t, m.Dir, 1, 5<<20)
	waitConverged(t, fs, 60*time.Second)
	objs := a.objects(t)
	var path string
	var orig []byte
	for id := range objs {
		path = filepath.Join(a.dataDir, a.bucket, s3tier.ObjectKey(id))
		var err error
		orig, err = os.ReadFile(path)
		must(t, err)
		bad := bytes.Clone(orig)
		bad[len(bad)/2] ^= 0xff
		must(t, os.WriteFile(path, bad, 0o644))
		break
	}
	dropCaches(t)
	checkFiles(t, m.Dir, files)
	eventually(t, 30*time.Second, func() error {
		now, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(now, orig) {
			return fmt.Errorf("the bad copy %s is not repaired yet (%v)", path, err)
		}
		return nil
	})
	body, _ := httpGet(t, metricsURL(t, m)+"/metrics")
	if !strings.Contains(body, `hafs_site_bad_copies_total{site="primary"} 1`) {
		t.Errorf("the bad copy is not counted in hafs_site_bad_copies_total")
	}
}

// TestSitesRemoveDrain removes the only site holding some blocks: the
// drain copies them first, and with that site's server gone every file
// still reads.
func TestSitesRemoveDrain(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "second", "primary")
	fs := multiSiteFS(t, a)
	m := fs.Mount(t)
	files := writeFiles(t, m.Dir, 4, 5<<20)
	m.Unmount(t)
	// A primary added with no mount running: its backfill is queued, and
	// nobody copies it, so the first site holds the only copies.
	if out, err := hafsCLI(t, fs, "site", "add", "--endpoint", b.proxy.Endpoint, "--bucket", b.bucket, "--role", "primary", "second"); err != nil {
		t.Fatalf("site add: %v\n%s", err, out)
	}
	if n := len(b.objects(t)); n != 0 {
		t.Fatalf("the new site already holds %d objects", n)
	}
	out, err := hafsCLI(t, fs, "site", "remove", "primary")
	if err != nil {
		t.Fatalf("site remove: %v\n%s", err, out)
	}
	a.stop()
	m = fs.Mount(t)
	dropCaches(t)
	checkFiles(t, m.Dir, files)
	rows, err := status(t, fs)
	if err != nil || len(rows) != 1 || rows["second"] == nil {
		t.Errorf("status after the removal: %v %v", rows, err)
	}
}

// TestSitesDeleteWhileDown deletes a file while the burst site is down:
// once it is back, the file's blocks go from there too.
func TestSitesDeleteWhileDown(t *testing.T) {
	requireRoot(t)
	a, b := minioSite(t, "primary", "primary"), minioSite(t, "cloud", "burst")
	fs := multiSiteFS(t, a, b)
	m := fs.Mount(t)
	writeFiles(t, m.Dir, 1, 9<<20)
	waitConverged(t, fs, 60*time.Second)
	ids := sameObjects(t, a, b)
	b.proxy.SetMode(faultproxy.Refuse)
	must(t, os.Remove(filepath.Join(m.Dir, "f00")))
	eventually(t, 60*time.Second, func() error {
		left, err := a.list()
		if err != nil {
			return err
		}
		if len(left) != 0 {
			return fmt.Errorf("the primary still holds %d objects of the deleted file", len(left))
		}
		return nil
	})
	b.proxy.SetMode(faultproxy.Pass)
	eventually(t, 60*time.Second, func() error {
		left, err := b.list()
		if err != nil {
			return err
		}
		for id := range ids {
			if _, ok := left[id]; ok {
				return fmt.Errorf("the burst site still holds object %d of the deleted file", id)
			}
		}
		return nil
	})
}
