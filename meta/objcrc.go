package meta

import "hash/crc32"

// objectCRC returns the CRC32C of a whole slice object from the CRC32C of
// each of its pages (size bytes in pages of pageSize), without the data:
// a replication job carries it, so that a copy is checked before it is
// stored on another site. It reports false when the page list does not
// match the size (a hole, or a record without checksums).
func objectCRC(pages []uint32, size, pageSize int64) (uint32, bool) {
	if size <= 0 || pageSize <= 0 || int64(len(pages)) != (size+pageSize-1)/pageSize {
		return 0, false
	}
	whole := pages[0]
	var full, last *crcShift
	for i := 1; i < len(pages); i++ {
		n := min(pageSize, size-int64(i)*pageSize)
		op := full
		if n != pageSize {
			if last == nil {
				last = newCRCShift(n)
			}
			op = last
		} else if full == nil {
			full = newCRCShift(pageSize)
			op = full
		}
		// crc(A||B) = shift_len(B)(crc(A)) ^ crc(B): appending B's length
		// of zero bits moves A's CRC past B, and CRCs add by XOR.
		whole = op.apply(whole) ^ pages[i]
	}
	return whole, true
}

// crcShift is the linear map, over GF(2), that a CRC32C register goes
// through when n zero bytes pass (zlib's crc32_combine, split so that the
// map for one page length is built once and applied to every page).
type crcShift [32]uint32

func (m *crcShift) apply(v uint32) uint32 {
	var sum uint32
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// square sets m to a∘a.
func (m *crcShift) square(a *crcShift) {
	for i := range m {
		m[i] = a.apply(a[i])
	}
}

// then sets m to b∘a (a first).
func (m *crcShift) then(a, b *crcShift) {
	for i := range m {
		m[i] = b.apply(a[i])
	}
}

func newCRCShift(n int64) *crcShift {
	// One zero bit: the reflected register shifts right, folding in the
	// polynomial when the bit shifted out is set.
	var bit crcShift
	bit[0] = crc32.Castagnoli
	for i := 1; i < 32; i++ {
		bit[i] = 1 << (i - 1)
	}
	// One zero byte is eight zero bits; n bytes by square-and-multiply.
	var b2, b4 crcShift
	b2.square(&bit)
	b4.square(&b2)
	pow := new(crcShift) // the map for 2^k bytes, k rising
	pow.square(&b4)
	var acc *crcShift
	for {
		if n&1 != 0 {
			if acc == nil {
				acc = new(crcShift)
				*acc = *pow
			} else {
				next := new(crcShift)
				next.then(acc, pow)
				acc = next
			}
		}
		n >>= 1
		if n == 0 {
			return acc
		}
		next := new(crcShift)
		next.square(pow)
		pow = next
	}
}
