// Package cluster makes hosts for tests on one machine: each host is a
// network namespace with its own address on a bridge, so a test can cut a
// host off the network (and heal it) while its processes run. Processes
// enter only the host's network namespace (nsenter --net): they share the
// machine's filesystems, so a FUSE mount made on a host is visible to the
// test. Everything is created under a random id and removed when the test
// ends, also on failure. It needs root, ip (iproute2) and nsenter, and
// iptables for partitions of some peers or one direction (Drop).
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Net is a bridge and the hosts attached to it.
type Net struct {
	t      testing.TB
	id     string
	bridge string
	prefix string // the /24 of the bridge, "10.77.X."
	Hosts  []*Host

	mu      sync.Mutex
	dropped map[*Host]bool // hosts with netfilter drops installed
}

// Host is one network namespace on the bridge.
type Host struct {
	Name string // the namespace
	Addr string // its IPv4 address
	veth string // its end of the link, inside the namespace
}

// New makes a bridge with n hosts on it; the test's cleanup removes them.
func New(t testing.TB, n int) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("cluster: network namespaces need root")
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("cluster: %s is missing: run scripts/setup.sh --test", tool)
		}
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	nw := &Net{t: t, id: id, bridge: "hb" + id, prefix: fmt.Sprintf("10.77.%d.", 1+int(b[0])%250),
		dropped: map[*Host]bool{}}
	t.Cleanup(nw.remove)
	nw.ip("link", "add", nw.bridge, "type", "bridge")
	nw.ip("addr", "add", nw.prefix+"1/24", "dev", nw.bridge)
	nw.ip("link", "set", nw.bridge, "up")
	for i := range n {
		h := &Host{Name: fmt.Sprintf("hafs-%s-h%d", id, i), Addr: fmt.Sprintf("%s%d", nw.prefix, 10+i),
			veth: fmt.Sprintf("v%s%da", id, i)}
		peer := fmt.Sprintf("v%s%db", id, i)
		nw.ip("netns", "add", h.Name)
		nw.ip("link", "add", h.veth, "type", "veth", "peer", "name", peer)
		nw.ip("link", "set", h.veth, "netns", h.Name)
		nw.ip("link", "set", peer, "master", nw.bridge)
		nw.ip("link", "set", peer, "up")
		nw.ip("-n", h.Name, "addr", "add", h.Addr+"/24", "dev", h.veth)
		nw.ip("-n", h.Name, "link", "set", h.veth, "up")
		nw.ip("-n", h.Name, "link", "set", "lo", "up")
		nw.Hosts = append(nw.Hosts, h)
	}
	return nw
}

// ip runs one ip(8) command and fails the test if it fails.
func (nw *Net) ip(args ...string) {
	nw.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		nw.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the hosts and the bridge (their links go with them).
func (nw *Net) remove() {
	for _, h := range nw.Hosts {
		_ = exec.Command("ip", "netns", "del", h.Name).Run()
	}
	_ = exec.Command("ip", "link", "del", nw.bridge).Run()
}

// Command returns cmd to run name with args on host h: in its network
// namespace, with the machine's filesystems.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.Name, "--", name}, args...)...)
}

// Cut takes h's link down: no packet leaves or reaches it, in either
// direction, until Heal. Its processes keep running.
func (nw *Net) Cut(h *Host) { nw.ip("-n", h.Name, "link", "set", h.veth, "down") }

// Heal ends every partition of h: its link comes up again (after Cut)
// and the netfilter drops of Drop are removed.
func (nw *Net) Heal(h *Host) {
	nw.t.Helper()
	nw.ip("-n", h.Name, "link", "set", h.veth, "up")
	nw.healDrops(h)
}
