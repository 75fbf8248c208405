package fdbbackend

import (
	"bytes"
	"testing"
)

// TestKeyspace checks that a filesystem's keys, and every range over
// them, stay inside its subspace, and that nested names do not overlap.
func TestKeyspace(t *testing.T) {
	a, ab := newKeyspace("a"), newKeyspace("a/b")
	k := a.key([]byte("x"))
	if !bytes.HasPrefix(k, a.prefix) || !bytes.Equal(a.strip(k), []byte("x")) {
		t.Fatalf("key %q in %q strips to %q", k, a.prefix, a.strip(k))
	}
	for _, end := range [][]byte{nil, []byte("\xff\xff\xff")} {
		if e := a.rangeEnd(end); bytes.Compare(e, a.end) > 0 {
			t.Errorf("rangeEnd(%q) = %q passes the subspace end %q", end, e, a.end)
		}
	}
	// Every key of "a/b" lies outside [a's begin, a's end).
	kb := ab.key([]byte("x"))
	if bytes.Compare(kb, a.prefix) >= 0 && bytes.Compare(kb, a.end) < 0 {
		t.Errorf("a key of %q, %q, lies in the subspace of %q", "a/b", kb, "a")
	}
	all := newKeyspace("")
	if e := all.rangeEnd(nil); !bytes.Equal(e, systemKeys) {
		t.Errorf("the whole keyspace ends at %q, want %q", e, systemKeys)
	}
	if e := all.rangeEnd([]byte("\xff\x01")); !bytes.Equal(e, systemKeys) {
		t.Errorf("a range into the system keys ends at %q, want %q", e, systemKeys)
	}
}
