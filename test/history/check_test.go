package history

import (
	"strings"
	"testing"
	"time"
)

// run builds a history and the files it left, as a correct system would,
// for tests to break one thing at a time.
type run struct {
	h       *History
	t0      time.Time
	seq     uint32
	counter Record
	log     []byte
	last    uint64 // the log's last record's op
}

func newRun() *run {
	return &run{h: New(), t0: time.Unix(1000, 0), counter: Record{}}
}

func (r *run) tick() int64 {
	r.seq++
	return r.t0.Add(time.Duration(r.seq) * time.Millisecond).UnixNano()
}

func (r *run) op(node, inc int, kind Kind) uint64 {
	id := OpID(node, inc, r.seq+1)
	if err := r.h.Add(Event{Op: id, Kind: kind, Ev: Invoked, T: r.tick()}); err != nil {
		panic(err)
	}
	return id
}

func (r *run) done(id uint64, out Outcome, read uint64) {
	if err := r.h.Add(Event{Op: id, Ev: out, T: r.tick(), Read: read}); err != nil {
		panic(err)
	}
}

// inc runs an increment; land says whether its write lands.
func (r *run) inc(node, inc int, out Outcome, land bool) uint64 {
	id := r.op(node, inc, Inc)
	read := r.counter.Value
	if land {
		r.counter = Record{Op: id, Prev: r.counter.Op, Value: read + 1}
	}
	if out != Invoked {
		r.done(id, out, read)
	}
	return id
}

// appendRec runs an append; land says whether its record lands.
func (r *run) appendRec(node, inc int, out Outcome, land bool) uint64 {
	id := r.op(node, inc, Append)
	if land {
		r.log = append(r.log, Record{Op: id, Prev: r.last, Offset: uint64(len(r.log))}.Marshal()...)
		r.last = id
	}
	if out != Invoked {
		r.done(id, out, 0)
	}
	return id
}

func (r *run) check() Verdict {
	return Check(r.h.Ops(), r.h.Fences(), r.counter.Marshal(), r.log)
}

// good is a consistent run with every outcome: acknowledged, refused,
// unknown that landed, unknown that did not, and a worker killed mid-op.
func good() *run {
	r := newRun()
	for i := range 3 {
		r.inc(i, 1, OK, true)
		r.appendRec(i, 1, OK, true)
	}
	r.inc(0, 1, Fail, false)
	r.appendRec(1, 1, Fail, false)
	r.inc(2, 1, Unknown, true)
	r.inc(2, 1, Unknown, false)
	r.appendRec(2, 1, Unknown, true)
	r.appendRec(2, 1, Unknown, false)
	r.h.Fenced(2, 1, time.Unix(0, r.tick()), "partitioned")
	r.inc(0, 1, Invoked, true) // killed after its write landed
	r.appendRec(2, 2, OK, true)
	r.inc(1, 1, OK, true)
	return r
}

func TestCheckConsistent(t *testing.T) {
	v := good().check()
	if !v.OK() {
		t.Fatalf("a consistent history fails: %v", v.Problems)
	}
	want := Verdict{Increments: Tally{OK: 4, Fail: 1, Unknown: 3}, Appends: Tally{OK: 4, Fail: 1, Unknown: 2}, Counter: 6, Records: 5, Fences: 1}
	if v.String() != want.String() {
		t.Errorf("verdict %s\nwant %s", v, want)
	}
}

// TestCheckFindsViolations: each history a broken system could leave is
// caught, with a problem naming it.
func TestCheckFindsViolations(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(r *run)
		want   string
	}{
		{"lost update: two holders read the same value", func(r *run) {
			id := r.op(0, 1, Inc)
			r.done(id, OK, r.counter.Value-1)
			r.counter.Value++ // as if both wrote, though one value is repeated
		}, "two clients held the flock at once"},
		{"acknowledged increment did not land", func(r *run) {
			id := r.op(1, 1, Inc)
			r.done(id, OK, r.counter.Value)
		}, "an acknowledged increment was lost"},
		{"acknowledged increment overwritten by a later one", func(r *run) {
			id := r.op(1, 1, Inc)
			r.done(id, OK, r.counter.Value)
			r.inc(0, 1, OK, true) // reads the value before the lost one
		}, "an acknowledged increment was lost"},
		{"counter past what was tried", func(r *run) { r.counter.Value += 2 }, "must be in"},
		{"failed increment landed", func(r *run) {
			r.inc(0, 1, Fail, true)
		}, "which failed"},
		{"counter written by a fenced client", func(r *run) {
			r.inc(2, 1, Unknown, true)
		}, "a fenced client's write landed"},
		{"fenced client acknowledged", func(r *run) {
			id := r.op(2, 1, Append)
			r.done(id, OK, 0)
			r.log = append(r.log, Record{Op: id, Prev: r.last, Offset: uint64(len(r.log))}.Marshal()...)
		}, "was acknowledged, invoked"},
		{"acknowledged append lost", func(r *run) {
			r.appendRec(0, 1, OK, false)
		}, "acknowledged appends are not in the log"},
		{"failed append landed", func(r *run) {
			r.appendRec(1, 1, Fail, true)
		}, "which failed"},
		{"two appends overlap", func(r *run) {
			rec := Record{Op: r.appendRec(1, 1, Unknown, false), Prev: r.last, Offset: uint64(len(r.log) - 32)}.Marshal()
			copy(r.log[len(r.log)-32:], rec[:32])
			r.log = append(r.log, rec[32:]...)
		}, "torn"},
		{"late write overwrote a record", func(r *run) {
			stale := r.last
			r.appendRec(0, 1, OK, true)
			r.appendRec(1, 1, OK, true)
			// An append that read the end before the two above lands after them,
			// over the first.
			id := r.op(2, 2, Append)
			r.done(id, Unknown, 0)
			n := len(r.log)
			copy(r.log[n-2*RecordSize:], Record{Op: id, Prev: stale, Offset: uint64(n - 2*RecordSize)}.Marshal())
		}, "two appenders held the lock at once"},
		{"record repeated", func(r *run) {
			id := r.appendRec(0, 1, OK, true)
			r.log = append(r.log, Record{Op: id, Prev: id, Offset: uint64(len(r.log))}.Marshal()...)
		}, "repeats the record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.break_(r)
			v := r.check()
			if v.OK() {
				t.Fatal("the checker passed a broken history")
			}
			if c.want != "" && !strings.Contains(strings.Join(v.Problems, "\n"), c.want) {
				t.Errorf("problems %q; want one saying %q", v.Problems, c.want)
			}
		})
	}
}

func TestPartialTailNeedsUnknownAppend(t *testing.T) {
	r := newRun()
	r.appendRec(0, 1, OK, true)
	r.log = append(r.log, 1, 2, 3)
	if v := r.check(); v.OK() {
		t.Error("a partial record with every append acknowledged passed")
	}
	r.appendRec(0, 1, Unknown, false)
	if v := r.check(); !v.OK() {
		t.Errorf("a partial record with an unknown append fails: %v", v.Problems)
	}
}

func TestEventsOutOfOrder(t *testing.T) {
	h := New()
	if err := h.Add(Event{Op: 1, Ev: OK}); err == nil {
		t.Error("an outcome with no invoke was accepted")
	}
	if err := h.AddLine(Event{Op: 1, Kind: Inc, Ev: Invoked, T: 1}.Line()); err != nil {
		t.Fatal(err)
	}
	if err := h.AddLine(Event{Op: 1, Ev: OK, T: 2}.Line()); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(Event{Op: 1, Ev: Fail, T: 3}); err == nil {
		t.Error("a second outcome was accepted")
	}
	if err := h.AddLine([]byte("not json")); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestOpID(t *testing.T) {
	node, inc := Client(OpID(2, 70000, 123456))
	if node != 2 || inc != 70000 {
		t.Errorf("Client(OpID(2, 70000, _)) = %d, %d", node, inc)
	}
}
