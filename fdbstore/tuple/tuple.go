package tuple

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Type codes. Their numeric order is the cross-type sort order, so a []byte
// element sorts before a string, which sorts before any integer.
const (
	codeBytes   = 0x01
	codeString  = 0x02
	codeIntZero = 0x14
	// Integers of n significant bytes use codeIntZero±n, so the code alone
	// orders integers by magnitude class before any payload byte is compared.
	codeIntMin = codeIntZero - 8
	codeIntMax = codeIntZero + 8

	escape = 0xff // follows an embedded 0x00 so it is not read as the terminator
)

// ErrMalformed is wrapped by every error Unpack returns, so callers can tell
// corrupt keys apart from other failures with errors.Is.
var ErrMalformed = errors.New("malformed tuple encoding")

// Pack encodes elems into a new key. It accepts int64, the other built-in
// integer types (unsigned values must fit in int64), string and []byte; any
// other type, or an unsigned value above math.MaxInt64, panics because it is
// a programming error rather than bad input.
func Pack(elems ...any) []byte {
	return AppendPack(nil, elems...)
}

// AppendPack appends the encoding of elems to dst and returns the extended
// slice, letting callers build a key behind an already-packed prefix without
// an extra copy. It panics on the same inputs as Pack.
func AppendPack(dst []byte, elems ...any) []byte {
	for i, e := range elems {
		switch v := e.(type) {
		case []byte:
			dst = appendEscaped(append(dst, codeBytes), v)
		case string:
			dst = appendEscaped(append(dst, codeString), []byte(v))
		case int64:
			dst = appendInt(dst, v)
		case int:
			dst = appendInt(dst, int64(v))
		case int32:
			dst = appendInt(dst, int64(v))
		case int16:
			dst = appendInt(dst, int64(v))
		case int8:
			dst = appendInt(dst, int64(v))
		case uint64:
			dst = appendInt(dst, uintToInt(i, v))
		case uint:
			dst = appendInt(dst, uintToInt(i, uint64(v)))
		case uint32:
			dst = appendInt(dst, int64(v))
		case uint16:
			dst = appendInt(dst, int64(v))
		case uint8:
			dst = appendInt(dst, int64(v))
		default:
			panic(fmt.Sprintf("tuple: element %d: unsupported type %T (want an integer, string or []byte)", i, e))
		}
	}
	return dst
}

// uintToInt keeps the format's integer domain to int64, which is all Unpack
// can return; wider values would not round-trip.
func uintToInt(i int, v uint64) int64 {
	if v > math.MaxInt64 {
		panic(fmt.Sprintf("tuple: element %d: unsigned value %d exceeds math.MaxInt64", i, v))
	}
	return int64(v)
}

// appendEscaped writes b terminated by 0x00; embedded zeros become 0x00 0xff
// so the terminator sorts below any continuation and prefixes sort first.
func appendEscaped(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			break
		}
		dst = append(append(dst, b[:i+1]...), escape)
		b = b[i+1:]
	}
	return append(append(dst, b...), 0)
}

// appendInt writes v in the fewest big-endian bytes. Negative values store
// the one's complement of their magnitude so that, within one length class,
// larger magnitudes produce smaller bytes.
func appendInt(dst []byte, v int64) []byte {
	if v == 0 {
		return append(dst, codeIntZero)
	}
	mag := uint64(v)
	if v < 0 {
		mag = -mag // two's-complement negation is exact even for MinInt64
	}
	n := (bits.Len64(mag) + 7) / 8
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], mag)
	payload := buf[8-n:]
	if v > 0 {
		return append(append(dst, byte(codeIntZero+n)), payload...)
	}
	dst = append(dst, byte(codeIntZero-n))
	for _, c := range payload {
		dst = append(dst, ^c)
	}
	return dst
}

// Unpack decodes a key produced by Pack, returning int64, string and []byte
// elements. It accepts only canonical encodings, so for any b it succeeds on,
// Pack(Unpack(b)...) reproduces b exactly; anything else is reported as an
// error wrapping ErrMalformed and naming the 0-based element index.
func Unpack(b []byte) ([]any, error) {
	out := []any{}
	for pos := 0; pos < len(b); {
		v, n, err := decodeOne(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("tuple: element %d (offset %d): %s: %w", len(out), pos, err, ErrMalformed)
		}
		out = append(out, v)
		pos += n
	}
	return out, nil
}

// decodeOne decodes the element at the start of b and reports its length.
// Its errors are bare descriptions; Unpack adds the position.
func decodeOne(b []byte) (any, int, error) {
	switch code := b[0]; {
	case code == codeBytes, code == codeString:
		raw, n, err := decodeEscaped(b[1:])
		if err != nil {
			if code == codeString {
				return nil, 0, fmt.Errorf("%s string", err)
			}
			return nil, 0, fmt.Errorf("%s bytes", err)
		}
		if code == codeString {
			return string(raw), 1 + n, nil
		}
		return raw, 1 + n, nil
	case code >= codeIntMin && code <= codeIntMax:
		v, n, err := decodeInt(code, b[1:])
		return v, 1 + n, err
	default:
		return nil, 0, fmt.Errorf("unknown type code 0x%02x", code)
	}
}

// decodeEscaped returns a fresh copy of the payload so results never alias
// the caller's buffer, plus the bytes consumed including the terminator.
func decodeEscaped(b []byte) ([]byte, int, error) {
	out := []byte{}
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == escape {
			out = append(out, 0)
			i++
			continue
		}
		return out, i + 1, nil
	}
	return nil, 0, errors.New("truncated")
}

// decodeInt rejects non-canonical forms (a redundant leading zero byte, or a
// magnitude beyond int64) so that decoding stays the exact inverse of Pack.
func decodeInt(code byte, b []byte) (int64, int, error) {
	if code == codeIntZero {
		return 0, 0, nil
	}
	neg := code < codeIntZero
	n := int(code) - codeIntZero
	if neg {
		n = -n
	}
	if len(b) < n {
		return 0, 0, errors.New("truncated integer")
	}
	var mag uint64
	for _, c := range b[:n] {
		if neg {
			c = ^c
		}
		mag = mag<<8 | uint64(c)
	}
	if mag>>(8*(n-1)) == 0 {
		return 0, 0, errors.New("non-canonical integer (leading zero byte)")
	}
	switch {
	case !neg && mag > math.MaxInt64:
		return 0, 0, errors.New("integer overflows int64")
	case neg && mag > 1<<63:
		return 0, 0, errors.New("integer underflows int64")
	case neg:
		return int64(-mag), n, nil
	}
	return int64(mag), n, nil
}

// Range returns the half-open range [begin, end) of every key that extends
// the packed tuple prefix by at least one element. The prefix key itself is
// excluded, matching FDB: 0x00 sorts below and 0xff above every type code.
// The results never alias prefix.
func Range(prefix []byte) (begin, end []byte) {
	return append(bytes.Clone(prefix), 0x00), append(bytes.Clone(prefix), 0xff)
}

// PrefixRange returns the half-open range [begin, end) of every key that
// starts with prefix, including prefix itself, which Range leaves out. end is
// nil, meaning end of keyspace as in fdbstore.PrefixEnd, only for an empty
// prefix: a packed tuple never begins with 0xff, so it always has a successor.
func PrefixRange(prefix []byte) (begin, end []byte) {
	begin = bytes.Clone(prefix)
	if begin == nil {
		begin = []byte{}
	}
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] < 0xff {
			end = append(bytes.Clone(prefix[:i]), prefix[i]+1)
			return begin, end
		}
	}
	return begin, nil
}
