package routing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/test/teststore"
)

// memStore is an in-memory site whose faults the test switches: these
// unit tests drive the router's failure paths; the end-to-end tests use
// real servers behind a fault proxy.
type memStore struct {
	name string
	mu   sync.Mutex
	objs map[string][]byte
	down bool
	lag  time.Duration
	gets int
}

func newMem(name string) *memStore { return &memStore{name: name, objs: map[string][]byte{}} }

func (s *memStore) fail() error {
	s.mu.Lock()
	down, lag := s.down, s.lag
	s.mu.Unlock()
	time.Sleep(lag) // the fault being simulated: a slow site
	if down {
		return fmt.Errorf("%s: connection refused: %w", s.name, routing.ErrUnavailable)
	}
	return nil
}

func (s *memStore) set(down bool, lag time.Duration) {
	s.mu.Lock()
	s.down, s.lag = down, lag
	s.mu.Unlock()
}

func (s *memStore) Put(_ context.Context, key string, data []byte) error {
	if err := s.fail(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = bytes.Clone(data)
	return nil
}

func (s *memStore) Get(_ context.Context, key string, off, n int64) ([]byte, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	d, ok := s.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", s.name, key, routing.ErrNotFound)
	}
	if n < 0 {
		n = int64(len(d)) - off
	}
	return bytes.Clone(d[off : off+n]), nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	if err := s.fail(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, key)
	return nil
}

func (s *memStore) Head(_ context.Context, key string) (int64, error) {
	if err := s.fail(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.objs[key]
	if !ok {
		return 0, routing.ErrNotFound
	}
	return int64(len(d)), nil
}

func (s *memStore) List(_ context.Context, prefix string, fn func(routing.Object) error) error {
	s.mu.Lock()
	var keys []string
	for k := range s.objs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(routing.Object{Key: k}); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) Health(context.Context) error { return s.fail() }
func (s *memStore) String() string               { return s.name }

func (s *memStore) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objs[key]
	return ok
}

func (s *memStore) poke(key, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = []byte(v)
}

func (s *memStore) getCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func (s *memStore) peek(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.objs[key])
}

func objKey(id uint64) string { return fmt.Sprintf("blk/%d", id) }

func parseKey(k string) (uint64, bool) {
	var id uint64
	_, err := fmt.Sscanf(k, "blk/%d", &id)
	return id, err == nil
}

// rig is a filesystem with object sites held in memory.
type rig struct {
	m     *meta.FS
	sites map[string]*memStore
	r     *routing.Router
	ino   uint64
}

func newRig(t *testing.T, sites ...string) *rig {
	t.Helper()
	ctx := context.Background()
	s := teststore.Open(t, teststore.URL(t))
	layout := meta.DataLayout{ChunkSize: 1 << 20, BlockSize: 1 << 20, PageSize: 4096, InlineMax: 0}
	descs := map[string][]byte{}
	g := &rig{sites: map[string]*memStore{}}
	for _, nr := range sites {
		name, role, _ := strings.Cut(nr, ":")
		descs[name], _ = json.Marshal(routing.Site{Name: name, Role: role, Endpoint: "mem://" + name, Bucket: name})
		g.sites[name] = newMem(name)
	}
	if _, err := meta.MkfsWith(ctx, s, "t", meta.MkfsOptions{Data: &layout, Sites: descs}); err != nil {
		t.Fatal(err)
	}
	var err error
	if g.m, err = meta.Open(ctx, s, "t"); err != nil {
		t.Fatal(err)
	}
	if err := g.m.StartSession(ctx, meta.SessionInfo{Hostname: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	g.r = g.router(t)
	a, err := g.m.Create(ctx, meta.RootIno, "f", meta.NewNode{Mode: 0o100644})
	if err != nil {
		t.Fatal(err)
	}
	g.ino = a.Ino
	return g
}

func (g *rig) router(t *testing.T) *routing.Router {
	t.Helper()
	r, err := routing.NewRouter(context.Background(), g.m, routing.RouterOptions{
		ObjectKey: objKey, ParseKey: parseKey, BreakerThreshold: 2, BreakerCooldown: time.Hour,
		NoGoodCopyWait: noGoodCopyWait,
		Open: func(_ context.Context, s routing.Site) (routing.ObjectStore, error) {
			if g.sites[s.Name] == nil {
				g.sites[s.Name] = newMem(s.Name)
			}
			return g.sites[s.Name], nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// write puts a slice through the router and commits it, as s3tier does.
func (g *rig) write(t *testing.T, data []byte) uint64 {
	t.Helper()
	ctx := context.Background()
	id, err := g.m.NewSlice(ctx, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.r.Put(ctx, objKey(id), data); err != nil {
		t.Fatal(err)
	}
	ref := meta.SliceRef{ID: id, Len: uint32(len(data)), CRCs: pageCRCs(data)}
	if _, _, err := g.m.CommitSlices(ctx, g.ino, []meta.ChunkWrite{{Index: 0, Slice: ref}}, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return id
}

// pageCRCs checksums data in the rig's 4 KiB pages, as s3tier does.
func pageCRCs(data []byte) []uint32 {
	var out []uint32
	for lo := 0; lo < len(data); lo += 4096 {
		out = append(out, crc32.Checksum(data[lo:min(lo+4096, len(data))], crc32.MakeTable(crc32.Castagnoli)))
	}
	return out
}

// noGoodCopyWait is the rig's wait before a job no site had a good copy
// for is tried again.
const noGoodCopyWait = 200 * time.Millisecond

// client opens the filesystem again as another client with its own
// session, as a second mount would.
func (g *rig) client(t *testing.T, host string) *meta.FS {
	t.Helper()
	ctx := context.Background()
	m, err := meta.Open(ctx, g.m.Store(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: host}, nil); err != nil {
		t.Fatal(err)
	}
	return m
}

func (g *rig) backlog(t *testing.T, site string) meta.Backlog {
	t.Helper()
	bl, err := g.m.Backlogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bl[site]
}

// drain runs the router's queued work for site until none is left.
func (g *rig) drain(t *testing.T, site string) error {
	t.Helper()
	for range 100 {
		did, err := g.r.WorkOnce(context.Background(), site)
		if err != nil || !did {
			return err
		}
	}
	t.Fatal("queue never drained")
	return nil
}

func TestWritesReachPrimariesAndReplicate(t *testing.T) {
	g := newRig(t, "a:primary", "b:primary", "c:burst", "d:backup")
	id := g.write(t, []byte("hello"))
	key := objKey(id)
	if !g.sites["a"].has(key) || !g.sites["b"].has(key) {
		t.Fatal("a write was acknowledged before every primary had it")
	}
	if g.sites["c"].has(key) || g.sites["d"].has(key) {
		t.Fatal("replicas were written synchronously")
	}
	for _, s := range []string{"c", "d"} {
		if bl := g.backlog(t, s); bl.Jobs != 1 || bl.Bytes != 5 || bl.Oldest.IsZero() {
			t.Errorf("backlog of %s after one write: %+v, want 1 job of 5 bytes", s, bl)
		}
	}
	if bl := g.backlog(t, "a"); bl.Jobs != 0 {
		t.Errorf("a primary got a replication job: %+v", bl)
	}
	for _, s := range []string{"c", "d"} {
		if err := g.drain(t, s); err != nil {
			t.Fatal(err)
		}
		if !g.sites[s].has(key) {
			t.Errorf("site %s lacks the block after its queue drained", s)
		}
		if bl := g.backlog(t, s); bl.Jobs != 0 || bl.Bytes != 0 {
			t.Errorf("backlog of %s after draining: %+v", s, bl)
		}
	}
}

func TestPrimaryDownFailsWrites(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	g.sites["a"].set(true, 0)
	id, err := g.m.NewSlice(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.r.Put(context.Background(), objKey(id), []byte("abc")); !errors.Is(err, routing.ErrUnavailable) {
		t.Fatalf("put with the primary down: %v, want ErrUnavailable", err)
	}
}

func TestReadFailover(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	id := g.write(t, []byte("payload"))
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	g.sites["a"].set(true, 0)
	for i := range 4 {
		got, err := g.r.Get(context.Background(), objKey(id), 0, -1)
		if err != nil || string(got) != "payload" {
			t.Fatalf("read %d with the primary down: %q, %v", i, got, err)
		}
	}
	if st := g.r.Sites()[0].Breaker; st != routing.Open {
		t.Errorf("breaker of the dead primary after 4 reads: %v, want open", st)
	}
}

func TestNotFoundIsNotAFailure(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	for range 5 {
		if _, err := g.r.Get(context.Background(), objKey(999), 0, -1); !errors.Is(err, routing.ErrNotFound) {
			t.Fatalf("get of a missing object: %v, want ErrNotFound", err)
		}
	}
	for _, s := range g.r.Sites() {
		if s.Breaker != routing.Closed || !s.Healthy {
			t.Errorf("site %s after not-found answers: breaker %v healthy %v", s.Name, s.Breaker, s.Healthy)
		}
	}
}

// TestMissingWhileASiteIsDown: an object the answering sites lack while
// another site is down is ErrPartlyMissing, not ErrNotFound: it may live
// on the site that is down, so nothing may take it as deleted, but a
// reader with a stale plan still knows to read its plan again.
func TestMissingWhileASiteIsDown(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	g.sites["b"].set(true, 0)
	_, err := g.r.Get(context.Background(), objKey(999), 0, -1)
	if !errors.Is(err, routing.ErrPartlyMissing) || errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("get of an object missing on a with b down: %v, want ErrPartlyMissing and not ErrNotFound", err)
	}
}

func TestBadCopyIsReadElsewhereAndRepaired(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	id := g.write(t, []byte("good data"))
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	g.sites["a"].poke(objKey(id), "bad! data")
	verify := func(b []byte) error {
		if string(b) != "good data" {
			return errors.New("checksum mismatch")
		}
		return nil
	}
	got, err := g.r.GetVerified(context.Background(), objKey(id), 0, -1, verify)
	if err != nil || string(got) != "good data" {
		t.Fatalf("verified read with a bad primary copy: %q, %v", got, err)
	}
	if bl := g.backlog(t, "a"); bl.Jobs != 1 {
		t.Fatalf("no repair queued for the bad copy: %+v", bl)
	}
	// The read was of the whole object: the repair carries its checksum.
	jobs, err := g.m.ClaimReplication(context.Background(), "a", 10)
	want := crc32.Checksum([]byte("good data"), crc32.MakeTable(crc32.Castagnoli))
	if err != nil || len(jobs) != 1 || !jobs[0].HasCRC || jobs[0].CRC != want || jobs[0].Size != 9 {
		t.Fatalf("repair job %+v (%v), want one of 9 bytes with CRC32C %08x", jobs, err, want)
	}
	if err := g.drain(t, "a"); err != nil {
		t.Fatal(err)
	}
	if g.sites["a"].peek(objKey(id)) != "good data" {
		t.Errorf("bad copy not repaired: %q", g.sites["a"].peek(objKey(id)))
	}
	// Every copy bad: an error, never the bad data.
	for _, s := range g.sites {
		s.poke(objKey(id), "bad! data")
	}
	if got, err := g.r.GetVerified(context.Background(), objKey(id), 0, -1, verify); err == nil {
		t.Errorf("every copy bad: got %q and no error", got)
	}
}

// TestBadSourceNeverSpreads: a copy job checks the object against the
// CRC32C its slice record gives, so a bad copy on the only source is not
// copied; once the source is good again, the copy goes through.
func TestBadSourceNeverSpreads(t *testing.T) {
	g := newRig(t, "a:primary", "c:burst")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // several pages
	id := g.write(t, data)
	key := objKey(id)
	bad := bytes.Clone(data)
	bad[5000] ^= 1
	g.sites["a"].poke(key, string(bad))
	if err := g.drain(t, "c"); err == nil {
		t.Error("a copy from a bad source succeeded")
	}
	if g.sites["c"].has(key) {
		t.Fatalf("the bad copy spread to c: %q...", g.sites["c"].peek(key)[:16])
	}
	if bl := g.backlog(t, "c"); bl.Jobs != 1 {
		t.Errorf("the copy job is gone after a bad source: %+v", bl)
	}
	// Not tried again at once: the job waits, and the queue drains.
	if err := g.drain(t, "c"); err != nil {
		t.Fatalf("the waiting job was tried again at once: %v", err)
	}
	if g.sites["c"].has(key) {
		t.Fatal("the bad copy spread to c")
	}
	g.sites["a"].poke(key, string(data))
	deadline := time.Now().Add(10 * time.Second)
	for g.sites["c"].peek(key) != string(data) {
		if time.Now().After(deadline) {
			t.Fatal("c never got the good copy after the source was mended")
		}
		if err := g.drain(t, "c"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(noGoodCopyWait / 4) // the job's own wait, which is the point
	}
}

// TestJobsWithoutGoodCopyDoNotBlock: more jobs than one claim takes whose
// only source is bad do not keep the ones behind them from being copied.
func TestJobsWithoutGoodCopyDoNotBlock(t *testing.T) {
	g := newRig(t, "a:primary", "c:burst")
	var bad, good []uint64
	for i := range 40 {
		id := g.write(t, []byte(fmt.Sprintf("block %02d", i)))
		if i < 33 {
			g.sites["a"].poke(objKey(id), "rotten!!")
			bad = append(bad, id)
		} else {
			good = append(good, id)
		}
	}
	for range 3 {
		g.r.WorkOnce(context.Background(), "c") // errors expected: the bad ones
	}
	for _, id := range good {
		if !g.sites["c"].has(objKey(id)) {
			t.Errorf("slice %d, with a good source, was not copied behind %d bad ones", id, len(bad))
		}
	}
	for _, id := range bad {
		if g.sites["c"].has(objKey(id)) {
			t.Errorf("bad slice %d spread", id)
		}
	}
	if bl := g.backlog(t, "c"); bl.Jobs != int64(len(bad)) {
		t.Errorf("backlog %d jobs, want the %d bad ones kept", bl.Jobs, len(bad))
	}
}

// TestCopyReadsPastBadSource: with two primaries and one bad copy, the
// burst site gets the good one.
func TestCopyReadsPastBadSource(t *testing.T) {
	g := newRig(t, "a:primary", "b:primary", "c:burst")
	data := bytes.Repeat([]byte("x"), 10000)
	id := g.write(t, data)
	g.sites["a"].poke(objKey(id), strings.Repeat("y", 10000))
	if err := g.drain(t, "c"); err != nil {
		t.Fatal(err)
	}
	if g.sites["c"].peek(objKey(id)) != string(data) {
		t.Error("c got the bad copy")
	}
}

func TestDeleteReachesSiteThatWasDown(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	id := g.write(t, []byte("x"))
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	g.sites["b"].set(true, 0)
	if err := g.r.Delete(context.Background(), objKey(id)); err != nil {
		t.Fatalf("delete with a site down: %v (the deletion must stay queued for it instead)", err)
	}
	if g.sites["a"].has(objKey(id)) {
		t.Error("the live site still has the deleted block")
	}
	if bl := g.backlog(t, "b"); bl.Deletions != 1 {
		t.Fatalf("deletions queued for the down site: %d, want 1", bl.Deletions)
	}
	// A new router (a remount) while the site is still down keeps it.
	g.r = g.router(t)
	if err := g.drain(t, "b"); err == nil {
		t.Error("draining a down site reported success")
	}
	g.sites["b"].set(false, 0)
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	if g.sites["b"].has(objKey(id)) {
		t.Error("the deleted block came back through the site that was down")
	}
	// A late repair of the deleted slice (a read that raced the deletion,
	// or fsck) must not bring it back either.
	if err := g.m.QueueRepair(context.Background(), meta.ReplJob{Site: "b", ID: id, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	if g.sites["b"].has(objKey(id)) {
		t.Error("a repair brought a deleted block back")
	}
}

func TestDeleteCancelsPendingCopy(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	id := g.write(t, []byte("x"))
	ctx := context.Background()
	jobs, err := g.m.ClaimReplication(ctx, "b", 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	// The copy lands after the deletion was fanned out and done on b.
	if err := g.r.Delete(ctx, objKey(id)); err != nil {
		t.Fatal(err)
	}
	if err := g.sites["b"].Put(ctx, objKey(id), []byte("x")); err != nil {
		t.Fatal(err)
	}
	live, err := g.m.FinishReplication(ctx, jobs[0])
	if err != nil || live {
		t.Fatalf("finish of a cancelled copy: live %v, %v", live, err)
	}
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	if g.sites["b"].has(objKey(id)) {
		t.Error("a copy that raced its block's deletion was left behind")
	}
	if bl := g.backlog(t, "b"); bl.Jobs != 0 || bl.Bytes != 0 {
		t.Errorf("backlog after the cancelled copy: %+v", bl)
	}
}

func TestClaimsExcludeOtherLiveClients(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	g.write(t, []byte("x"))
	ctx := context.Background()
	jobs, err := g.m.ClaimReplication(ctx, "b", 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	other := g.client(t, "other")
	if got, err := other.ClaimReplication(ctx, "b", 10); err != nil || len(got) != 0 {
		t.Fatalf("a second client claimed a job a live client holds: %v %v", got, err)
	}
	if err := g.m.EndSession(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := other.ClaimReplication(ctx, "b", 10); err != nil || len(got) != 1 {
		t.Fatalf("the job of a client that is gone was not claimable: %v %v", got, err)
	}
}

// TestFailedCopiesAreReleased: a client whose copies fail gives up its
// claims, so another live client takes the jobs at once.
func TestFailedCopiesAreReleased(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	g.write(t, []byte("x"))
	g.sites["b"].set(true, 0) // the destination refuses this client's puts
	if err := g.drain(t, "b"); err == nil {
		t.Fatal("copies to a site that is down succeeded")
	}
	ctx := context.Background()
	other := g.client(t, "other")
	if got, err := other.ClaimReplication(ctx, "b", 10); err != nil || len(got) != 1 {
		t.Fatalf("a live client's failed job was not claimable by another: %v %v", got, err)
	}
}

func TestBackfillOfAddedSite(t *testing.T) {
	g := newRig(t, "a:primary")
	var ids []uint64
	for i := range 5 {
		ids = append(ids, g.write(t, []byte{byte(i)}))
	}
	ctx := context.Background()
	desc, _ := json.Marshal(routing.Site{Name: "c", Role: "burst", Endpoint: "mem://c", Bucket: "c"})
	if err := g.m.AddSite(ctx, "c", desc); err != nil {
		t.Fatal(err)
	}
	if err := g.m.AddSite(ctx, "c", desc); !errors.Is(err, meta.ErrSiteExists) {
		t.Errorf("adding a site twice: %v, want ErrSiteExists", err)
	}
	g.r = g.router(t)
	if err := g.drain(t, "c"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		// The chunk list holds only the last slice: earlier ones were
		// overwritten and queued for deletion, not backfilled.
		if id == ids[len(ids)-1] && !g.sites["c"].has(objKey(id)) {
			t.Errorf("backfill missed live slice %d", id)
		}
	}
	if bl := g.backlog(t, "c"); bl.Backfill || bl.Jobs != 0 {
		t.Errorf("after the backfill: %+v", bl)
	}
	if err := g.m.RemoveSite(ctx, "a", false); !errors.Is(err, meta.ErrLastPrimary) {
		t.Errorf("removing the last primary: %v, want ErrLastPrimary", err)
	}
	if err := g.m.RemoveSite(ctx, "c", true); err != nil {
		t.Fatal(err)
	}
	if err := g.m.RemoveSite(ctx, "c", true); !errors.Is(err, meta.ErrNoSite) {
		t.Errorf("removing a removed site: %v, want ErrNoSite", err)
	}
}

func TestPrimaryBackfillWaitsForWriters(t *testing.T) {
	g := newRig(t, "a:primary")
	ctx := context.Background()
	// This client writes with the site set of generation 0, and has an
	// upload in flight with it.
	if err := g.m.AckSites(ctx, 0); err != nil {
		t.Fatal(err)
	}
	inflight, err := g.m.NewSlice(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	desc, _ := json.Marshal(routing.Site{Name: "p2", Role: "primary", Endpoint: "mem://p2", Bucket: "p2"})
	if err := g.m.AddSite(ctx, "p2", desc); err != nil {
		t.Fatal(err)
	}
	if st, err := g.m.Backfill(ctx, "p2"); err != nil || st != meta.BackfillWaiting {
		t.Fatalf("backfill of a primary while a writer uses the old set: %v %v, want waiting", st, err)
	}
	if err := g.m.AckSites(ctx, 0); !errors.Is(err, meta.ErrStaleSites) {
		t.Fatalf("acknowledging a stale set: %v", err)
	}
	v, err := g.m.LoadSites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.m.AckSites(ctx, v.Gen); err != nil {
		t.Fatal(err)
	}
	if st, err := g.m.Backfill(ctx, "p2"); err != nil || st != meta.BackfillWaiting {
		t.Fatalf("backfill of a primary while an upload that began before the new set is uncommitted: %v %v, want waiting", st, err)
	}
	if err := g.m.AbandonSlice(ctx, inflight, 1); err != nil {
		t.Fatal(err)
	}
	if st, err := g.m.Backfill(ctx, "p2"); err != nil || st != meta.BackfillDone {
		t.Fatalf("backfill once every writer acknowledged: %v %v", st, err)
	}
}

func TestReadsPreferNearestSite(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst")
	id := g.write(t, []byte("x"))
	if err := g.drain(t, "b"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g.r.ProbeOnce(ctx)
	if order, _ := g.r.ReadOrder(""); order[0] != "a" {
		t.Fatalf("equal latency: order %v, want the primary first", order)
	}
	g.sites["a"].set(false, 30*time.Millisecond)
	for range 10 {
		g.r.ProbeOnce(ctx)
	}
	if order, _ := g.r.ReadOrder(""); order[0] != "b" {
		t.Fatalf("primary 30 ms slower: order %v, want b first", order)
	}
	before := g.sites["b"].getCount()
	if _, err := g.r.Get(ctx, objKey(id), 0, -1); err != nil {
		t.Fatal(err)
	}
	if g.sites["b"].getCount() != before+1 {
		t.Error("the read did not go to the nearest site")
	}
	g.sites["a"].set(false, 0)
	for range 10 {
		g.r.ProbeOnce(ctx)
	}
	if order, _ := g.r.ReadOrder(""); order[0] != "a" {
		t.Fatalf("latency back to normal: order %v, want the primary first again", order)
	}
}

func TestPolicyOrdersReads(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst", "c:backup")
	ctx := context.Background()
	rule, _ := json.Marshal(routing.Rule{Name: "cold", Pattern: "archive/**", Ops: []string{"read"}, Roles: []string{"backup", "primary"}})
	if err := g.m.AddRule(ctx, "cold", rule); err != nil {
		t.Fatal(err)
	}
	g.r = g.router(t)
	if order, r := g.r.ReadOrder("archive/2020/x"); strings.Join(order, ",") != "c,a,b" || r != "cold" {
		t.Errorf("read order under the rule: %v by %q, want c,a (then b, which it leaves out) by cold", order, r)
	}
	if order, r := g.r.ReadOrder("home/x"); strings.Join(order, ",") != "a,b,c" || r != "" {
		t.Errorf("default read order: %v by %q, want a,b,c", order, r)
	}
}

func TestCopiesIgnoreReadRules(t *testing.T) {
	g := newRig(t, "a:primary", "b:burst", "c:backup")
	ctx := context.Background()
	rule, _ := json.Marshal(routing.Rule{Name: "b", Pattern: "**", Ops: []string{"read"}, Roles: []string{"burst"}})
	if err := g.m.AddRule(ctx, "b", rule); err != nil {
		t.Fatal(err)
	}
	g.r = g.router(t)
	id := g.write(t, []byte("x"))
	// The backup's copy must come from the primary, though the rule sends
	// reads to the burst site, which has no copy yet.
	if err := g.drain(t, "c"); err != nil {
		t.Fatal(err)
	}
	if !g.sites["c"].has(objKey(id)) {
		t.Fatal("the backup never got the block")
	}
	// And a read the rule sends to the burst site still finds the block.
	if got, err := g.r.Get(routing.WithPath(ctx, "x"), objKey(id), 0, -1); err != nil || string(got) != "x" {
		t.Errorf("read under a rule whose sites lack the block: %q %v", got, err)
	}
}

func TestBackfillStepsAreBounded(t *testing.T) {
	g := newRig(t, "a:primary")
	ctx := context.Background()
	// More than one step's job bound, in one chunk as far as the store
	// lets a chunk list grow (on etcd it holds about a hundred slices).
	const n = 2100
	chunk := int64(0)
	for i := 0; i < n; {
		id, err := g.m.NewSlice(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref := meta.SliceRef{ID: id, Pos: uint32(i), Len: 1, CRCs: []uint32{0}}
		end := chunk<<20 + int64(i) + 1
		_, _, err = g.m.CommitSlices(ctx, g.ino, []meta.ChunkWrite{{Index: chunk, Slice: ref}}, end)
		if errors.Is(err, meta.ErrChunkFull) {
			chunk++
			if err := g.m.AbandonSlice(ctx, id, 1); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		i++
	}
	desc, _ := json.Marshal(routing.Site{Name: "c", Role: "burst", Endpoint: "mem://c", Bucket: "c"})
	if err := g.m.AddSite(ctx, "c", desc); err != nil {
		t.Fatal(err)
	}
	steps := 0
	for {
		st, err := g.m.Backfill(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if st == meta.BackfillDone {
			break
		}
		if steps++; steps > n {
			t.Fatal("backfill does not finish")
		}
	}
	if steps < 1 {
		t.Errorf("%d slices in one chunk were queued in a single step; want the job bound to split them", n)
	}
	if bl := g.backlog(t, "c"); bl.Jobs != n {
		t.Errorf("backfill queued %d jobs, want %d", bl.Jobs, n)
	}
}

func TestRemovePrimaryNeedsACompleteOne(t *testing.T) {
	g := newRig(t, "a:primary")
	ctx := context.Background()
	g.write(t, []byte("x"))
	desc, _ := json.Marshal(routing.Site{Name: "p2", Role: "primary", Endpoint: "mem://p2", Bucket: "p2"})
	if err := g.m.AddSite(ctx, "p2", desc); err != nil {
		t.Fatal(err)
	}
	if err := g.m.RemoveSite(ctx, "a", true); !errors.Is(err, meta.ErrIncomplete) {
		t.Fatalf("removing the only complete primary: %v, want ErrIncomplete", err)
	}
	g.r = g.router(t)
	if err := g.r.Acknowledge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.drain(t, "p2"); err != nil {
		t.Fatal(err)
	}
	if err := g.m.RemoveSite(ctx, "a", true); err != nil {
		t.Fatalf("removing a primary once another is complete: %v", err)
	}
}
