package meta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// RootIno is the inode number of the root directory.
const RootIno = 1

// Defaults for a new filesystem.
const (
	DefaultBlockSize = 64 << 10
	// inoBatch is how many inode numbers a client reserves at once, so a
	// create costs no extra round trip to the shared counter.
	inoBatch = 1024
	// maxWriteTx bounds the bytes of file data one transaction carries,
	// well under the store's 10 MB limit.
	maxWriteTx = 1 << 20
	// MaxNameLen is the longest file name, as on most Linux filesystems.
	MaxNameLen = 255
	// MaxSymlinkLen bounds a symlink target, as PATH_MAX does.
	MaxSymlinkLen = 4096
)

// Superblock describes one filesystem; it is written once, by Mkfs.
type Superblock struct {
	Name      string    `json:"name"`
	UUID      string    `json:"uuid"`
	Created   time.Time `json:"created"`
	BlockSize int       `json:"block_size"`
	Version   int       `json:"version"`
	// Data is how large file bodies are laid out in the object store; nil
	// when the filesystem has no bucket and every body stays in the store.
	Data *DataLayout `json:"data,omitempty"`
}

// ErrNoFS reports a store that holds no filesystem of the given name.
var ErrNoFS = errors.New("no such filesystem")

// ErrExists reports Mkfs of a name already in use.
var ErrExists = errors.New("filesystem already exists")

// ErrMounted reports Mkfs --force of a filesystem that clients still mount.
var ErrMounted = errors.New("filesystem is mounted")

// Mkfs creates filesystem name in the store: superblock, root directory and
// counters, in one transaction. With force, an existing filesystem of that
// name is erased in that same transaction (one ClearRange, a single small
// mutation whatever the range holds), so a crash leaves either the old
// filesystem or the new one; it refuses while any client mounts it.
func Mkfs(ctx context.Context, s fdbstore.Store, name string, force bool) (*Superblock, error) {
	return MkfsWith(ctx, s, name, MkfsOptions{Force: force})
}

// MkfsOptions shape a new filesystem.
type MkfsOptions struct {
	// Force erases an existing filesystem of the name (see Mkfs).
	Force bool
	// Data, when set, keeps file bodies above Data.InlineMax in the
	// object store described by Sites.
	Data *DataLayout
	// Sites are the object store sites, name -> JSON description (the
	// routing package owns the format; it holds no secret).
	Sites map[string][]byte
	// Limits are the capacity and inode limits (zero: none).
	Limits Limits
}

// MkfsWith is Mkfs with options.
func MkfsWith(ctx context.Context, s fdbstore.Store, name string, o MkfsOptions) (*Superblock, error) {
	force := o.Force
	if o.Data != nil {
		if err := o.Data.Validate(); err != nil {
			return nil, fmt.Errorf("mkfs %q: %w", name, err)
		}
	}
	if name == "" {
		return nil, errors.New("mkfs: empty filesystem name")
	}
	if err := o.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("mkfs %q: %w", name, err)
	}
	limits, err := json.Marshal(o.Limits)
	if err != nil {
		return nil, err
	}
	k := newKeys(name)
	var id [16]byte
	_, _ = rand.Read(id[:])
	sb := &Superblock{Name: name, UUID: hex.EncodeToString(id[:]), Created: time.Now().UTC(),
		BlockSize: DefaultBlockSize, Version: 1, Data: o.Data}
	raw, err := json.Marshal(sb)
	if err != nil {
		return nil, err
	}
	err = s.Transact(ctx, func(tx fdbstore.Tx) error {
		old, err := tx.Get(k.superblock())
		if err != nil {
			return err
		}
		if old != nil && !force {
			return ErrExists
		}
		if old != nil {
			b, e := k.sessionRange()
			n := 0
			for _, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
				if err != nil {
					return err
				}
				n++
			}
			if n > 0 {
				return fmt.Errorf("%w by %d clients; unmount them first (see hafs-list-clients)", ErrMounted, n)
			}
			tx.ClearRange(k.all())
		}
		t := now()
		root := &Attr{Ino: RootIno, Mode: syscall.S_IFDIR | 0o755, Nlink: 2, Atime: t, Mtime: t, Ctime: t,
			Parent: RootIno, NextCookie: 3}
		tx.Set(k.superblock(), raw)
		tx.Set(k.inode(RootIno), root.encode())
		tx.Set(k.inoCounter(), u64(RootIno+1))
		tx.Set(k.stat("inodes"), i64(1))
		tx.Set(k.stat("bytes"), i64(0))
		tx.Set(k.stat("alloc"), i64(0))
		tx.Set(k.limits(), limits)
		for site, desc := range o.Sites {
			tx.Set(k.site(site), desc)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mkfs %q: %w", name, err)
	}
	return sb, nil
}

// FS is one client's handle on a filesystem in the store.
type FS struct {
	store fdbstore.Store
	k     keys
	sb    Superblock

	// Inode numbers reserved by this client and not yet used.
	inoMu             sync.Mutex
	inoNext, inoLimit uint64

	// Slice ids reserved by this client and not yet used.
	sliceMu               sync.Mutex
	sliceNext, sliceLimit uint64

	sess sessionState

	// callerOf, when set, makes operations check their callers'
	// permissions in their transactions (perm.go).
	callerOf CallerFunc

	// lim is the store's bound on one transaction; page sizes follow it.
	lim fdbstore.TxnLimits

	// Transactions run by this client, for /metrics: the cost of each
	// operation in store round trips is what speed work counts.
	txReads, txWrites atomic.Int64
	recent            recentDirs // directory attributes just written (dirattr.go)

	// bodyDisk reports the free bytes of the disk bodies live on (see
	// SetBodyDisk); nil: not a local disk.
	bodyDisk atomic.Pointer[func() (uint64, error)]
}

// TxCounts returns how many read-only and read-write transactions this
// client has run (each once, whatever its retries).
func (f *FS) TxCounts() (reads, writes int64) { return f.txReads.Load(), f.txWrites.Load() }

// Open loads filesystem name from the store.
func Open(ctx context.Context, s fdbstore.Store, name string) (*FS, error) {
	k := newKeys(name)
	var raw []byte
	err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		raw, err = tx.Get(k.superblock())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open filesystem %q: %w", name, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("filesystem %q: %w (create it with hafs-mkfs)", name, ErrNoFS)
	}
	f := &FS{store: s, k: k, lim: fdbstore.LimitsOf(s)}
	if err := json.Unmarshal(raw, &f.sb); err != nil {
		return nil, fmt.Errorf("filesystem %q: %w: superblock: %v", name, fdbstore.ErrCorrupt, err)
	}
	if f.sb.BlockSize <= 0 || f.sb.BlockSize > fdbstore.MaxValueSize {
		return nil, fmt.Errorf("filesystem %q: bad block size %d", name, f.sb.BlockSize)
	}
	return f, nil
}

// Names returns the names of the filesystems in the store (at most max),
// in order: what an error about a missing one lists. It skips from one
// filesystem's keys to the next, one short read each, instead of reading
// them all.
func Names(ctx context.Context, s fdbstore.Store, max int) ([]string, error) {
	var names []string
	err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		names = names[:0]
		base := tuple.Pack("hafs")
		begin, end := base, fdbstore.PrefixEnd(base)
		for len(names) < max {
			kvs, err := fdbstore.Collect(tx.GetRange(begin, end, fdbstore.RangeOptions{Limit: 1}))
			if err != nil || len(kvs) == 0 {
				return err
			}
			elems, err := tuple.Unpack(kvs[0].Key)
			name, ok := "", false
			if err == nil && len(elems) >= 2 {
				name, ok = elems[1].(string)
			}
			if !ok { // not a filesystem's key: step over it
				begin = fdbstore.PrefixEnd(kvs[0].Key)
				continue
			}
			k := newKeys(name)
			if sb, err := tx.Get(k.superblock()); err != nil {
				return err
			} else if sb != nil {
				names = append(names, name)
			}
			begin = fdbstore.PrefixEnd(k.prefix)
		}
		return nil
	})
	return names, err
}

// Superblock returns the filesystem's superblock.
func (f *FS) Superblock() Superblock { return f.sb }

// Store returns the store the filesystem lives in.
func (f *FS) Store() fdbstore.Store { return f.store }

// allocIno returns a fresh inode number, reserving a batch from the shared
// counter when this client's batch is used up. Numbers are never reused.
func (f *FS) allocIno(ctx context.Context) (uint64, error) {
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	if f.inoNext < f.inoLimit {
		f.inoNext++
		return f.inoNext - 1, nil
	}
	var start uint64
	err := f.transact(ctx, func(tx fdbstore.Tx) error {
		v, err := tx.Get(f.k.inoCounter())
		if err != nil {
			return err
		}
		start = decU64(v)
		tx.Set(f.k.inoCounter(), u64(start+inoBatch))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("allocate inode: %w", err)
	}
	f.inoNext, f.inoLimit = start+1, start+inoBatch
	return start, nil
}

// getAttr reads an inode inside a transaction; ENOENT if it is gone.
func (f *FS) getAttr(tx fdbstore.ReadTx, ino uint64) (*Attr, error) {
	v, err := tx.Get(f.k.inode(ino))
	if err != nil {
		return nil, err
	}
	return attrFrom(ino, v)
}

// attrFrom decodes inode ino's record v, as read from the store.
func attrFrom(ino uint64, v []byte) (*Attr, error) {
	if v == nil {
		return nil, syscall.ENOENT
	}
	a, err := decodeAttr(v)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	return a, nil
}

func (f *FS) putAttr(tx fdbstore.Tx, a *Attr) {
	tx.Set(f.k.inode(a.Ino), a.encode())
	noteDir(tx, a)
}

// GetAttr returns inode ino.
func (f *FS) GetAttr(ctx context.Context, ino uint64) (*Attr, error) {
	var a *Attr
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		var err error
		a, err = f.getAttr(tx, ino)
		return err
	})
	return a, err
}

func u64(v uint64) []byte { return i64(int64(v)) }

func i64(v int64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

func decI64(b []byte) int64 {
	var v int64
	for i := 0; i < len(b) && i < 8; i++ {
		v |= int64(b[i]) << (8 * i)
	}
	return v
}

func decU64(b []byte) uint64 { return uint64(decI64(b)) }

// relatimeMax is how stale an atime may grow before a read refreshes it
// even when it is newer than mtime and ctime, as Linux's relatime does.
const relatimeMax = 24 * time.Hour

// AtimeStale reports whether a read at t (Unix nanoseconds) of an inode
// with attributes a moves its access time, with relatime semantics: only
// when the access time is not newer than the last change, or is a day old,
// so that reads do not turn into a write each.
func AtimeStale(a *Attr, t int64) bool {
	return a.Atime <= a.Mtime || a.Atime <= a.Ctime || t-a.Atime >= int64(relatimeMax)
}

// TouchAtimes records reads done by this client, as many in one
// transaction as the store takes: reads maps an inode to the time of its
// read. A read's time lands only if it is still stale by AtimeStale and
// later than the inode's last change, so a utimes (which changes ctime)
// that came after the read keeps its value; inodes gone meanwhile are
// skipped. A retry after an error may send all of reads again: a time
// already recorded is not stale.
func (f *FS) TouchAtimes(ctx context.Context, reads map[uint64]int64) error {
	if len(reads) == 0 {
		return nil
	}
	inos := slices.Sorted(maps.Keys(reads))
	// Each costs the read of its inode and perhaps its write.
	return inPages(inos, f.page(len(inos), 2), func(part []uint64) error {
		return f.touchAtimes(ctx, part, reads)
	})
}

func (f *FS) touchAtimes(ctx context.Context, inos []uint64, reads map[uint64]int64) error {
	return f.transact(ctx, func(tx fdbstore.Tx) error {
		for _, ino := range inos {
			a, err := f.getAttr(tx, ino)
			if errors.Is(err, syscall.ENOENT) {
				continue
			}
			if err != nil {
				return err
			}
			if t := reads[ino]; t > a.Ctime && AtimeStale(a, t) {
				a.Atime = t
				f.putAttr(tx, a)
			}
		}
		return nil
	})
}
