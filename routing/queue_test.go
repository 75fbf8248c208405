package routing_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

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
