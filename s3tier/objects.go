package s3tier

import (
	"fmt"
	"strconv"
	"strings"
)

// ObjectKey names slice id's object. The leading byte of the id spreads
// keys over 256 prefixes, as S3 partitions by key prefix.
func ObjectKey(id uint64) string { return fmt.Sprintf("blk/%02x/%016x", id&0xff, id) }

// ObjectPrefix is the prefix of every slice object.
const ObjectPrefix = "blk/"

// ParseObjectKey returns the slice id of an object key made by ObjectKey.
func ParseObjectKey(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, ObjectPrefix)
	if !ok || len(rest) != 3+16 || rest[2] != '/' {
		return 0, false
	}
	id, err := strconv.ParseUint(rest[3:], 16, 64)
	if err != nil || fmt.Sprintf("%02x", id&0xff) != rest[:2] {
		return 0, false
	}
	return id, true
}
