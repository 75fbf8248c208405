package tuple

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

func TestPackKnownEncodings(t *testing.T) {
	tests := []struct {
		name string
		in   []any
		want []byte
	}{
		{"empty", nil, []byte{}},
		{"zero", []any{int64(0)}, []byte{0x14}},
		{"one", []any{1}, []byte{0x15, 0x01}},
		{"255", []any{255}, []byte{0x15, 0xff}},
		{"256", []any{256}, []byte{0x16, 0x01, 0x00}},
		{"minus one", []any{-1}, []byte{0x13, 0xfe}},
		{"minus 255", []any{-255}, []byte{0x13, 0x00}},
		{"minus 256", []any{-256}, []byte{0x12, 0xfe, 0xff}},
		{"max int64", []any{int64(math.MaxInt64)}, []byte{0x1c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"min int64", []any{int64(math.MinInt64)}, []byte{0x0c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"uint64", []any{uint64(7)}, []byte{0x15, 0x07}},
		{"string", []any{"ab"}, []byte{0x02, 'a', 'b', 0x00}},
		{"empty string", []any{""}, []byte{0x02, 0x00}},
		{"string with nul", []any{"a\x00b"}, []byte{0x02, 'a', 0x00, 0xff, 'b', 0x00}},
		{"bytes", []any{[]byte{0x00, 0xff}}, []byte{0x01, 0x00, 0xff, 0xff, 0x00}},
		{"nil bytes", []any{[]byte(nil)}, []byte{0x01, 0x00}},
		{"mixed", []any{"d", int64(-2), []byte("x")}, []byte{0x02, 'd', 0x00, 0x13, 0xfd, 0x01, 'x', 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pack(tt.in...)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Pack(%v) = % x, want % x", tt.in, got, tt.want)
			}
			back, err := Unpack(got)
			if err != nil {
				t.Fatalf("Unpack(% x): %v", got, err)
			}
			if !equalTuples(back, normalize(tt.in)) {
				t.Fatalf("Unpack(Pack(%v)) = %v", tt.in, back)
			}
		})
	}
}

func TestAppendPackDoesNotDisturbPrefix(t *testing.T) {
	prefix := Pack("dir", 42)
	key := AppendPack(slices.Clip(prefix), "name")
	if !bytes.Equal(key, Pack("dir", 42, "name")) {
		t.Fatalf("AppendPack = % x", key)
	}
	if !bytes.Equal(prefix, Pack("dir", 42)) {
		t.Fatalf("prefix modified: % x", prefix)
	}
}

func TestPackPanics(t *testing.T) {
	for _, in := range []any{3.5, nil, uint64(math.MaxUint64), struct{}{}} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.HasPrefix(msg, "tuple: element 1:") {
					t.Errorf("Pack(%#v) panic = %v, want element-1 message", in, r)
				}
			}()
			Pack("ok", in)
		}()
	}
}

func TestUnpackMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown code", []byte{0x03}, "element 0 (offset 0): unknown type code 0x03"},
		{"code 0xff", []byte{0x14, 0xff}, "element 1 (offset 1): unknown type code 0xff"},
		{"truncated string", []byte{0x15, 0x01, 0x14, 0x02, 'a'}, "element 2 (offset 3): truncated string"},
		{"string ends in escape", []byte{0x02, 'a', 0x00, 0xff}, "truncated string"},
		{"truncated bytes", []byte{0x01}, "truncated bytes"},
		{"truncated int", []byte{0x16, 0x01}, "truncated integer"},
		{"truncated neg int", []byte{0x0c}, "truncated integer"},
		{"leading zero", []byte{0x16, 0x00, 0x01}, "non-canonical integer"},
		{"neg leading zero", []byte{0x12, 0xff, 0xfe}, "non-canonical integer"},
		{"overflow", []byte{0x1c, 0x80, 0, 0, 0, 0, 0, 0, 0}, "overflows int64"},
		{"underflow", []byte{0x0c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, "underflows int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unpack(tt.in)
			if err == nil {
				t.Fatalf("Unpack(% x) = %v, want error", tt.in, got)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
			if !strings.HasPrefix(err.Error(), "tuple: element ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestUnpackDoesNotAlias(t *testing.T) {
	key := Pack([]byte("abc"))
	got, err := Unpack(key)
	if err != nil {
		t.Fatal(err)
	}
	key[1] = 'z'
	if string(got[0].([]byte)) != "abc" {
		t.Fatalf("result aliases input: %q", got[0])
	}
}

func TestRange(t *testing.T) {
	prefix := Pack("inode", 7)
	begin, end := Range(prefix)
	inside := [][]byte{Pack("inode", 7, 0), Pack("inode", 7, math.MinInt64), Pack("inode", 7, []byte{}), Pack("inode", 7, "\xff\xff")}
	outside := [][]byte{prefix, Pack("inode", 6, 1), Pack("inode", 8), Pack("inode", 8, []byte{})}
	for _, k := range inside {
		if bytes.Compare(k, begin) < 0 || bytes.Compare(k, end) >= 0 {
			t.Errorf("Range excludes % x", k)
		}
	}
	for _, k := range outside {
		if bytes.Compare(k, begin) >= 0 && bytes.Compare(k, end) < 0 {
			t.Errorf("Range includes % x", k)
		}
	}
	begin[0], end[0] = 0, 0
	if !bytes.Equal(prefix, Pack("inode", 7)) {
		t.Fatal("Range aliases its input")
	}

	pb, pe := PrefixRange(prefix)
	if !bytes.Equal(pb, prefix) || bytes.Compare(pe, end) < 0 || bytes.Compare(pe, Pack("inode", 8)) > 0 {
		t.Errorf("PrefixRange = % x, % x", pb, pe)
	}
	if pb, pe := PrefixRange(nil); len(pb) != 0 || pe != nil {
		t.Errorf("PrefixRange(nil) = % x, % x; want empty, nil", pb, pe)
	}
	if _, pe := PrefixRange([]byte{0x02, 0xff, 0xff}); !bytes.Equal(pe, []byte{0x03}) {
		t.Errorf("PrefixRange carry = % x", pe)
	}
}

// TestOrderProperty checks on random tuples that byte order equals tuple order
// and that decoding inverts encoding.
func TestOrderProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n = 3000
	tuples := make([][]any, n)
	for i := range tuples {
		tuples[i] = randomTuple(rng)
	}
	// Derive some tuples from others so shared prefixes and near-equal
	// values, where ordering bugs hide, actually occur.
	for i := 0; i < n/3; i++ {
		src := tuples[rng.Intn(n)]
		tuples = append(tuples, append(slices.Clone(src[:rng.Intn(len(src)+1)]), randomElem(rng)))
	}
	keys := make([][]byte, len(tuples))
	for i, tup := range tuples {
		keys[i] = Pack(tup...)
		back, err := Unpack(keys[i])
		if err != nil {
			t.Fatalf("Unpack(Pack(%#v)): %v", tup, err)
		}
		if !equalTuples(back, tup) {
			t.Fatalf("round trip of %#v gave %#v", tup, back)
		}
	}
	for i := 0; i < 20*len(tuples); i++ {
		a, b := rng.Intn(len(tuples)), rng.Intn(len(tuples))
		want := compareTuples(tuples[a], tuples[b])
		if got := bytes.Compare(keys[a], keys[b]); got != want {
			t.Fatalf("order mismatch: %#v vs %#v: bytes %d, tuples %d", tuples[a], tuples[b], got, want)
		}
	}
	// Sorting both ways must agree, which also covers neighbours.
	idx := make([]int, len(tuples))
	for i := range idx {
		idx[i] = i
	}
	byKey := slices.Clone(idx)
	slices.SortStableFunc(byKey, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	for i := 1; i < len(byKey); i++ {
		if compareTuples(tuples[byKey[i-1]], tuples[byKey[i]]) > 0 {
			t.Fatalf("key order puts %#v before %#v", tuples[byKey[i-1]], tuples[byKey[i]])
		}
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add([]byte{})
	f.Add(Pack("a\x00b", []byte{0xff}, int64(math.MinInt64), int64(math.MaxInt64), 0, -1))
	f.Add([]byte{0x02, 0x00, 0xff})
	f.Add([]byte{0x16, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		tup, err := Unpack(b)
		if err != nil {
			return
		}
		if got := Pack(tup...); !bytes.Equal(got, b) {
			t.Fatalf("Pack(Unpack(% x)) = % x", b, got)
		}
	})
}

var edgeInts = []int64{0, 1, -1, 255, 256, -255, -256, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 32, -(1 << 32)}

func randomElem(rng *rand.Rand) any {
	switch rng.Intn(3) {
	case 0:
		switch rng.Intn(3) {
		case 0:
			return edgeInts[rng.Intn(len(edgeInts))]
		case 1:
			return int64(rng.Intn(600) - 300)
		}
		// Spread across every length class in both signs.
		v := int64(rng.Uint64() >> uint(rng.Intn(64)))
		if rng.Intn(2) == 0 {
			v = -v
		}
		return v
	case 1:
		return string(randomBytes(rng))
	}
	return randomBytes(rng)
}

func randomBytes(rng *rand.Rand) []byte {
	// A tiny alphabet rich in 0x00 and 0xff makes escapes and shared
	// prefixes common; empty values come out often.
	alphabet := []byte{0x00, 0x01, 0xfe, 0xff, 'a'}
	b := make([]byte, rng.Intn(5))
	for i := range b {
		b[i] = alphabet[rng.Intn(len(alphabet))]
	}
	return b
}

func randomTuple(rng *rand.Rand) []any {
	tup := make([]any, rng.Intn(5))
	for i := range tup {
		tup[i] = randomElem(rng)
	}
	return tup
}

// typeRank mirrors the type-code order: bytes < string < integer.
func typeRank(v any) int {
	switch v.(type) {
	case []byte:
		return 0
	case string:
		return 1
	}
	return 2
}

func compareElems(a, b any) int {
	if c := cmp.Compare(typeRank(a), typeRank(b)); c != 0 {
		return c
	}
	switch a := a.(type) {
	case []byte:
		return bytes.Compare(a, b.([]byte))
	case string:
		return strings.Compare(a, b.(string))
	}
	return cmp.Compare(a.(int64), b.(int64))
}

func compareTuples(a, b []any) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareElems(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func equalTuples(a, b []any) bool {
	return len(a) == len(b) && compareTuples(a, b) == 0
}

// normalize converts test inputs to the types Unpack returns.
func normalize(in []any) []any {
	out := make([]any, len(in))
	for i, v := range in {
		switch v := v.(type) {
		case int:
			out[i] = int64(v)
		case uint64:
			out[i] = int64(v)
		case []byte:
			out[i] = bytes.Clone(v)
			if v == nil {
				out[i] = []byte{}
			}
		default:
			out[i] = v
		}
	}
	return out
}
