// Package etcd starts real etcd clusters for tests: members as separate
// processes on 127.0.0.1 (free ports, temporary data directories), each of
// which a test can kill, restart, pause and resume. The binary is Debian's
// etcd-server (scripts/setup.sh --test installs it) or $HAFS_ETCD.
package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/hafs/hafs/test/minio"
)

// Binary returns the etcd server binary.
func Binary() (string, error) { return minio.FindBinary("etcd", "HAFS_ETCD") }

// Cluster is a running etcd cluster of separate member processes.
type Cluster struct {
	Members []*Member
	bin     string
}

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:PORT
	PeerURL   string
	dir       string
	initial   string // the --initial-cluster flag
	command   func(name string, args ...string) *exec.Cmd

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *strings.Builder
	wait chan struct{}
}

// DataDir returns a new directory for members' data: in /dev/shm where
// there is one, since a member's fsyncs bound every commit and tests kill
// processes, not machines.
func DataDir() (string, error) {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "hafs-etcd-"); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", "hafs-etcd-")
}

// Start starts an n-member cluster for t and stops it when t ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	dir, err := DataDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := StartCluster(n, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartCluster starts an n-member cluster with its data under dir (for
// TestMain, which has no testing.T); the caller stops it.
func StartCluster(n int, dir string) (*Cluster, error) {
	places := make([]Place, n)
	for i := range places {
		client, err := freeAddr()
		if err != nil {
			return nil, err
		}
		peer, err := freeAddr()
		if err != nil {
			return nil, err
		}
		places[i] = Place{Client: client, Peer: peer}
	}
	return StartOn(places, dir)
}

// Place says where a member runs: its client and peer addresses
// (host:port) and, for a member on another host (a network namespace),
// how to run a command there (nil: here).
type Place struct {
	Client, Peer string
	Command      func(name string, args ...string) *exec.Cmd
}

// StartOn starts a cluster with one member at each place, data under dir.
func StartOn(places []Place, dir string) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	var initial []string
	for i, p := range places {
		m := &Member{Name: fmt.Sprintf("m%d", i), ClientURL: "http://" + p.Client, PeerURL: "http://" + p.Peer,
			dir: filepath.Join(dir, fmt.Sprintf("m%d", i)), command: p.Command}
		if m.command == nil {
			m.command = exec.Command
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.initial = strings.Join(initial, ",")
		if err := m.start(bin, "new"); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitHealthy(60 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Endpoints returns every member's client address (host:port).
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, strings.TrimPrefix(m.ClientURL, "http://"))
	}
	return eps
}

// StoreURL returns an etcd:// store URL for the cluster with a prefix no
// other caller gets, so tests sharing the cluster never see each other.
func (c *Cluster) StoreURL(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "etcd://" + strings.Join(c.Endpoints(), ",") + "/hafs-test/" + name + "-" + hex.EncodeToString(b[:])
}

// Stop kills every member.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Kill()
	}
}

// WaitHealthy polls every running member's /health until each reports a
// leader, or d passes.
func (c *Cluster) WaitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		for !m.healthy() {
			if time.Now().After(deadline) {
				return fmt.Errorf("etcd member %s (%s) not healthy after %s:\n%s", m.Name, m.ClientURL, d, m.Output())
			}
			time.Sleep(20 * time.Millisecond) // polling the member's health endpoint
		}
	}
	return nil
}

func (m *Member) start(bin, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	client := strings.TrimPrefix(m.ClientURL, "http://")
	peer := strings.TrimPrefix(m.PeerURL, "http://")
	cmd := m.command(bin, "--name", m.Name, "--data-dir", m.dir,
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", m.initial, "--initial-cluster-state", state,
		"--initial-cluster-token", "hafs-test", "--logger", "zap", "--log-level", "warn",
		// Elections within a second or so, as on a LAN. Pre-vote (the
		// default from etcd 3.5, off in 3.4): a member back from a
		// partition rejoins without deposing the leader, whose election
		// stalled every commit for up to 2 s, long enough to expire
		// healthy sessions.
		"--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote")
	m.out = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{b: m.out, mu: &m.mu}, &lockedWriter{b: m.out, mu: &m.mu}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	m.cmd, m.wait = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(cmd, m.wait)
	return nil
}

// Kill stops the member with SIGKILL and waits for it to exit.
func (m *Member) Kill() {
	m.mu.Lock()
	cmd, wait := m.cmd, m.wait
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused member dies too
	_ = cmd.Process.Kill()
	<-wait
}

// Restart starts a killed member again on its data directory.
func (c *Cluster) Restart(i int) error {
	if err := c.Members[i].start(c.bin, "existing"); err != nil {
		return err
	}
	return c.WaitHealthy(60 * time.Second)
}

// Pause stops the member's process with SIGSTOP; Resume continues it.
func (m *Member) Pause() { m.signal(syscall.SIGSTOP) }

// Resume continues a paused member.
func (m *Member) Resume() { m.signal(syscall.SIGCONT) }

func (m *Member) signal(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

// Running reports whether the member's process is running.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// Output returns what the member has logged (bounded).
func (m *Member) Output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return ""
	}
	return m.out.String()
}

func (m *Member) healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var buf [256]byte
	n, _ := resp.Body.Read(buf[:])
	return resp.StatusCode == http.StatusOK && strings.Contains(string(buf[:n]), `"true"`)
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Leader returns the index of the member that leads the cluster now.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1, err
	}
	defer cli.Close()
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		// A second per member: one cut off must not use up ctx before
		// the others are asked.
		mctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(mctx, strings.TrimPrefix(m.ClientURL, "http://"))
		cancel()
		if err != nil {
			continue
		}
		if st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return -1, errors.New("no member says it leads")
}
