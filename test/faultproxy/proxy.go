// Package faultproxy is a TCP proxy for tests that stands in front of a
// real S3 server and injects the faults a test switches on at run time:
// refused (reset) connections, stalls, HTTP 500/503 answers, and added
// latency. Faults live here, not in the kernel or in mocks, so the client
// under test sees exactly what a failing network or server shows it.
package faultproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Mode is what the proxy does with requests.
type Mode int

// Modes.
const (
	Pass   Mode = iota // forward
	Refuse             // reset every connection at once
	Stall              // accept and never answer
	Status             // answer every request with the status set by SetStatus
)

// Proxy forwards 127.0.0.1:port to a target address.
type Proxy struct {
	// Endpoint is the proxy's URL, http://127.0.0.1:PORT.
	Endpoint string
	target   string
	l        net.Listener

	mu      sync.Mutex
	mode    Mode
	status  int
	latency time.Duration
	conns   map[net.Conn]bool
	closed  bool
}

// Start runs a proxy to target (host:port) until the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Endpoint: "http://" + l.Addr().String(), target: target, l: l, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.l.Close()
	p.dropAll()
}

// SetMode switches the fault; connections open under the old mode are
// dropped so that keep-alive connections see the new one too.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	p.dropAll()
}

// SetStatus makes every request answer code (500, 503, ...).
func (p *Proxy) SetStatus(code int) {
	p.mu.Lock()
	p.status = code
	p.mu.Unlock()
	p.SetMode(Status)
}

// SetLatency delays the start of every response by d (0 for none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

func (p *Proxy) dropAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	p.mu.Lock()
	mode, status := p.mode, p.status
	p.mu.Unlock()
	switch mode {
	case Refuse:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as a refused or dropped connection shows
		}
		c.Close()
		return
	case Stall:
		if !p.track(c) {
			c.Close()
		}
		return // held open, never answered, until the mode changes
	case Status:
		if !p.track(c) {
			c.Close()
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: 0\r\n\r\n",
				status, http.StatusText(status))
		}
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		return
	}
	// awaiting is set when the client has sent something and cleared at
	// the first bytes of the answer, which are the ones delayed.
	var awaiting sync.Mutex
	pending := false
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				awaiting.Lock()
				pending = true
				awaiting.Unlock()
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		up.Close()
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			awaiting.Lock()
			first := pending
			pending = false
			awaiting.Unlock()
			p.mu.Lock()
			lat := p.latency
			p.mu.Unlock()
			if first && lat > 0 {
				time.Sleep(lat) // the injected fault itself
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
	c.Close()
}
