package fdbbackend

import (
	"fmt"

	"github.com/hafs/hafs/fdbstore"
)

// SizeLimit is FoundationDB's default bound on one transaction
// (transaction_size_limit, 10,000,000 bytes), counted its way: see sizer.
const SizeLimit = 10_000_000

// The client's in-memory sizes of one mutation and of one key range
// (MutationRef and KeyRangeRef on a 64-bit machine), which it adds to a
// transaction's size for each of them.
const (
	mutationOverhead = 40
	rangeOverhead    = 32
)

// sizer counts a transaction's size as FoundationDB does, from above:
// every mutation's keys and value plus its fixed overhead, and every
// conflict range the commit carries. A Set of key k writes the range
// [k, k+"\x00"), 2·len(k)+1 bytes; a Get adds the same as a read
// conflict; a range read adds its bounds. fdbstore.Limits counts only
// keys and values, so without this a transaction HAFS accepts could fail
// in the cluster with transaction_too_large well before 10 MB (a Set of a
// 40-byte key and a 100-byte value costs 253 bytes here, not 140).
type sizer struct {
	n     int
	limit int
}

// set counts a Set (and an atomic op, whose operand is its value).
func (z *sizer) set(key []byte, valueLen int) int {
	return z.add(len(key) + valueLen + mutationOverhead + z.point(key))
}

// clear counts a Clear of one key: a cleared range [k, k+"\x00") and its
// write conflict range.
func (z *sizer) clear(key []byte) int {
	return z.add(2*len(key) + 1 + rangeOverhead + z.point(key))
}

// clearRange counts a ClearRange: the range as the mutation and as its
// write conflict range.
func (z *sizer) clearRange(begin, end []byte) int {
	r := len(begin) + len(end)
	return z.add(r + mutationOverhead + r + rangeOverhead)
}

// read counts the read conflict range of a Get.
func (z *sizer) read(key []byte) int { return z.add(z.point(key)) }

// readRange counts the read conflict range of a range read.
func (z *sizer) readRange(begin, end []byte) int {
	return z.add(len(begin) + len(end) + rangeOverhead)
}

// point is the size of the conflict range of one key.
func (z *sizer) point(key []byte) int { return rangeOverhead + 2*len(key) + 1 }

func (z *sizer) add(n int) int {
	z.n += n
	return z.n
}

// err returns fdbstore.ErrTxTooLarge once the count passed the limit.
func (z *sizer) err() error {
	limit := z.limit
	if limit == 0 {
		limit = SizeLimit
	}
	if z.n > limit {
		return fmt.Errorf("%w: %d bytes as FoundationDB counts them (limit %d)", fdbstore.ErrTxTooLarge, z.n, limit)
	}
	return nil
}
