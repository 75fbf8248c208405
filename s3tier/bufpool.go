package s3tier

import (
	"math/bits"
	"sync"
)

// Buffer size classes: powers of two from 64 KiB to 64 MiB.
const (
	minBufShift = 16
	maxBufShift = 26
)

// bufPool recycles the buffers that object reads land in. A fresh large
// allocation is zeroed by the runtime and then faulted in by the kernel a
// page at a time, which cost more CPU than the copy out of the socket;
// the page cache hands its evicted buffers back here instead.
type bufPool struct {
	classes [maxBufShift - minBufShift + 1]sync.Pool // of *[]byte
}

// class returns the size class that holds n bytes, or -1 past the largest.
func bufClass(n int) int {
	shift := max(bits.Len(uint(n-1)), minBufShift)
	if n <= 0 || shift > maxBufShift {
		return -1
	}
	return shift - minBufShift
}

// get returns a buffer of length n; its contents are whatever it last held.
func (p *bufPool) get(n int) []byte {
	c := bufClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+minBufShift))
}

// put recycles b, which nobody may use afterwards. Buffers not made by get
// (their capacity is not a class size) are left to the garbage collector.
func (p *bufPool) put(b []byte) {
	c := bufClass(cap(b))
	if c < 0 || cap(b) != 1<<(c+minBufShift) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
