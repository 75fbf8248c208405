package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenUDP opens a UDP socket on each host, in its namespace.
func listenUDP(t *testing.T, nw *Net) map[*Host]net.PacketConn {
	t.Helper()
	conns := map[*Host]net.PacketConn{}
	for _, h := range nw.Hosts {
		err := h.Do(func() error {
			c, err := net.ListenPacket("udp4", h.Addr+":7946")
			conns[h] = c
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conns[h].Close() })
	}
	return conns
}

// heard reports whether a datagram from one host reaches another: a
// fresh token is sent from a socket made on from, several times, and to's
// socket waits for it at most a second (the bound of "it never came").
func heard(t *testing.T, conns map[*Host]net.PacketConn, from, to *Host) bool {
	t.Helper()
	token := fmt.Sprintf("%s->%s@%d", from.Name, to.Name, time.Now().UnixNano())
	err := from.Do(func() error {
		c, err := net.Dial("udp4", to.Addr+":7946")
		if errors.Is(err, unix.ENETUNREACH) {
			return nil // the sender's link is down: nothing is sent
		}
		if err != nil {
			return err
		}
		defer c.Close()
		for range 3 {
			if _, err := c.Write([]byte(token)); err != nil {
				// A dropped OUTPUT packet is reported to the sender as
				// EPERM: that is the drop working, not a failure.
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := conns[to]
	buf := make([]byte, 256)
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if os.IsTimeout(err) {
				return false
			}
			t.Fatal(err)
		}
		if string(buf[:n]) == token {
			return true
		}
	}
}

// TestDropDirections: netfilter drops stop exactly the traffic asked for:
// one direction to one peer, the other direction, or both to every peer;
// the other hosts and directions keep talking; Heal removes the drops.
func TestDropDirections(t *testing.T) {
	nw := New(t, 3)
	conns := listenUDP(t, nw)
	h0, h1, h2 := nw.Hosts[0], nw.Hosts[1], nw.Hosts[2]
	type path struct {
		from, to *Host
		want     bool
	}
	check := func(what string, paths []path) {
		t.Helper()
		for _, p := range paths {
			if got := heard(t, conns, p.from, p.to); got != p.want {
				t.Errorf("%s: %s -> %s delivered %v, want %v", what, p.from.Name, p.to.Name, got, p.want)
			}
		}
	}
	all := func(want bool) []path {
		return []path{{h0, h1, want}, {h1, h0, want}, {h0, h2, want}, {h2, h0, want}, {h1, h2, true}, {h2, h1, true}}
	}
	check("no drops", all(true))

	nw.Drop(h0, Out, h1)
	check("h0 drops what it sends to h1", []path{{h0, h1, false}, {h1, h0, true}, {h0, h2, true}, {h2, h0, true}})
	nw.Heal(h0)
	check("healed", all(true))

	nw.Drop(h0, In, h1)
	check("h0 drops what h1 sends it", []path{{h1, h0, false}, {h0, h1, true}, {h0, h2, true}, {h2, h0, true}})
	nw.Heal(h0)

	nw.Drop(h0, Both)
	check("h0 drops all its traffic with every peer", all(false))
	nw.Heal(h0)
	check("healed", all(true))

	nw.Cut(h0)
	check("h0's link down", all(false))
	nw.Heal(h0)
	check("link up again", all(true))
}
