package s3tier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

// These tests drive the write path's fault handling through the Metadata
// interface, with no store and no server: each records the calls the tier
// makes, in order, so the invariant "an object is uploaded before the
// metadata that points to it commits" is checked directly.

// callLog is the ordered record of the calls a test's fakes received.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
}

func (l *callLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.calls, " ")
}

// fakeMeta is a sliced filesystem's metadata. The embedded Metadata is
// nil: a call the write path should not make panics and fails the test.
type fakeMeta struct {
	Metadata
	log       *callLog
	layout    meta.DataLayout
	commitErr error
	nextID    uint64
}

func (m *fakeMeta) Layout() *meta.DataLayout { return &m.layout }

func (m *fakeMeta) Fenced() bool { return false }

func (m *fakeMeta) Write(ctx context.Context, ino uint64, off int64, data []byte) (*meta.Attr, error) {
	m.log.add("inline-write")
	return nil, meta.ErrNeedSlices
}

func (m *fakeMeta) NewSlice(ctx context.Context, length int64) (uint64, error) {
	m.nextID++
	m.log.add("new-slice:%d", m.nextID)
	return m.nextID, nil
}

func (m *fakeMeta) AbandonSlice(ctx context.Context, id uint64, length int64) error {
	m.log.add("abandon:%d", id)
	return nil
}

func (m *fakeMeta) CommitSlices(ctx context.Context, ino uint64, w []meta.ChunkWrite, end int64) (*meta.Attr, int, error) {
	m.log.add("commit:%d", w[0].Slice.ID)
	if m.commitErr != nil {
		return nil, 0, m.commitErr
	}
	return &meta.Attr{Ino: ino, Size: uint64(end)}, 1, nil
}

// fakeObjects is an object store whose puts may fail.
type fakeObjects struct {
	routing.ObjectStore
	log    *callLog
	putErr error
}

func (o *fakeObjects) Put(ctx context.Context, key string, data []byte) error {
	o.log.add("put:%s", key)
	return o.putErr
}

func newFaultTier(t *testing.T, m *fakeMeta, o *fakeObjects) *Tier {
	t.Helper()
	m.layout = smallLayout
	tier, err := New(m, o, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	return tier
}

func TestFaultUploadBeforeCommit(t *testing.T) {
	log := &callLog{}
	m, o := &fakeMeta{log: log}, &fakeObjects{log: log}
	tier := newFaultTier(t, m, o)
	ctx := context.Background()
	if err := tier.Write(ctx, 7, 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := tier.Flush(ctx, 7); err != nil {
		t.Fatal(err)
	}
	want := "inline-write new-slice:1 put:" + ObjectKey(1) + " commit:1"
	if got := log.String(); got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}
}

func TestFaultFailedUploadNeverCommits(t *testing.T) {
	log := &callLog{}
	refused := errors.New("site refused the put")
	m, o := &fakeMeta{log: log}, &fakeObjects{log: log, putErr: refused}
	tier := newFaultTier(t, m, o)
	ctx := context.Background()
	if err := tier.Write(ctx, 7, 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := tier.Flush(ctx, 7); !errors.Is(err, refused) {
		t.Fatalf("flush after a failed upload: %v, want %v", err, refused)
	}
	want := "inline-write new-slice:1 put:" + ObjectKey(1) + " abandon:1"
	if got := log.String(); got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}
	// The failure is reported once, to the first fsync or close.
	if err := tier.Flush(ctx, 7); err != nil {
		t.Fatalf("second flush: %v", err)
	}
}

func TestFaultFailedCommitAbandonsSlice(t *testing.T) {
	log := &callLog{}
	fenced := meta.ErrFenced
	m, o := &fakeMeta{log: log, commitErr: fenced}, &fakeObjects{log: log}
	tier := newFaultTier(t, m, o)
	ctx := context.Background()
	if err := tier.Write(ctx, 7, 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := tier.Flush(ctx, 7); !errors.Is(err, fenced) {
		t.Fatalf("flush after a failed commit: %v, want %v", err, fenced)
	}
	// The object was uploaded; abandoning queues its deletion.
	want := "inline-write new-slice:1 put:" + ObjectKey(1) + " commit:1 abandon:1"
	if got := log.String(); got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}
}
