package s3tier

import (
	"fmt"
	"strings"
	"testing"
)

// TestPageCache runs scripts of puts, reads and checks against a cache of
// 4-byte pages with a 32-byte budget. Each put's data is the page number
// repeated. Lines:
//
//	put SLICE FIRST LEN [pooled]   cache LEN bytes of SLICE from page FIRST
//	read SLICE FROM TO             copy bytes [FROM, TO) page by page: the
//	                               pages found, "-" for a missing one
//	used N                         bytes charged
//	freed N                        pooled buffers handed back so far
func TestPageCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
	}{
		{"run answers each page", `
put 1 0 10
read 1 0 10   -> 0000111122
read 1 2 6    -> 0011
used 10
`},
		{"read past the cached run", `
put 1 2 8
read 1 4 16   -> - 22223333
`},
		{"eviction of the oldest run frees its buffer", `
put 1 0 16 pooled
put 2 0 16 pooled
read 1 0 4    -> 0000
put 3 0 16 pooled
read 2 0 4    -> -
read 1 0 4    -> 0000
freed 1
used 32
`},
		{"a page cached already keeps its entry", `
put 1 0 8
put 1 1 8 pooled
read 1 4 12   -> 11112222
used 16
freed 0
`},
		{"a run with nothing new goes back at once", `
put 1 0 8
put 1 0 8 pooled
freed 1
used 8
`},
		{"larger than the budget is not kept", `
put 1 0 40 pooled
read 1 0 4    -> -
freed 1
used 0
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ps = 4
			freed := 0
			c := newPageCache(32, ps, func([]byte) { freed++ })
			for _, line := range strings.Split(strings.TrimSpace(tc.script), "\n") {
				cmd, want, _ := strings.Cut(line, "->")
				f := strings.Fields(cmd)
				var a [3]int64
				for i := 1; i < len(f) && i <= 3; i++ {
					fmt.Sscan(f[i], &a[i-1])
				}
				switch f[0] {
				case "put":
					data := make([]byte, a[2])
					for i := range data {
						data[i] = byte('0' + a[1] + int64(i)/ps)
					}
					c.put(uint64(a[0]), a[1], data, len(f) > 4 && f[4] == "pooled")
				case "read":
					from, to := a[1], a[2]
					dst := make([]byte, to-from)
					var got []string
					for pg := from / ps; pg*ps < to; pg++ {
						if !c.copyPage(pageKey{uint64(a[0]), pg}, dst, from, to) {
							got = append(got, "-")
							continue
						}
						lo, hi := max(from, pg*ps), min(to, pg*ps+ps)
						got = append(got, string(dst[lo-from:hi-from]))
					}
					if g := strings.Join(joinRuns(got), " "); g != strings.TrimSpace(want) {
						t.Errorf("%s: got %q, want %q", line, g, strings.TrimSpace(want))
					}
				case "used":
					if c.used != a[0] {
						t.Errorf("%s: used %d", line, c.used)
					}
				case "freed":
					if int64(freed) != a[0] {
						t.Errorf("%s: freed %d", line, freed)
					}
				default:
					t.Fatalf("bad line %q", line)
				}
			}
		})
	}
}

// joinRuns glues consecutive found pages into one word.
func joinRuns(pages []string) []string {
	var out []string
	for i, p := range pages {
		if i > 0 && p != "-" && out[len(out)-1] != "-" {
			out[len(out)-1] += p
			continue
		}
		out = append(out, p)
	}
	return out
}

// TestBufPool: buffers come back in their size class with the length
// asked, and buffers the pool did not make are never taken.
func TestBufPool(t *testing.T) {
	var p bufPool
	for _, tc := range []struct {
		n, cap int
	}{{1, 64 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 128 << 10}, {4 << 20, 4 << 20}, {5 << 20, 8 << 20}, {65 << 20, 65 << 20}} {
		b := p.get(tc.n)
		if len(b) != tc.n || cap(b) != tc.cap {
			t.Errorf("get(%d): len %d cap %d, want cap %d", tc.n, len(b), cap(b), tc.cap)
		}
	}
	b := p.get(100 << 10)
	b[0] = 7
	p.put(b)
	// sync.Pool may drop what it holds at any time, so only what comes
	// back is checked: the right class, and never a foreign buffer.
	if again := p.get(70 << 10); len(again) != 70<<10 || cap(again) != 128<<10 {
		t.Errorf("get after put: len %d cap %d", len(again), cap(again))
	}
	foreign := make([]byte, 100<<10)
	p.put(foreign)
	for range 10 {
		if got := p.get(100 << 10); &got[0] == &foreign[0] {
			t.Fatal("the pool handed out a buffer it did not make")
		}
	}
}
