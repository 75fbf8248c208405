package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Direction says which of a host's traffic a Drop stops.
type Direction int

const (
	// Both drops packets from the host to the peers and from the peers to it.
	Both Direction = iota
	// In drops only packets the peers send to the host: the host still
	// sends, but hears nothing back from them.
	In
	// Out drops only packets the host sends to the peers: it still hears
	// them, but they never hear it.
	Out
)

// String names the direction for logs and fault schedules.
func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	default:
		return "both"
	}
}

// Drop installs netfilter rules inside h's namespace that drop its
// traffic with peers (every other host when none is given) in direction
// dir, until Heal. Unlike Cut, the link stays up, so a host can be cut off
// from some peers only, or in one direction only (Jepsen's partitions).
// The rules are iptables INPUT/OUTPUT drops by peer address; they live in
// h's namespace and go with it.
func (nw *Net) Drop(h *Host, dir Direction, peers ...*Host) {
	nw.t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		nw.t.Fatal("cluster: iptables is missing: run scripts/setup.sh --test")
	}
	if len(peers) == 0 {
		for _, p := range nw.Hosts {
			if p != h {
				peers = append(peers, p)
			}
		}
	}
	for _, p := range peers {
		if dir == Both || dir == In {
			nw.iptables(h, "-A", "INPUT", "-s", p.Addr, "-j", "DROP")
		}
		if dir == Both || dir == Out {
			nw.iptables(h, "-A", "OUTPUT", "-d", p.Addr, "-j", "DROP")
		}
	}
	nw.mu.Lock()
	nw.dropped[h] = true
	nw.mu.Unlock()
}

// iptables runs one iptables command in h's namespace (-w: wait for the
// xtables lock rather than fail) and fails the test if it fails.
func (nw *Net) iptables(h *Host, args ...string) {
	nw.t.Helper()
	if out, err := h.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
		nw.t.Fatalf("iptables %s on %s: %v: %s", strings.Join(args, " "), h.Name, err, out)
	}
}

// healDrops removes every rule Drop installed on h.
func (nw *Net) healDrops(h *Host) {
	nw.t.Helper()
	nw.mu.Lock()
	had := nw.dropped[h]
	delete(nw.dropped, h)
	nw.mu.Unlock()
	if had {
		nw.iptables(h, "-F", "INPUT")
		nw.iptables(h, "-F", "OUTPUT")
	}
}

// Do runs fn on an OS thread that has entered h's network namespace, so
// the sockets fn makes belong to h (they keep working from any goroutine
// afterwards). The thread is never handed back to the Go scheduler: it
// ends with fn's goroutine rather than carry the namespace to other code.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread exits with this goroutine
		ns, err := os.Open("/run/netns/" + h.Name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", h.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
