package routing_test

import (
	"bytes"
	"context"
	"encoding/json"
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

func (s *memStore) String() string { return s.name }

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
