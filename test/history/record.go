package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// RecordSize is the size of a counter value and of a log record.
const RecordSize = 64

var (
	magic    = []byte("HAFSREC1")
	castagno = crc32.MakeTable(crc32.Castagnoli)
)

// Record is what a worker writes: the counter file holds one at offset 0,
// the log one per append.
type Record struct {
	Op     uint64 // the op that wrote it (OpID)
	Prev   uint64 // the op of the record it followed: the log's last record, or the counter's writer
	Offset uint64 // where the writer meant it to go
	Value  uint64 // the counter's value; unused in the log
}

// Marshal encodes r as RecordSize bytes ending in a CRC32C of the rest, so
// a record two writers overlapped on is seen as torn.
func (r Record) Marshal() []byte {
	b := make([]byte, RecordSize)
	copy(b, magic)
	binary.LittleEndian.PutUint64(b[8:], r.Op)
	binary.LittleEndian.PutUint64(b[16:], r.Prev)
	binary.LittleEndian.PutUint64(b[24:], r.Offset)
	binary.LittleEndian.PutUint64(b[32:], r.Value)
	for i := 40; i < RecordSize-4; i++ {
		b[i] = byte(r.Op) ^ byte(i)
	}
	binary.LittleEndian.PutUint32(b[RecordSize-4:], crc32.Checksum(b[:RecordSize-4], castagno))
	return b
}

// ErrTorn says bytes are not one whole record as Marshal made it.
var ErrTorn = errors.New("not a whole record")

// ParseRecord decodes RecordSize bytes made by Marshal.
func ParseRecord(b []byte) (Record, error) {
	if len(b) != RecordSize || !bytes.Equal(b[:8], magic) ||
		binary.LittleEndian.Uint32(b[RecordSize-4:]) != crc32.Checksum(b[:RecordSize-4], castagno) {
		return Record{}, ErrTorn
	}
	return Record{
		Op:     binary.LittleEndian.Uint64(b[8:]),
		Prev:   binary.LittleEndian.Uint64(b[16:]),
		Offset: binary.LittleEndian.Uint64(b[24:]),
		Value:  binary.LittleEndian.Uint64(b[32:]),
	}, nil
}

// OpID packs who made an op: node (8 bits), its mount incarnation (24
// bits: each remount is a new client) and the op's number within it.
// Zero is no op (the counter's initial value).
func OpID(node, inc int, seq uint32) uint64 {
	return uint64(node&0xff)<<56 | uint64(inc&0xffffff)<<32 | uint64(seq)
}

// Client returns the node and incarnation of an op id.
func Client(id uint64) (node, inc int) { return int(id >> 56), int(id >> 32 & 0xffffff) }

// ClientName formats a node and incarnation for messages.
func ClientName(node, inc int) string { return fmt.Sprintf("node %d mount #%d", node, inc) }
