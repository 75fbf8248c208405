package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Tally counts ops of one kind by outcome.
type Tally struct{ OK, Fail, Unknown int }

// Verdict is what Check found.
type Verdict struct {
	Increments, Appends Tally
	Counter             uint64 // the counter's final value
	Records             int    // whole records in the log
	Fences              int
	Problems            []string // empty: the history is consistent
}

// OK reports whether the history passed every check.
func (v Verdict) OK() bool { return len(v.Problems) == 0 }

// String summarises the verdict in one line.
func (v Verdict) String() string {
	verdict := "consistent"
	if !v.OK() {
		verdict = fmt.Sprintf("%d problems", len(v.Problems))
	}
	return fmt.Sprintf("increments ok/fail/unknown %d/%d/%d, counter %d; appends ok/fail/unknown %d/%d/%d, %d records in the log; %d clients fenced or killed: %s",
		v.Increments.OK, v.Increments.Fail, v.Increments.Unknown, v.Counter,
		v.Appends.OK, v.Appends.Fail, v.Appends.Unknown, v.Records, v.Fences, verdict)
}

// checker holds the history indexed for Check.
type checker struct {
	ops    map[uint64]Op
	fenced map[[2]int]time.Time // client -> the earliest time it was seen fenced
	v      Verdict
}

func (c *checker) problem(format string, args ...any) {
	c.v.Problems = append(c.v.Problems, fmt.Sprintf(format, args...))
}

// Check checks a history against the final counter file and log:
//
//   - Counter: every acknowledged increment landed and every failed one did
//     not; an unknown one may have landed or not. Under mutual exclusion
//     each increment that landed added exactly one, so with A acknowledged
//     and U unknown increments the counter C must satisfy A <= C <= A+U;
//     no two acknowledged increments may have read the same value (that is
//     two holders of the flock at once, a lost update); an increment
//     invoked after another was acknowledged must read at least what that
//     one wrote, and so must the final value (an acknowledged increment is
//     never undone); and the counter's last writer must be an increment
//     that was acknowledged or unknown.
//   - Log: every whole record is intact (two writers overlapping tear
//     it), sits at the offset its writer meant, follows the record its
//     writer saw last (else two appenders held the lock at once, or a
//     late write overwrote one), belongs to an append that was acknowledged
//     or unknown, and appears once; every acknowledged append is there. A
//     partial record at the end is allowed only when some append is unknown.
//   - Fencing: no op of a client invoked after the client was seen fenced
//     or killed was acknowledged, and no byte it wrote landed.
func Check(ops []Op, fences []Fence, counter, log []byte) Verdict {
	c := &checker{ops: map[uint64]Op{}, fenced: map[[2]int]time.Time{}}
	for _, op := range ops {
		c.ops[op.ID] = op
		t := &c.v.Increments
		if op.Kind == Append {
			t = &c.v.Appends
		}
		switch op.Outcome {
		case OK:
			t.OK++
		case Fail:
			t.Fail++
		default:
			t.Unknown++
		}
	}
	for _, f := range fences {
		k := [2]int{f.Node, f.Inc}
		if at, ok := c.fenced[k]; !ok || f.At.Before(at) {
			c.fenced[k] = f.At
		}
	}
	c.v.Fences = len(c.fenced)
	c.checkFenced(ops)
	c.checkCounter(ops, counter)
	c.checkLog(ops, log)
	return c.v
}

// afterFence reports whether op was invoked after its client was fenced.
func (c *checker) afterFence(op Op) (time.Time, bool) {
	node, inc := Client(op.ID)
	at, ok := c.fenced[[2]int{node, inc}]
	return at, ok && op.Invoke.After(at)
}

func (c *checker) checkFenced(ops []Op) {
	for _, op := range ops {
		if at, after := c.afterFence(op); after && op.Outcome == OK {
			node, inc := Client(op.ID)
			c.problem("%s %x of %s was acknowledged, invoked %s after the client was fenced",
				op.Kind, op.ID, ClientName(node, inc), op.Invoke.Sub(at).Round(time.Millisecond))
		}
	}
}

// landed checks that the op that wrote a record may have: it exists, is
// of the kind, was not refused, and its client was not fenced first.
func (c *checker) landed(id uint64, kind Kind, where string) {
	op, ok := c.ops[id]
	node, inc := Client(id)
	switch {
	case !ok || op.Kind != kind:
		c.problem("%s was written by op %x (%s), which is no %s in the history", where, id, ClientName(node, inc), kind)
	case op.Outcome == Fail:
		c.problem("%s was written by %s %x of %s, which failed (%s)", where, kind, id, ClientName(node, inc), op.Err)
	}
	if at, after := c.afterFence(op); ok && after {
		c.problem("%s was written by %s %x of %s, invoked %s after the client was fenced: a fenced client's write landed",
			where, kind, id, ClientName(node, inc), op.Invoke.Sub(at).Round(time.Millisecond))
	}
}

func (c *checker) checkCounter(ops []Op, counter []byte) {
	r, err := ParseRecord(counter)
	if err != nil {
		c.problem("the counter file (%d bytes) is not one whole record: %v", len(counter), err)
		return
	}
	c.v.Counter = r.Value
	if r.Op != 0 {
		c.landed(r.Op, Inc, "the counter's value")
	} else if r.Value != 0 {
		c.problem("the counter holds %d with no writer", r.Value)
	}
	byValue := map[uint64]uint64{} // value written -> acknowledged op
	for _, op := range ops {
		if op.Kind != Inc || op.Outcome != OK {
			continue
		}
		if other, dup := byValue[op.Read+1]; dup {
			c.problem("increments %x and %x were both acknowledged after reading %d: two clients held the flock at once (a lost update)",
				other, op.ID, op.Read)
		}
		byValue[op.Read+1] = op.ID
	}
	c.checkRealTime(ops, r.Value)
	a, u := uint64(c.v.Increments.OK), uint64(c.v.Increments.Unknown)
	if r.Value < a || r.Value > a+u {
		c.problem("the counter is %d; with %d increments acknowledged and %d unknown it must be in [%d, %d]", r.Value, a, u, a, a+u)
	}
}

func (c *checker) checkLog(ops []Op, log []byte) {
	if tail := len(log) % RecordSize; tail != 0 && c.v.Appends.Unknown == 0 {
		c.problem("the log ends in a partial record (%d bytes) though no append's outcome is unknown", tail)
	}
	seen := map[uint64]int{}
	var prev uint64
	for k := 0; (k+1)*RecordSize <= len(log); k++ {
		c.v.Records++
		off := k * RecordSize
		r, err := ParseRecord(log[off : off+RecordSize])
		if err != nil {
			c.problem("log record at offset %d is torn: two writes overlapped", off)
			prev = 0 // the chain cannot be followed through a torn record
			continue
		}
		where := fmt.Sprintf("log record at offset %d", off)
		c.landed(r.Op, Append, where)
		if r.Offset != uint64(off) {
			c.problem("%s was meant for offset %d", where, r.Offset)
		}
		if k2, dup := seen[r.Op]; dup {
			c.problem("%s repeats the record of op %x at offset %d", where, r.Op, k2*RecordSize)
		}
		seen[r.Op] = off
		if r.Prev != prev && !(k > 0 && prev == 0 && torn(log, k-1)) {
			c.problem("%s (op %x) was appended after op %x, but follows op %x: two appenders held the lock at once, or a late write overwrote a record",
				where, r.Op, r.Prev, prev)
		}
		prev = r.Op
	}
	var lost []string
	for _, op := range ops {
		if op.Kind == Append && op.Outcome == OK {
			if _, ok := seen[op.ID]; !ok {
				lost = append(lost, fmt.Sprintf("%x", op.ID))
			}
		}
	}
	if len(lost) > 0 {
		c.problem("%d acknowledged appends are not in the log: %s", len(lost), strings.Join(lost, " "))
	}
}

// torn reports whether record k of log is torn (already reported).
func torn(log []byte, k int) bool {
	_, err := ParseRecord(log[k*RecordSize : (k+1)*RecordSize])
	return err != nil
}

// checkRealTime checks that no acknowledged increment is lost: every
// increment that read the counter after another had been acknowledged
// read at least the value that one wrote, and so does the final read.
func (c *checker) checkRealTime(ops []Op, final uint64) {
	var acked []Op // acknowledged increments, by completion
	for _, op := range ops {
		if op.Kind == Inc && op.Outcome == OK {
			acked = append(acked, op)
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Complete.Before(acked[j].Complete) })
	readers := append([]Op(nil), acked...)
	sort.Slice(readers, func(i, j int) bool { return readers[i].Invoke.Before(readers[j].Invoke) })
	var high Op // the acknowledged increment with the highest value written so far
	k := 0
	for _, y := range readers {
		for ; k < len(acked) && acked[k].Complete.Before(y.Invoke); k++ {
			if acked[k].Read >= high.Read || high.ID == 0 {
				high = acked[k]
			}
		}
		if high.ID != 0 && y.Read < high.Read+1 {
			c.problem("increment %x read %d, though increment %x had been acknowledged writing %d before it began: an acknowledged increment was lost",
				y.ID, y.Read, high.ID, high.Read+1)
		}
	}
	for _, x := range acked {
		if x.Read+1 > final {
			c.problem("the counter ended at %d, though increment %x was acknowledged writing %d: an acknowledged increment was lost",
				final, x.ID, x.Read+1)
		}
	}
}
