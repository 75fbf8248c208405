package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/s3tier"
	"github.com/hafs/hafs/test/teststore"
)

func TestMain(m *testing.M) { os.Exit(teststore.Main(m)) }

// rig is a gateway over a real store (test/teststore), served by httptest.
type rig struct {
	m     *meta.FS
	lm    *locks.Manager
	gw    *Gateway
	srv   *httptest.Server
	url   string
	store string
}

// newRig makes a filesystem in a fresh store, starts a session on it and
// serves it. mod may change the options.
func newRig(t *testing.T, mod func(*Options)) *rig {
	t.Helper()
	ctx := context.Background()
	url := teststore.URL(t)
	s := teststore.Open(t, url)
	if _, err := meta.Mkfs(ctx, s, "t", false); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(ctx, s, "t")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m.StartSession(ctx, meta.SessionInfo{Hostname: "test", Pid: os.Getpid(), Mountpoint: "gateway-test"}, log); err != nil {
		t.Fatal(err)
	}
	lm := locks.New(locks.Config{Store: m.Store(), Prefix: m.Prefix(), Fence: m.Fence})
	m.SetCleanup(lm.ReleaseSessionTx)
	data, err := s3tier.New(m, nil, s3tier.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Logger: log, Locks: lm, Data: data}
	if mod != nil {
		mod(&opts)
	}
	gw, err := New(ctx, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		gw.Close(ctx)
		data.Close()
		_ = m.EndSession(ctx)
	})
	return &rig{m: m, lm: lm, gw: gw, srv: srv, url: srv.URL, store: url}
}

// do sends a request and returns the status and body.
func (r *rig) do(t *testing.T, method, path string, body string, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// want fails unless a request answers status.
func (r *rig) want(t *testing.T, status int, method, path, body string, hdr ...string) string {
	t.Helper()
	got, b := r.do(t, method, path, body, hdr...)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d; body %q", method, path, got, status, b)
	}
	return b
}

// serve serves h until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
