package meta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/settle"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/teststore"
)

func TestMain(m *testing.M) { os.Exit(teststore.Main(m)) }

func newFS(t *testing.T, faults float64) *meta.FS {
	t.Helper()
	s := teststore.Open(t, teststore.URL(t))
	var st fdbstore.Store = s
	if faults > 0 {
		// Conflicts, and commits whose outcome is reported unknown (half of
		// them landed), which settle resolves as a real client must.
		st = settle.Wrap(faultstore.Wrap(s, faults, 7).WithUnknownResults(faults))
	}
	if _, err := meta.Mkfs(context.Background(), st, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(context.Background(), st, "t")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func check(t *testing.T, m *meta.FS) {
	t.Helper()
	rep, err := m.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Error("fsck:", p)
	}
}

func TestConcurrentCreates(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				_, err := m.Create(ctx, meta.RootIno, fmt.Sprintf("g%d-%d", g, i), meta.NewNode{Mode: syscall.S_IFREG | 0o644})
				if err != nil {
					t.Errorf("create g%d-%d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ents, err := m.ReadDir(ctx, meta.RootIno, 0, 0)
	if err != nil || len(ents) != 2400 {
		t.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	check(t, m)
}

func BenchmarkCreate(b *testing.B) {
	t := &testing.T{}
	m := newFS(t, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("f%d", i)
		if _, err := m.Lookup(ctx, meta.RootIno, name); !errors.Is(err, syscall.ENOENT) {
			b.Fatal(err)
		}
		if _, err := m.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644}); err != nil {
			b.Fatal(err)
		}
	}
}

// client opens a second handle on m's filesystem with its own session.
func client(t *testing.T, m *meta.FS, name string) *meta.FS {
	t.Helper()
	c, err := meta.Open(context.Background(), m.Store(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartSession(context.Background(), meta.SessionInfo{Hostname: name}, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEvictionFences(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0.1)
	a, b := client(t, m, "a"), client(t, m, "b")
	f, err := a.Create(ctx, meta.RootIno, "held", meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	// b unlinks the file while a has it open: it stays, as an orphan.
	if err := b.Unlink(ctx, meta.RootIno, "held"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetAttr(ctx, f.Ino); err != nil || got.Nlink != 0 {
		t.Fatalf("file unlinked while open elsewhere: %+v, %v; want it kept with nlink 0", got, err)
	}
	check(t, m)
	rep, err := b.Evict(ctx, a.SessionID())
	if err != nil || rep.Orphans != 1 {
		t.Fatalf("evict: %+v, %v", rep, err)
	}
	if _, err := b.GetAttr(ctx, f.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("orphan of the evicted client survives: %v", err)
	}
	if _, err := a.Create(ctx, meta.RootIno, "after", meta.NewNode{Mode: syscall.S_IFREG}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("evicted client's create: %v", err)
	}
	if _, err := b.Lookup(ctx, meta.RootIno, "after"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("evicted client's create is visible: %v", err)
	}
	if err := a.Heartbeat(ctx); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("evicted client's heartbeat: %v", err)
	}
	if rep, err := b.Evict(ctx, a.SessionID()); err != nil || !rep.AlreadyGone {
		t.Fatalf("second eviction: %+v, %v", rep, err)
	}
	if _, err := b.Evict(ctx, "nonexistent"); !errors.Is(err, meta.ErrNoSession) {
		t.Fatalf("evict unknown id: %v", err)
	}
	check(t, m)
}

// TestUnlinkWhileOpenElsewhere: a file one client has open survives an
// unlink by another until the last close among all clients.
func TestUnlinkWhileOpenElsewhere(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0)
	a, b, c := client(t, m, "a"), client(t, m, "b"), client(t, m, "c")
	f, err := a.Create(ctx, meta.RootIno, "f", meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, f.Ino, 0, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(ctx, meta.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(ctx, f.Ino); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("open of an unlinked inode through a stale name: %v, want ESTALE", err)
	}
	if err := a.Close(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Read(ctx, f.Ino, 0, 10); err != nil || string(got) != "data" {
		t.Fatalf("read by the remaining opener: %q, %v", got, err)
	}
	check(t, m)
	if err := b.Close(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAttr(ctx, f.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("after the last close anywhere: %v, want ENOENT", err)
	}
	check(t, m)
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0)
	a, b := client(t, m, "a"), client(t, m, "b")
	mon := b.NewMonitor(50*time.Millisecond, slog.Default())
	deadline := time.Now().Add(10 * time.Second)
	for {
		// b keeps beating; a is silent.
		if err := b.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		expired, err := mon.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(expired) > 0 {
			if expired[0] != a.SessionID() || len(expired) != 1 {
				t.Fatalf("expired %v, want only %s", expired, a.SessionID())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("silent session never expired")
		}
		time.Sleep(10 * time.Millisecond) // a heartbeat period, not synchronisation
	}
	if err := a.Heartbeat(ctx); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("expired client can still commit: %v", err)
	}
	ss, err := b.Sessions(ctx)
	if err != nil || len(ss) != 1 || ss[0].ID != b.SessionID() {
		t.Fatalf("sessions after expiry: %+v, %v", ss, err)
	}
}

// TestMonitorDue: once a Check has seen another session's counter, Due
// says when that session will have been silent for the expiry (counted
// from the Check's look, so between its start and its end plus the
// expiry); the monitor's own session is never due.
func TestMonitorDue(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0)
	a, b := client(t, m, "a"), client(t, m, "b")
	const expiry = time.Hour
	mon := b.NewMonitor(expiry, slog.Default())
	if _, ok := mon.Due(); ok {
		t.Fatal("Due before any Check reports a time")
	}
	before := time.Now()
	if _, err := mon.Check(ctx); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	due, ok := mon.Due()
	if !ok || due.Before(before.Add(expiry)) || due.After(after.Add(expiry)) {
		t.Fatalf("Due = %v, %v; want between %v and %v (session %s seen by the Check)",
			due, ok, before.Add(expiry), after.Add(expiry), a.SessionID())
	}
	alone := client(t, newFS(t, 0), "alone")
	own := alone.NewMonitor(expiry, slog.Default())
	if _, err := own.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if due, ok := own.Due(); ok {
		t.Fatalf("a monitor that saw only its own session is due at %v", due)
	}
}

// TestManyOrphansClosed: a client that had many files open which another
// client unlinked closes them all at once (the batch a mount's closer
// sends), and ends its session with many more still open: each inode is
// reaped, however few operations the store takes per transaction (etcd's
// 128 took 14 such closes at most).
func TestManyOrphansClosed(t *testing.T) {
	ctx := context.Background()
	m := newFS(t, 0)
	a, b := client(t, m, "a"), client(t, m, "b")
	orphans := func(prefix string, n int) []uint64 {
		t.Helper()
		var inos []uint64
		for i := range n {
			name := fmt.Sprintf("%s%d", prefix, i)
			f, err := a.Create(ctx, meta.RootIno, name, meta.NewNode{Mode: syscall.S_IFREG | 0o644, Open: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write(ctx, f.Ino, 0, bytes.Repeat([]byte{byte(i)}, 9000)); err != nil {
				t.Fatal(err)
			}
			if err := b.Unlink(ctx, meta.RootIno, name); err != nil {
				t.Fatal(err)
			}
			inos = append(inos, f.Ino)
		}
		return inos
	}
	closing := orphans("c", 60)
	if closed, err := a.CloseMany(ctx, closing); err != nil || closed != len(closing) {
		t.Fatalf("CloseMany of %d orphans: %d closed, %v", len(closing), closed, err)
	}
	for _, ino := range closing {
		if _, err := b.GetAttr(ctx, ino); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("inode %d outlives its last close: %v", ino, err)
		}
	}
	orphans("e", 60)
	if err := a.EndSession(ctx); err != nil {
		t.Fatalf("end a session holding 60 orphans open: %v", err)
	}
	rep, err := m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 || len(rep.Orphans) > 0 {
		t.Fatalf("after the last close: problems %v, orphans %v", rep.Problems, rep.Orphans)
	}
}
