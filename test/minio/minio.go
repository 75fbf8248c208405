// Package minio starts a real MinIO server on 127.0.0.1 for tests, on a
// free port with a fresh data directory, and stops it when the test ends.
// scripts/setup.sh --test installs the binary (bin/minio).
package minio

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Credentials of every test server. They reach HAFS through the standard
// AWS environment variables (Env), never through its metadata.
const (
	AccessKey = "hafs-test-access"
	SecretKey = "hafs-test-secret-key"
)

// Server is one running (or stopped) MinIO.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	DataDir  string

	bin     string
	addr    string
	t       testing.TB
	command func(name string, args ...string) *exec.Cmd // how to run it: here, or on a test/cluster host

	mu  sync.Mutex
	cmd *exec.Cmd
	out *strings.Builder
}

// Binary finds the minio executable: $HAFS_MINIO, bin/minio in the
// module, $GOPATH/bin/minio, then $PATH.
func Binary() (string, error) { return FindBinary("minio", "HAFS_MINIO") }

// FindBinary finds a test server's executable: $env, bin/NAME in the
// module, $GOPATH/bin/NAME, then $PATH (scripts/setup.sh --test installs
// them in bin/).
func FindBinary(name, env string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	var cands []string
	if root, err := moduleRoot(); err == nil {
		cands = append(cands, filepath.Join(root, "bin", name))
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		cands = append(cands, filepath.Join(strings.TrimSpace(string(gp)), "bin", name))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (looked in $%s, %s and $PATH): run scripts/setup.sh --test", name, env, strings.Join(cands, ", "))
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the HAFS module")
	}
	return filepath.Dir(gomod), nil
}

// Start runs a fresh MinIO for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, DataDir: t.TempDir(), addr: FreeAddr(t), t: t, command: exec.Command}
	s.Endpoint = "http://" + s.addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// StartOn runs a fresh MinIO listening on addr (host:port) with command
// (a test/cluster host's Command: the server runs on that host, and
// stopping it or cutting the host off is a site outage), and stops it at
// cleanup.
func StartOn(t testing.TB, addr string, command func(name string, args ...string) *exec.Cmd) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, DataDir: t.TempDir(), addr: addr, t: t, command: command}
	s.Endpoint = "http://" + s.addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Env returns the environment a HAFS process needs to reach the server.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
}

// Start (re)starts a stopped server on the same address and data, and
// waits until it reports itself live.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	console := FreeAddr(s.t)
	command := s.command
	if command == nil {
		command = exec.Command
	}
	cmd := command(s.bin, "server", s.DataDir, "--address", s.addr, "--console-address", console, "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	s.out = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = &syncWriter{b: s.out, mu: &s.mu}, &syncWriter{b: s.out, mu: &s.mu}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start minio: %v", err)
	}
	s.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/minio/health/live", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if ctx.Err() != nil {
			s.t.Fatalf("minio on %s not live after 30 s: %v\n%s", s.addr, err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the server's readiness endpoint
	}
}

// Stop kills the server (as a crash would) and waits for it to exit.
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

type syncWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *syncWriter) Write(p []byte) (int, error) {
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}

// FreeAddr returns a 127.0.0.1 address with a port nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// CPU returns the processor time (user and system) the running server has
// used so far, from /proc: benchmarks charge the server's share with it.
func (s *Server) CPU() time.Duration {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}
