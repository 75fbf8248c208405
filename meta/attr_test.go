package meta

import (
	"reflect"
	"testing"
)

func TestAttrRoundTrip(t *testing.T) {
	for _, a := range []Attr{
		{},
		{Ino: 1, Mode: 0o40755, Nlink: 2, Uid: 1000, Gid: 100, Size: 4096, Atime: -1, Mtime: 1e18, Ctime: 5, Parent: 1, NextCookie: 9},
		{Ino: 7, Mode: 0o100644, Nlink: 1, Size: 10, Alloc: 5, Qid: 3, Flags: AttrQuotaDir},
		{Ino: 1 << 62, Mode: 0o120777, Target: "../some/where\x00odd"},
	} {
		got, err := decodeAttr(a.encode())
		if err != nil || !reflect.DeepEqual(*got, a) {
			t.Errorf("round trip of %+v = %+v, %v", a, got, err)
		}
	}
	// A version 2 record (before quotas) reads with no quota.
	v2 := Attr{Ino: 9, Mode: 0o100644, Nlink: 1, Size: 10, Alloc: 4, Qid: 5}
	b := v2.encode()
	b = b[:attrFixedV2]
	b[0] = attrVersionV2
	if got, err := decodeAttr(b); err != nil || got.Qid != 0 || got.Alloc != 4 || got.Size != 10 {
		t.Errorf("version 2 record: %+v, %v", got, err)
	}
	if _, err := decodeAttr([]byte{attrVersion, 1, 2}); err == nil {
		t.Error("short record decoded")
	}
}
