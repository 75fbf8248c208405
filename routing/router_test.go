package routing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

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
