package meta

import (
	"context"
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// Attr is one inode as stored.
type Attr struct {
	Ino   uint64
	Mode  uint32 // file type and permission bits, as in stat(2)
	Nlink uint32
	Uid   uint32
	Gid   uint32
	Rdev  uint32
	Size  uint64
	// Times in nanoseconds since the Unix epoch.
	Atime, Mtime, Ctime int64
	// Parent is the directory holding a directory (for "..", and to refuse
	// moving a directory into its own subtree). Zero for other types.
	Parent uint64
	// NextCookie numbers this directory's entries in creation order, so a
	// readdir offset stays valid while entries come and go.
	NextCookie uint64
	// Flags are AttrSliced and future per-inode switches.
	Flags uint32
	// Alloc is the bytes of a regular file's body that hold data (see
	// space.go): what statfs counts as used and stat(2) as blocks, never
	// more than Size, so a sparse file counts only what was written.
	Alloc uint64
	// Qid is the nearest quota directory above this inode (quota.go): the
	// quota its bytes and itself count against, with the quotas enclosing
	// that one. Zero: none.
	Qid uint64
	// Target is a symlink's target.
	Target string
}

// AttrSliced marks a regular file whose body is kept as slices of block
// objects (the chunk map), over whatever inline blocks it had before.
const AttrSliced uint32 = 1

// AttrQuotaDir marks a directory that has a quota record: its new children
// take it as their Qid, so a create needs no extra read to find it.
const AttrQuotaDir uint32 = 2

// childQid is the Qid a new child of directory p takes.
func (a *Attr) childQid() uint64 {
	if a.Flags&AttrQuotaDir != 0 {
		return a.Ino
	}
	return a.Qid
}

// Sliced reports whether the file's body lives in the object store.
func (a *Attr) Sliced() bool { return a.Flags&AttrSliced != 0 }

// IsDir reports whether a is a directory.
func (a *Attr) IsDir() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsReg reports whether a is a regular file.
func (a *Attr) IsReg() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFREG }

// Blocks returns the 512-byte blocks the file occupies, as stat(2) reports:
// its allocated bytes for a regular file (a sparse file shows only what was
// written), its size for the rest.
func (a *Attr) Blocks() uint64 {
	if a.IsReg() {
		return (a.Alloc + 511) / 512
	}
	return (a.Size + 511) / 512
}

// attrVersion 3 added Qid (version 2 records decode with Qid 0: no
// quota); version 2 added Alloc, and version 1 records (written before
// space accounting) decode with Alloc = Size, as if dense.
const (
	attrVersion   = 3
	attrVersionV2 = 2
	attrVersionV1 = 1
)

// attrFixed is the encoded size of the fixed-width fields (version 3).
const (
	attrFixedV1 = 1 + 8*2 + 4*6 + 8*3 + 8*2
	attrFixedV2 = attrFixedV1 + 8
	attrFixed   = attrFixedV2 + 8
)

func (a *Attr) encode() []byte {
	b := make([]byte, 0, attrFixed+len(a.Target))
	b = append(b, attrVersion)
	b = binary.LittleEndian.AppendUint64(b, a.Ino)
	b = binary.LittleEndian.AppendUint64(b, a.Size)
	for _, v := range []uint32{a.Mode, a.Nlink, a.Uid, a.Gid, a.Rdev, a.Flags} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	for _, v := range []int64{a.Atime, a.Mtime, a.Ctime} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint64(b, a.Parent)
	b = binary.LittleEndian.AppendUint64(b, a.NextCookie)
	b = binary.LittleEndian.AppendUint64(b, a.Alloc)
	b = binary.LittleEndian.AppendUint64(b, a.Qid)
	return append(b, a.Target...)
}

func decodeAttr(b []byte) (*Attr, error) {
	fixed := attrFixed
	if len(b) > 0 && b[0] == attrVersionV1 {
		fixed = attrFixedV1
	} else if len(b) > 0 && b[0] == attrVersionV2 {
		fixed = attrFixedV2
	}
	if len(b) < fixed || b[0] < attrVersionV1 || b[0] > attrVersion {
		return nil, fmt.Errorf("corrupt inode record (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	a := &Attr{Ino: le.Uint64(b[1:]), Size: le.Uint64(b[9:])}
	p := 17
	for _, v := range []*uint32{&a.Mode, &a.Nlink, &a.Uid, &a.Gid, &a.Rdev, &a.Flags} {
		*v = le.Uint32(b[p:])
		p += 4
	}
	for _, v := range []*int64{&a.Atime, &a.Mtime, &a.Ctime} {
		*v = int64(le.Uint64(b[p:]))
		p += 8
	}
	a.Parent = le.Uint64(b[p:])
	a.NextCookie = le.Uint64(b[p+8:])
	if fixed == attrFixedV1 {
		if a.IsReg() {
			a.Alloc = a.Size
		}
	} else {
		a.Alloc = le.Uint64(b[p+16:])
	}
	if fixed == attrFixed {
		a.Qid = le.Uint64(b[p+24:])
	}
	a.Target = string(b[fixed:])
	return a, nil
}

func now() int64 { return time.Now().UnixNano() }

// SetAttrReq says which attributes SetAttr changes; nil fields stay.
type SetAttrReq struct {
	Mode         *uint32 // permission bits (and suid/sgid/sticky)
	Uid, Gid     *uint32
	Size         *uint64
	Atime, Mtime *int64 // nanoseconds since the epoch
}

// SetAttr changes attributes of ino: chmod, chown, truncate, utimens.
func (f *FS) SetAttr(ctx context.Context, ino uint64, r SetAttrReq) (*Attr, error) {
	for {
		a, err := f.setAttr(ctx, ino, r)
		if err != errTruncateMore {
			return a, err
		}
		if err := f.trimChunksPast(ctx, ino, *r.Size); err != nil {
			return nil, err
		}
	}
}

func (f *FS) setAttr(ctx context.Context, ino uint64, r SetAttrReq) (*Attr, error) {
	var a *Attr
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		var err error
		if a, err = f.getAttr(tx, ino); err != nil {
			return err
		}
		if err := f.permitSetAttr(ctx, a, r); err != nil {
			return err
		}
		t := now()
		if r.Mode != nil {
			a.Mode = a.Mode&syscall.S_IFMT | *r.Mode&^syscall.S_IFMT
		}
		if r.Uid != nil {
			a.Uid = *r.Uid
		}
		if r.Gid != nil {
			a.Gid = *r.Gid
		}
		if r.Size != nil && *r.Size != a.Size {
			if a.IsDir() {
				return syscall.EISDIR
			}
			if !a.IsReg() {
				return syscall.EINVAL
			}
			if err := f.truncate(tx, a, *r.Size); err != nil {
				return err
			}
			a.Mtime = t
		}
		if r.Atime != nil {
			a.Atime = *r.Atime
		}
		if r.Mtime != nil {
			a.Mtime = *r.Mtime
		}
		a.Ctime = t
		f.putAttr(tx, a)
		return nil
	})
	return a, err
}
