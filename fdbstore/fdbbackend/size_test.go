package fdbbackend

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hafs/hafs/fdbstore"
)

// TestSizerCounts checks each operation's cost against FoundationDB's
// accounting: key and value, the mutation's overhead, and the conflict
// range (a point range [k, k+"\x00") is 2·len(k)+1 bytes).
func TestSizerCounts(t *testing.T) {
	k := bytes.Repeat([]byte("k"), 40)
	cases := []struct {
		name string
		do   func(*sizer)
		want int
	}{
		{"set", func(z *sizer) { z.set(k, 100) }, 40 + 100 + mutationOverhead + rangeOverhead + 81},
		{"add", func(z *sizer) { z.set(k, 8) }, 40 + 8 + mutationOverhead + rangeOverhead + 81},
		{"clear", func(z *sizer) { z.clear(k) }, 81 + rangeOverhead + rangeOverhead + 81},
		{"clearRange", func(z *sizer) { z.clearRange(k, k[:10]) }, 50 + mutationOverhead + 50 + rangeOverhead},
		{"read", func(z *sizer) { z.read(k) }, rangeOverhead + 81},
		{"readRange", func(z *sizer) { z.readRange(k, k[:10]) }, 50 + rangeOverhead},
	}
	for _, tc := range cases {
		var z sizer
		tc.do(&z)
		if z.n != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, z.n, tc.want)
		}
	}
}

// TestSizerNearLimit fills a transaction the way meta's largest ones are
// built (many small rows) up to just under fdbstore's key+value bound:
// fdbstore.Limits accepts it, FoundationDB would refuse it, and the sizer
// says so before the commit is sent. Half of it fits both.
func TestSizerNearLimit(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 40)
	value := bytes.Repeat([]byte("v"), 100)
	rows := fdbstore.MaxTxWriteBytes / (len(key) + len(value)) // just under 10 MB of keys and values
	fill := func(n int) (fdbstore.Limits, sizer) {
		var lim fdbstore.Limits
		var z sizer
		for range n {
			lim.CheckSet(key, value)
			z.set(key, len(value))
		}
		return lim, z
	}
	lim, z := fill(rows)
	if lim.Err() != nil {
		t.Fatalf("fdbstore.Limits refuses %d rows: %v", rows, lim.Err())
	}
	if err := z.err(); !errors.Is(err, fdbstore.ErrTxTooLarge) {
		t.Fatalf("%d rows (%d bytes as FDB counts them) pass the sizer: err = %v", rows, z.n, err)
	}
	_, z = fill(rows / 3)
	if err := z.err(); err != nil {
		t.Fatalf("a third of it (%d rows, %d bytes) is refused: %v", rows/3, z.n, err)
	}
}
