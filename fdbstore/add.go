package fdbstore

import "encoding/binary"

// AddLE returns cur plus delta, both little-endian signed 64-bit integers,
// as FoundationDB's ADD computes it: a short cur is padded with zeros (an
// absent value counts as zero) and the result keeps the operand's 8 bytes.
// Backends without an atomic add use it to read, add and write.
func AddLE(cur []byte, delta int64) []byte {
	var buf [8]byte
	copy(buf[:], cur)
	sum := int64(binary.LittleEndian.Uint64(buf[:])) + delta
	binary.LittleEndian.PutUint64(buf[:], uint64(sum))
	return buf[:]
}
