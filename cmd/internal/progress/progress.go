package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Intervals between lines: a terminal is redrawn often, a log gets a
// line now and then.
const (
	termEvery  = 200 * time.Millisecond
	plainEvery = 5 * time.Second
	barWidth   = 30
)

// Bar reports one job's progress to a writer. Its methods may be called
// from several goroutines.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	every    time.Duration
	terminal bool
	now      func() time.Time
	finished bool
}

// New starts reporting a job called label of total units (0 if unknown)
// to w. A nil w reports nothing.
func New(w io.Writer, label string, total int64) *Bar {
	b := &Bar{w: w, label: label, total: total, now: time.Now, every: plainEvery}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		b.terminal, b.every = true, termEvery
	}
	b.start = b.now()
	b.last = b.start
	return b
}

// Add records n more units done, and reports if it is time to.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if t := b.now(); t.Sub(b.last) >= b.every {
		b.last = t
		b.report(false)
	}
}

// Done reports the final count; later calls do nothing.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	b.report(true)
}

// report writes the current state: redrawn in place on a terminal, a line
// otherwise. Called with mu held.
func (b *Bar) report(final bool) {
	if b.w == nil {
		return
	}
	line := b.line(final)
	if b.terminal {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(b.w, "\r\033[K%s%s", line, end)
		return
	}
	fmt.Fprintln(b.w, line)
}

// line is the report: label, bar (when the total is known and on a
// terminal), count, rate and, while unfinished, the time left.
func (b *Bar) line(final bool) string {
	elapsed := b.now().Sub(b.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.done) / elapsed.Seconds()
	}
	var s strings.Builder
	s.WriteString(b.label + ": ")
	if b.total > 0 {
		frac := min(float64(b.done)/float64(b.total), 1)
		if b.terminal {
			n := int(frac * barWidth)
			s.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", barWidth-n) + "] ")
		}
		fmt.Fprintf(&s, "%d/%d (%.0f%%)", b.done, b.total, frac*100)
	} else {
		fmt.Fprintf(&s, "%d", b.done)
	}
	fmt.Fprintf(&s, ", %.1f/s", rate)
	switch {
	case final:
		fmt.Fprintf(&s, ", done in %s", elapsed.Round(time.Millisecond))
	case b.total > 0 && rate > 0 && b.done < b.total:
		left := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
		fmt.Fprintf(&s, ", ETA %s", left.Round(time.Second))
	}
	return s.String()
}

// isTerminal reports whether f is a terminal (it has terminal attributes).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
