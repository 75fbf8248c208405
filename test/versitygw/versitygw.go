// Package versitygw starts a real versitygw S3 gateway (posix backend) on
// 127.0.0.1 for tests, on a free port with a fresh directory, and stops it
// when the test ends. It is the multi-site tests' second S3
// implementation, next to MinIO. scripts/setup.sh --test installs it.
package versitygw

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
func Binary() (string, error) {
	if p := os.Getenv("HAFS_VERSITYGW"); p != "" {
		return p, nil
	}
	var cands []string
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			cands = append(cands, filepath.Join(filepath.Dir(gomod), "bin", "versitygw"))
		}
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		cands = append(cands, filepath.Join(strings.TrimSpace(string(gp)), "bin", "versitygw"))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw not found (looked in $HAFS_VERSITYGW, %s and $PATH): run scripts/setup.sh --test", strings.Join(cands, ", "))
}

// Start runs a fresh versitygw for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
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
