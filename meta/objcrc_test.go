package meta

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/hafs/hafs/fdbstore"
)

// TestObjectCRC: the CRC32C combined from page CRCs equals the CRC32C of
// the whole object, for sizes around page boundaries and odd page sizes.
func TestObjectCRC(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ size, page int64 }{
		{1, 4}, {4, 4}, {5, 4}, {7, 4}, {8, 4}, {9, 4}, {100, 7}, {4096, 4096},
		{65536*3 + 17, 65536}, {4 << 20, 65536}, {1000, 1}, {12345, 1000},
	} {
		data := make([]byte, c.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var pages []uint32
		for lo := int64(0); lo < c.size; lo += c.page {
			pages = append(pages, crc32.Checksum(data[lo:min(lo+c.page, c.size)], tab))
		}
		got, ok := objectCRC(pages, c.size, c.page)
		if want := crc32.Checksum(data, tab); !ok || got != want {
			t.Errorf("size %d page %d: objectCRC = %08x, %v; want %08x", c.size, c.page, got, ok, want)
		}
	}
	if _, ok := objectCRC([]uint32{1, 2}, 5, 4); ok != true {
		t.Errorf("two pages for 5 bytes of 4-byte pages refused")
	}
	for _, c := range []struct {
		pages      int
		size, page int64
	}{{1, 5, 4}, {3, 5, 4}, {0, 0, 4}, {1, 4, 0}} {
		if _, ok := objectCRC(make([]uint32, c.pages), c.size, c.page); ok {
			t.Errorf("%d pages for %d bytes of %d-byte pages accepted", c.pages, c.size, c.page)
		}
	}
}

// TestJobValue: replication job rows round-trip with and without a CRC,
// and rows written before the CRC existed (size, time, claim) still read.
func TestJobValue(t *testing.T) {
	for _, j := range []jobValue{
		{size: 5, enq: 7},
		{size: 4 << 20, enq: 1 << 60, claim: "0123456789abcdef"},
		{size: 1, enq: -3, crc: 0xdeadbeef, hasCRC: true},
		{size: 9, enq: 2, crc: 0, hasCRC: true, claim: "ab"},
		{size: 9, enq: 2, retryAt: 1 << 62, claim: "ab"},
		{size: 9, enq: 2, crc: 7, hasCRC: true, retryAt: -5},
	} {
		got, err := decodeJob(j.encode())
		if err != nil || got != j {
			t.Errorf("decode(encode(%+v)) = %+v, %v", j, got, err)
		}
	}
	old := binary.AppendVarint(binary.AppendUvarint(nil, 42), 99)
	old = append(old, "cafe"...)
	if got, err := decodeJob(old); err != nil || got != (jobValue{size: 42, enq: 99, claim: "cafe"}) {
		t.Errorf("old row: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0x80}, {1}, {1, 2, 0, 1, 2}, {1, 2, 1}, {1, 2, 1, 0x80}} {
		if _, err := decodeJob(bad); !errors.Is(err, fdbstore.ErrCorrupt) {
			t.Errorf("corrupt row %x: %v, want ErrCorrupt", bad, err)
		}
	}
}
