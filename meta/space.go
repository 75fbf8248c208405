package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
)

// Space accounting. Three counters move in the same transactions as the
// changes they count, by atomic adds (so concurrent writers do not
// conflict on them): ("stat", "inodes"), ("stat", "bytes") (the sum of the
// logical sizes) and ("stat", "alloc") (the sum of every regular file's
// Alloc). Alloc is the bytes of a file that hold data: a write adds what
// it wrote (exactly, for the partial blocks it reads anyway; a whole block
// as a whole block), a truncate or fallocate moves it, and it never
// exceeds the file's size. So a sparse file counts what was written into
// it, and `truncate -s 1T` counts nothing. Rewriting a range of a sparse
// file can count it twice, never past the size; punching a hole does not
// lower it. fsck checks that every counter is the sum of what it counts.

// Limits are a filesystem's configured bounds; zero means no bound.
type Limits struct {
	// Capacity bounds the allocated bytes; a write, create or fallocate
	// that would pass it fails with ENOSPC.
	Capacity int64 `json:"capacity,omitempty"`
	// Inodes bounds the number of inodes; a create past it fails with
	// ENOSPC.
	Inodes int64 `json:"inodes,omitempty"`
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	if l.Capacity < 0 || l.Inodes < 0 {
		return fmt.Errorf("limits must not be negative (capacity %d, inodes %d)", l.Capacity, l.Inodes)
	}
	return nil
}

// DiskSpacer is implemented by stores that live on a local disk (the
// embedded store): the bytes of that disk in all and free to it. Without a
// configured capacity, a filesystem whose bodies live in the store reports
// that disk as its size.
type DiskSpacer interface {
	DiskSpace() (total, free uint64, err error)
}

// QuotaSpacer is implemented by stores whose whole space is theirs (etcd:
// its backend quota): statfs then reports that quota as the size and
// what the store uses of it as used, metadata included.
type QuotaSpacer interface {
	StoreQuota() (total, free uint64, err error)
}

// SetBodyDisk tells Statfs where this client's bodies live when that is a
// local disk (a file:// site, which hafs-mkfs gives the embedded store):
// with no configured capacity, the filesystem's size is then what its files
// use plus what that disk has free, as with bodies in the embedded store.
func (f *FS) SetBodyDisk(free func() (uint64, error)) { f.bodyDisk.Store(&free) }

// storeFree returns what the store's space has free, when it can tell.
func (f *FS) storeFree() (uint64, bool) {
	switch s := f.store.(type) {
	case QuotaSpacer:
		_, free, err := s.StoreQuota()
		return free, err == nil
	case DiskSpacer:
		_, free, err := s.DiskSpace()
		return free, err == nil
	}
	return 0, false
}

// unlimitedBytes is the capacity statfs reports when nothing bounds it
// (bodies in an object store, no --capacity): large, so tools that check
// free space before writing go ahead.
const unlimitedBytes = 1 << 50

// unlimitedInodes is the inode count statfs reports with no --inodes.
const unlimitedInodes = 1 << 40

func (k keys) limits() []byte { return k.pack(kindConfig, "limits") }

// Limits returns the filesystem's configured limits.
func (f *FS) Limits(ctx context.Context) (Limits, error) {
	var l Limits
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		l, err = f.limitsTx(tx)
		return err
	})
	return l, err
}

// SetLimits replaces the filesystem's limits. Lowering one below what is
// used already is allowed: nothing is removed, new allocations fail.
func (f *FS) SetLimits(ctx context.Context, l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		tx.Set(f.k.limits(), raw)
		return nil
	})
}

func (f *FS) limitsTx(tx fdbstore.ReadTx) (Limits, error) {
	var l Limits
	raw, err := tx.Get(f.k.limits())
	if err != nil || raw == nil {
		return l, err
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, fmt.Errorf("%w: limits: %v", fdbstore.ErrCorrupt, err)
	}
	return l, nil
}

// setAlloc moves a regular file's Alloc to want (at most its size) and
// the filesystem's counter with it. Growth is checked against the
// capacity and the file's quotas first: ENOSPC or EDQUOT leaves the
// transaction to fail whole.
func (f *FS) setAlloc(tx fdbstore.Tx, a *Attr, want uint64) error {
	if !a.IsReg() {
		return nil
	}
	want = min(want, a.Size)
	d := int64(want) - int64(a.Alloc)
	if d == 0 {
		return nil
	}
	if d > 0 {
		if err := f.checkSpace(tx, d, false); err != nil {
			return err
		}
	}
	if err := f.quotaAdd(tx, a.Qid, d, 0); err != nil {
		return err
	}
	tx.Add(f.k.stat("alloc"), d)
	a.Alloc = want
	return nil
}

// checkSpace fails with ENOSPC when extra more allocated bytes would pass
// the configured capacity. The counter and limits are read as a snapshot:
// every writer adding to the counter would otherwise conflict with every
// other, so concurrent writers near the limit may pass it by their last
// writes (as quotas of other distributed filesystems do). With disk set
// and no capacity, the store's own disk bounds bodies kept in the store
// (fallocate's reservation, which no store write would refuse).
func (f *FS) checkSpace(tx fdbstore.Tx, extra int64, disk bool) error {
	snap := tx.Snapshot()
	l, err := f.limitsTx(snap)
	if err != nil {
		return err
	}
	if l.Capacity > 0 {
		v, err := snap.Get(f.k.stat("alloc"))
		if err != nil {
			return err
		}
		if decI64(v)+extra > l.Capacity {
			return fmt.Errorf("capacity of %d bytes reached: %w", l.Capacity, syscall.ENOSPC)
		}
		return nil
	}
	if disk && f.sb.Data == nil {
		if free, ok := f.storeFree(); ok && uint64(extra) > free {
			return fmt.Errorf("the store has %d bytes free: %w", free, syscall.ENOSPC)
		}
	}
	return nil
}

// checkInodes fails with ENOSPC when the inode limit is reached.
func (f *FS) checkInodes(tx fdbstore.Tx) error {
	snap := tx.Snapshot()
	l, err := f.limitsTx(snap)
	if err != nil || l.Inodes == 0 {
		return err
	}
	v, err := snap.Get(f.k.stat("inodes"))
	if err != nil {
		return err
	}
	if decI64(v) >= l.Inodes {
		return fmt.Errorf("inode limit of %d reached: %w", l.Inodes, syscall.ENOSPC)
	}
	return nil
}

// Statfs is what statfs(2) reports, in bytes and inodes.
type Statfs struct {
	BlockSize int
	// Inodes, Bytes and Alloc are the counters: inodes in use, the sum of
	// logical sizes and of allocated bytes.
	Inodes, Bytes, Alloc int64
	// Capacity and Avail are the filesystem's size and what is left of it;
	// Avail is never negative.
	Capacity, Avail uint64
	// Files and FilesFree are the inode limit and what is left of it.
	Files, FilesFree uint64
	// Limits are the configured limits (zero: none).
	Limits Limits
}

// Statfs returns the filesystem's usage and capacity: the configured
// capacity, or without one, when bodies live in the store, the store's
// quota (etcd) or the disk of an embedded store (what it has free plus
// what the files use), or a large constant when bodies live in an object
// store.
func (f *FS) Statfs(ctx context.Context) (Statfs, error) {
	st := Statfs{BlockSize: f.sb.BlockSize}
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		if st.Limits, err = f.limitsTx(tx); err != nil {
			return err
		}
		for name, p := range map[string]*int64{"inodes": &st.Inodes, "bytes": &st.Bytes, "alloc": &st.Alloc} {
			v, err := tx.Get(f.k.stat(name))
			if err != nil {
				return err
			}
			*p = decI64(v)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	used := uint64(max(st.Alloc, 0))
	st.Capacity, st.Avail = unlimitedBytes, unlimitedBytes-min(used, unlimitedBytes)
	if c := uint64(st.Limits.Capacity); c > 0 {
		st.Capacity, st.Avail = c, c-min(used, c)
	} else if qs, ok := f.store.(QuotaSpacer); ok && f.sb.Data == nil {
		if total, free, err := qs.StoreQuota(); err == nil {
			st.Capacity, st.Avail = total, min(free, total)
		}
	} else if ds, ok := f.store.(DiskSpacer); ok && f.sb.Data == nil {
		if _, free, err := ds.DiskSpace(); err == nil {
			st.Capacity, st.Avail = used+free, free
		}
	} else if bd := f.bodyDisk.Load(); bd != nil {
		if free, err := (*bd)(); err == nil {
			st.Capacity, st.Avail = used+free, free
		}
	}
	st.Files = unlimitedInodes
	if st.Limits.Inodes > 0 {
		st.Files = uint64(st.Limits.Inodes)
	}
	st.FilesFree = st.Files - min(uint64(max(st.Inodes, 0)), st.Files)
	return st, nil
}
