// Package versitygw starts a real versitygw S3 gateway (posix backend) on
// 127.0.0.1 for tests, on a free port with a fresh directory, and stops it
// when the test ends. It is the multi-site tests' second S3
// implementation, next to MinIO. scripts/setup.sh --test installs it.
package versitygw

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/test/minio"
)

// Server is one running (or stopped) versitygw. It takes the same
// credentials as the test MinIO (minio.AccessKey, minio.SecretKey), so one
// AWS environment reaches every test server.
type Server struct {
	Endpoint string
	Dir      string

	bin, addr string
	t         testing.TB
	mu        sync.Mutex
	cmd       *exec.Cmd
	out       strings.Builder
}

// Binary finds the versitygw executable: $HAFS_VERSITYGW, bin/ in the
// module, $GOPATH/bin, then $PATH.
func Binary() (string, error) { return minio.FindBinary("versitygw", "HAFS_VERSITYGW") }

// Start runs a fresh versitygw for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	addr := minio.FreeAddr(t)
	s := &Server{Endpoint: "http://" + addr, Dir: t.TempDir(), bin: bin, addr: addr, t: t}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts a stopped server on the same address and directory.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "--access", minio.AccessKey, "--secret", minio.SecretKey, "--port", s.addr, "posix", s.Dir)
	s.out.Reset()
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	s.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return // any HTTP answer (403 unsigned) means it serves
		}
		if ctx.Err() != nil {
			s.t.Fatalf("versitygw on %s not answering after 30 s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's readiness
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
