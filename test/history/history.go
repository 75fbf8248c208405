package history

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Kind is what an op does.
type Kind string

// The kinds of op.
const (
	Inc    Kind = "inc"    // read the counter under flock, write it plus one, fsync
	Append Kind = "append" // append a record to the log under an fcntl write lock, fsync
)

// Outcome is what the worker was told.
type Outcome string

// The outcomes; an op invoked and never completed (its worker was killed)
// counts as Unknown.
const (
	Invoked Outcome = "invoke"
	OK      Outcome = "ok"
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown"
)

// Event is one line a worker reports: an op invoked, or its outcome.
type Event struct {
	Op   uint64  `json:"op"`
	Kind Kind    `json:"kind"`
	Ev   Outcome `json:"ev"`
	T    int64   `json:"t"`              // wall clock, Unix ns (every worker runs on this machine)
	Read uint64  `json:"read,omitempty"` // Inc, on OK: the value it read under the lock
	Err  string  `json:"err,omitempty"`
}

// Line encodes e as one line of JSON.
func (e Event) Line() []byte {
	b, _ := json.Marshal(e)
	return append(b, '\n')
}

// Op is one attempt, invoke and outcome together.
type Op struct {
	ID       uint64
	Kind     Kind
	Invoke   time.Time
	Complete time.Time // zero when the worker never said
	Outcome  Outcome
	Read     uint64
	Err      string
}

// Fence says a client (a node's mount incarnation) was fenced or killed,
// as the test observed at At: nothing it invoked after At may be
// acknowledged or land. The real fence came at or before At.
type Fence struct {
	Node, Inc int
	At        time.Time
	Why       string
}

// History collects events from concurrent workers.
type History struct {
	mu     sync.Mutex
	ops    map[uint64]*Op
	fences []Fence
}

// New returns an empty history.
func New() *History { return &History{ops: map[uint64]*Op{}} }

// Add records one event; a malformed or out-of-order one is an error.
func (h *History) Add(e Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := h.ops[e.Op]
	switch {
	case e.Ev == Invoked && op == nil:
		h.ops[e.Op] = &Op{ID: e.Op, Kind: e.Kind, Invoke: time.Unix(0, e.T), Outcome: Unknown}
	case op != nil && op.Complete.IsZero() && (e.Ev == OK || e.Ev == Fail || e.Ev == Unknown):
		op.Complete, op.Outcome, op.Read, op.Err = time.Unix(0, e.T), e.Ev, e.Read, e.Err
	default:
		return fmt.Errorf("history: event %+v out of order", e)
	}
	return nil
}

// AddLine records one line of a worker's output.
func (h *History) AddLine(line []byte) error {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("history: %q: %w", line, err)
	}
	return h.Add(e)
}

// Fenced records that a client was fenced (or killed) by time at.
func (h *History) Fenced(node, inc int, at time.Time, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fences = append(h.fences, Fence{Node: node, Inc: inc, At: at, Why: why})
}

// Ops returns every op so far, ordered by invocation.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := make([]Op, 0, len(h.ops))
	for _, op := range h.ops {
		ops = append(ops, *op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Invoke.Before(ops[j].Invoke) })
	return ops
}

// Fences returns the fences recorded.
func (h *History) Fences() []Fence {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Fence(nil), h.fences...)
}

// Progress returns how many ops of a client (node, incarnation) were
// acknowledged after since.
func (h *History) Progress(node, inc int, since time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, op := range h.ops {
		if nd, in := Client(op.ID); nd == node && in == inc && op.Outcome == OK && op.Complete.After(since) {
			n++
		}
	}
	return n
}
