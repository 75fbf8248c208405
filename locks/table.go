package locks

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// Kind is a lock's type. Unlock in a request releases the range.
type Kind uint8

// Lock kinds; the values are stored, so they must not change.
const (
	Unlock Kind = 0
	Read   Kind = 1
	Write  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Unlock:
		return "U"
	case Read:
		return "R"
	case Write:
		return "W"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// EOF is the End of a range that extends to the end of the file, however
// long it grows. (FUSE reports such ranges with End = math.MaxInt64; the
// caller maps that to EOF.)
const EOF = math.MaxUint64

// Owner identifies a lock holder: a client session and the kernel's lock
// owner within it (the files_struct for POSIX locks, the open file for
// flock), so owners of different mounts never collide.
type Owner struct {
	Session string
	ID      uint64
}

// Lock is one held lock, or a request. Start and End are inclusive byte
// offsets; End == EOF reaches to end of file. Flock locks always cover the
// whole file. Pid is only reported (F_GETLK), never compared.
type Lock struct {
	Owner      Owner
	Pid        uint32
	Kind       Kind
	Start, End uint64
	Flock      bool
}

// Span converts an fcntl range (start, l_len) into inclusive Start and End:
// a zero length reaches to EOF and a negative one ends just before start,
// as POSIX says. It returns EINVAL for a range outside the file offsets.
func Span(start uint64, length int64) (uint64, uint64, error) {
	switch {
	case length == 0:
		return start, EOF, nil
	case length > 0:
		end := start + uint64(length) - 1
		if end < start {
			return 0, 0, syscall.EINVAL
		}
		return start, end, nil
	default:
		n := uint64(-length) // -MinInt64 wraps to 1<<63, which is its magnitude
		if n > start {
			return 0, 0, syscall.EINVAL
		}
		return start - n, start - 1, nil
	}
}

// Table is one inode's locks. It is kept sorted (see compare) and merged:
// an owner's POSIX ranges never overlap and never touch another of the same
// kind, and an owner has at most one flock lock. Tables are values: the
// methods return new tables and never modify the receiver.
type Table []Lock

// compare orders a table: POSIX before flock, then by range start, then by
// owner, so Conflict reports the lowest conflicting range first.
func compare(a, b Lock) int {
	if a.Flock != b.Flock {
		if a.Flock {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Owner.Session, b.Owner.Session),
		cmp.Compare(a.Owner.ID, b.Owner.ID))
}

// normalize makes a flock request whole-file, so callers need not.
func normalize(req Lock) Lock {
	if req.Flock {
		req.Start, req.End = 0, EOF
	}
	return req
}

func overlaps(a, b Lock) bool { return a.Start <= b.End && b.Start <= a.End }

// touches reports whether [a.Start, a.End] and [s, e] overlap or are
// adjacent, written to avoid overflow at EOF.
func touches(a Lock, s, e uint64) bool {
	return (a.End == EOF || a.End+1 >= s) && (e == EOF || e+1 >= a.Start)
}

func conflicts(l, req Lock) bool {
	return l.Flock == req.Flock && l.Owner != req.Owner &&
		(l.Kind == Write || req.Kind == Write) && overlaps(l, req)
}

// Conflict returns the first lock of another owner that keeps req from
// being granted: an overlapping lock of the same family (POSIX or flock)
// where at least one of the two is a Write. An Unlock never conflicts.
func (t Table) Conflict(req Lock) (Lock, bool) {
	if req.Kind == Unlock {
		return Lock{}, false
	}
	req = normalize(req)
	for _, l := range t {
		if conflicts(l, req) {
			return l, true
		}
	}
	return Lock{}, false
}

// blockers returns every distinct owner that blocks req, for the wait
// record: a cycle through any of them is a deadlock, since req needs all
// of them to let go.
func (t Table) blockers(req Lock) []Owner {
	if req.Kind == Unlock {
		return nil
	}
	req = normalize(req)
	var out []Owner
	for _, l := range t {
		if conflicts(l, req) && !slices.Contains(out, l.Owner) {
			out = append(out, l.Owner)
		}
	}
	return out
}

// Apply sets (Read, Write) or releases (Unlock) req's range for req.Owner,
// without checking for conflicts (see Conflict). For POSIX locks the owner's
// overlapped ranges of another kind are split or trimmed, and ranges of the
// same kind that overlap or touch req are merged into it, which is how an
// upgrade or downgrade of part of a range works. A flock request replaces
// the owner's flock lock.
func (t Table) Apply(req Lock) Table {
	req = normalize(req)
	out := make(Table, 0, len(t)+2)
	if req.Flock {
		out = t.filter(func(l Lock) bool { return l.Flock && l.Owner == req.Owner })
		if req.Kind != Unlock {
			out = append(out, req)
		}
		slices.SortFunc(out, compare)
		return out
	}
	lo, hi := req.Start, req.End
	for _, l := range t {
		switch {
		case l.Flock || l.Owner != req.Owner:
			out = append(out, l)
		case req.Kind != Unlock && l.Kind == req.Kind && touches(l, req.Start, req.End):
			// Absorbed: nothing else of this owner overlaps l, so growing
			// the new range over it cannot cover another of its ranges.
			lo, hi = min(lo, l.Start), max(hi, l.End)
		case !overlaps(l, req):
			out = append(out, l)
		default:
			if l.Start < req.Start {
				left := l
				left.End = req.Start - 1
				out = append(out, left)
			}
			if l.End > req.End {
				right := l
				right.Start = req.End + 1
				out = append(out, right)
			}
		}
	}
	if req.Kind != Unlock {
		req.Start, req.End = lo, hi
		out = append(out, req)
	}
	slices.SortFunc(out, compare)
	return out
}

// filter returns the locks of t for which drop is false, in a new table.
func (t Table) filter(drop func(Lock) bool) Table {
	out := make(Table, 0, len(t)+1)
	for _, l := range t {
		if !drop(l) {
			out = append(out, l)
		}
	}
	return out
}

// ReleasePid drops the POSIX locks that pid of session set: POSIX says a
// process loses them when it closes any descriptor of the file.
func (t Table) ReleasePid(session string, pid uint32) Table {
	return t.filter(func(l Lock) bool { return !l.Flock && l.Owner.Session == session && l.Pid == pid })
}

// ReleaseOwner drops o's flock lock (flock) or all of o's POSIX locks.
func (t Table) ReleaseOwner(o Owner, flock bool) Table {
	return t.filter(func(l Lock) bool { return l.Flock == flock && l.Owner == o })
}

// ReleasePosix drops every POSIX lock of session, for the last close of
// the file in that client.
func (t Table) ReleasePosix(session string) Table {
	return t.filter(func(l Lock) bool { return !l.Flock && l.Owner.Session == session })
}

// ReleaseSession drops every lock of session, for eviction and expiry.
func (t Table) ReleaseSession(session string) Table {
	return t.filter(func(l Lock) bool { return l.Owner.Session == session })
}

// sessions returns the distinct sessions holding locks in t.
func (t Table) sessions() []string {
	var out []string
	for _, l := range t {
		if !slices.Contains(out, l.Owner.Session) {
			out = append(out, l.Owner.Session)
		}
	}
	return out
}

// tableVersion leads every encoded table, so the format can change.
const tableVersion = 1

// EncodeTable encodes t compactly: a version byte, the distinct sessions
// once each (a session id is long and repeats across locks), then per lock
// the session's index, owner id, pid, kind and flock flag, start, and End+1
// (so EOF takes one byte), all as varints.
func EncodeTable(t Table) []byte {
	sess := t.sessions()
	b := []byte{tableVersion}
	b = binary.AppendUvarint(b, uint64(len(sess)))
	for _, s := range sess {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(t)))
	for _, l := range t {
		b = binary.AppendUvarint(b, uint64(slices.Index(sess, l.Owner.Session)))
		b = binary.AppendUvarint(b, l.Owner.ID)
		b = binary.AppendUvarint(b, uint64(l.Pid))
		flags := byte(l.Kind)
		if l.Flock {
			flags |= 0x80
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, l.Start)
		b = binary.AppendUvarint(b, l.End+1)
	}
	return b
}

// errCorrupt is wrapped by every DecodeTable error.
var errCorrupt = fmt.Errorf("%w: lock table", fdbstore.ErrCorrupt)

// DecodeTable decodes what EncodeTable wrote. Empty input (an absent key)
// is an empty table. It rejects anything malformed or out of order rather
// than guess at lock state.
func DecodeTable(b []byte) (Table, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != tableVersion {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, b[0])
	}
	d := decoder{b: b[1:]}
	sess := make([]string, d.count())
	for i := range sess {
		n := d.count()
		if d.err == nil {
			sess[i] = string(d.b[:n])
			d.b = d.b[n:]
		}
	}
	t := make(Table, d.count())
	for i := range t {
		l := &t[i]
		si := d.uvarint()
		if d.err == nil && si >= uint64(len(sess)) {
			d.err = fmt.Errorf("%w: session index %d", errCorrupt, si)
		}
		if d.err != nil {
			return nil, d.err
		}
		l.Owner.Session = sess[si]
		l.Owner.ID = d.uvarint()
		pid := d.uvarint()
		l.Pid = uint32(pid)
		flags := d.byte()
		l.Kind, l.Flock = Kind(flags&0x7f), flags&0x80 != 0
		l.Start = d.uvarint()
		l.End = d.uvarint() - 1
		switch {
		case d.err != nil:
			return nil, d.err
		case pid > math.MaxUint32 || (l.Kind != Read && l.Kind != Write) || l.Start > l.End ||
			(l.Flock && (l.Start != 0 || l.End != EOF)):
			return nil, fmt.Errorf("%w: lock %d invalid", errCorrupt, i)
		case i > 0 && compare(t[i-1], *l) >= 0:
			return nil, fmt.Errorf("%w: lock %d out of order", errCorrupt, i)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return t, d.err
}

// decoder reads varints, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err == nil && len(d.b) == 0 {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	if d.err != nil {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a length that must fit in what is left of the input, so a
// corrupt value cannot make us allocate without bound.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: count %d", errCorrupt, n)
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}
