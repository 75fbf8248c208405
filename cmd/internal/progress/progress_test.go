package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTest(w *bytes.Buffer, label string, total int64, terminal bool) (*Bar, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := New(w, label, total)
	b.now, b.start, b.last = clk.now, clk.t, clk.t
	if terminal {
		b.terminal, b.every = true, termEvery
	}
	return b, clk
}

// TestPlain: off a terminal, a line every few seconds with the count,
// rate and ETA, and a final line.
func TestPlain(t *testing.T) {
	var out bytes.Buffer
	b, clk := newTest(&out, "fsck", 100, false)
	b.Add(10)
	if out.Len() != 0 {
		t.Fatalf("reported before %v: %q", plainEvery, out.String())
	}
	clk.t = clk.t.Add(plainEvery)
	b.Add(10)
	want := "fsck: 20/100 (20%), 4.0/s, ETA 20s\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	clk.t = clk.t.Add(time.Second)
	b.Add(80)
	b.Done()
	b.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[1] != "fsck: 100/100 (100%), 16.7/s, done in 6s" {
		t.Errorf("final lines %q", lines)
	}
	if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "[") {
		t.Errorf("plain output has terminal drawing: %q", out.String())
	}
}

// TestTerminal: on a terminal, the line is redrawn in place with a bar;
// an unknown total shows the count and rate only.
func TestTerminal(t *testing.T) {
	var out bytes.Buffer
	b, clk := newTest(&out, "gc", 4, true)
	clk.t = clk.t.Add(time.Second)
	b.Add(2)
	if got := out.String(); !strings.HasPrefix(got, "\r\033[Kgc: [===============               ] 2/4 (50%), 2.0/s, ETA 1s") {
		t.Errorf("terminal line %q", got)
	}
	out.Reset()
	u, clk := newTest(&out, "drain", 0, false)
	clk.t = clk.t.Add(plainEvery)
	u.Add(5)
	if got := out.String(); got != "drain: 5, 1.0/s\n" {
		t.Errorf("unknown total: %q", got)
	}
	var nilBar *Bar
	nilBar.Add(1) // a nil bar is a no-op
	nilBar.Done()
}
