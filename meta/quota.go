package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// Per-directory quotas, as XFS and JuiceFS project quotas. A quota
// directory has a record ("quota", dir) with its limits and the quota
// enclosing it (Parent), and two counters ("qused", dir, "alloc" |
// "inodes") moved by atomic adds in the same transactions as the changes
// they count. Every inode carries Qid, its nearest quota directory (the
// directory itself counts against the quota enclosing it), inherited at
// create. A change to an inode's allocated bytes or its creation or
// deletion moves the counters of its quota and of every quota enclosing
// that one; growth past a limit fails with EDQUOT and the transaction with
// it. Rename and link into a directory of another quota fail with EXDEV
// (mv then copies), so an inode's Qid never changes except by QuotaSet and
// QuotaUnset, which relabel a subtree in pages (quotawalk.go).

// Quota states: a quota being set or unset is walking its subtree.
const (
	quotaSetting   = "setting"
	quotaUnsetting = "unsetting"
	// quotaRemoved marks the record of a removed quota directory that
	// still counts open-unlinked files; it goes with the last of them.
	quotaRemoved = "removed"
)

// quotaRec is the stored record of one quota.
type quotaRec struct {
	// Bytes and Inodes are the limits; zero is none.
	Bytes  int64 `json:"bytes,omitempty"`
	Inodes int64 `json:"inodes,omitempty"`
	// Parent is the quota directory enclosing this one (0: none).
	Parent uint64 `json:"parent,omitempty"`
	// State is empty once set, else one of the quota states.
	State string `json:"state,omitempty"`
}

// Quota is one directory quota as QuotaGet and QuotaList report it.
type Quota struct {
	Dir  uint64 // the quota directory's inode
	Path string // its path from the root; empty if removed
	// Bytes and Inodes are the limits (zero: none); UsedBytes and
	// UsedInodes what the subtree uses (allocated bytes, inodes).
	Bytes, Inodes         int64
	UsedBytes, UsedInodes int64
	Parent                uint64 // the enclosing quota directory, 0 if none
	State                 string // empty, or "setting"/"unsetting"/"removed"
}

const (
	kindQuota    = "quota"
	kindQuotaUse = "qused"
)

func (k keys) quota(dir uint64) []byte { return k.pack(kindQuota, int64(dir)) }
func (k keys) quotaUse(dir uint64, what string) []byte {
	return k.pack(kindQuotaUse, int64(dir), what)
}

// maxQuotaDepth bounds a chain of nested quotas, against a corrupt cycle.
const maxQuotaDepth = 1024

func (f *FS) quotaRecTx(tx fdbstore.ReadTx, dir uint64) (*quotaRec, error) {
	raw, err := tx.Get(f.k.quota(dir))
	if err != nil || raw == nil {
		return nil, err
	}
	var r quotaRec
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%w: quota of directory %d: %v", fdbstore.ErrCorrupt, dir, err)
	}
	return &r, nil
}

func (f *FS) putQuotaRec(tx fdbstore.Tx, dir uint64, r *quotaRec) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tx.Set(f.k.quota(dir), raw)
	return nil
}

// quotaAdd moves the usage of quota qid and of every quota enclosing it by
// bytes and inodes. Growth is checked first against each limit (usage read
// as a snapshot, as checkSpace reads the capacity counter, so writers do
// not conflict on it); past one it fails with EDQUOT and changes nothing.
// The records are read normally: a quota set or unset meanwhile conflicts.
func (f *FS) quotaAdd(tx fdbstore.Tx, qid uint64, bytes, inodes int64) error {
	_, err := f.quotaMove(tx, qid, bytes, inodes)
	return err
}

// quotaMove is quotaAdd returning qid's own record (nil when none).
func (f *FS) quotaMove(tx fdbstore.Tx, qid uint64, bytes, inodes int64) (*quotaRec, error) {
	type level struct {
		dir uint64
		rec *quotaRec
	}
	var chain []level
	for q := qid; q != 0; {
		if len(chain) == maxQuotaDepth {
			return nil, fmt.Errorf("%w: quota chain from directory %d too deep or cyclic", fdbstore.ErrCorrupt, qid)
		}
		r, err := f.quotaRecTx(tx, q)
		if err != nil {
			return nil, err
		}
		if r == nil {
			break // an inode labeled by a quota whose record went: fsck's to report
		}
		chain = append(chain, level{q, r})
		q = r.Parent
	}
	if bytes > 0 || inodes > 0 {
		for _, l := range chain {
			if err := f.quotaCheck(tx, l.dir, l.rec, bytes, inodes); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range chain {
		if bytes != 0 {
			tx.Add(f.k.quotaUse(l.dir, "alloc"), bytes)
		}
		if inodes != 0 {
			tx.Add(f.k.quotaUse(l.dir, "inodes"), inodes)
		}
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return chain[0].rec, nil
}

// quotaCheck fails with EDQUOT when adding bytes and inodes would pass
// one of r's limits. A quota being unset no longer limits.
func (f *FS) quotaCheck(tx fdbstore.Tx, dir uint64, r *quotaRec, bytes, inodes int64) error {
	if r.State == quotaUnsetting || r.State == quotaRemoved {
		return nil
	}
	snap := tx.Snapshot()
	if bytes > 0 && r.Bytes > 0 {
		v, err := snap.Get(f.k.quotaUse(dir, "alloc"))
		if err != nil {
			return err
		}
		if decI64(v)+bytes > r.Bytes {
			return fmt.Errorf("quota of %d bytes on directory %d reached: %w", r.Bytes, dir, syscall.EDQUOT)
		}
	}
	if inodes > 0 && r.Inodes > 0 {
		v, err := snap.Get(f.k.quotaUse(dir, "inodes"))
		if err != nil {
			return err
		}
		if decI64(v)+inodes > r.Inodes {
			return fmt.Errorf("quota of %d inodes on directory %d reached: %w", r.Inodes, dir, syscall.EDQUOT)
		}
	}
	return nil
}

// quotaDirGone handles the deletion of quota directory a (empty by then):
// its record and counters go, unless open-unlinked files still count
// against it; the record then stays, marked removed, so that their reaping
// still reaches the enclosing quotas, and goes with the last of them.
func (f *FS) quotaDirGone(tx fdbstore.Tx, a *Attr) error {
	r, err := f.quotaRecTx(tx, a.Ino)
	if err != nil || r == nil {
		return err
	}
	v, err := tx.Get(f.k.quotaUse(a.Ino, "inodes"))
	if err != nil {
		return err
	}
	if decI64(v) > 0 {
		r.State = quotaRemoved
		return f.putQuotaRec(tx, a.Ino, r)
	}
	f.clearQuota(tx, a.Ino)
	return nil
}

// quotaReap drops the record r of removed quota directory qid once
// nothing counts against it; called after the deletion of an inode
// labeled qid.
func (f *FS) quotaReap(tx fdbstore.Tx, qid uint64, r *quotaRec) error {
	if r == nil || r.State != quotaRemoved {
		return nil
	}
	v, err := tx.Get(f.k.quotaUse(qid, "inodes"))
	if err != nil {
		return err
	}
	if decI64(v) <= 0 {
		f.clearQuota(tx, qid)
	}
	return nil
}

func (f *FS) clearQuota(tx fdbstore.Tx, dir uint64) {
	tx.Clear(f.k.quota(dir))
	tx.ClearRange(tuple.Range(f.k.pack(kindQuotaUse, int64(dir))))
}

// ResolvePath returns the inode of path, absolute from the filesystem's
// root ("/projects/a"), following no symlinks.
func (f *FS) ResolvePath(ctx context.Context, path string) (uint64, error) {
	if !strings.HasPrefix(path, "/") {
		return 0, fmt.Errorf("path %q: must start with / (the filesystem's root)", path)
	}
	ino := uint64(RootIno)
	for _, name := range strings.Split(path, "/") {
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			return 0, fmt.Errorf("path %q: .. is not supported", path)
		}
		a, err := f.Lookup(ctx, ino, name)
		if err != nil {
			return 0, fmt.Errorf("path %q: %s: %w", path, name, err)
		}
		ino = a.Ino
	}
	return ino, nil
}

// QuotaGet returns the quota on directory dir; ENOENT wrapped when it has
// none.
func (f *FS) QuotaGet(ctx context.Context, dir uint64) (Quota, error) {
	var q Quota
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		r, err := f.quotaRecTx(tx, dir)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("directory %d has no quota: %w", dir, syscall.ENOENT)
		}
		q, err = f.quotaInfo(tx, dir, r)
		return err
	})
	if err != nil {
		return q, err
	}
	q.Path = f.pathOf(ctx, dir)
	return q, nil
}

// QuotaList returns every quota, in inode order.
func (f *FS) QuotaList(ctx context.Context) ([]Quota, error) {
	var out []Quota
	err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		out = out[:0]
		b, e := f.k.kindRange(kindQuota)
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			el, err := f.k.unpack(kv.Key)
			if err != nil || len(el) != 2 {
				return fmt.Errorf("%w: quota key %x", fdbstore.ErrCorrupt, kv.Key)
			}
			dir, _ := el[1].(int64)
			var r quotaRec
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				return fmt.Errorf("%w: quota of directory %d: %v", fdbstore.ErrCorrupt, dir, err)
			}
			q, err := f.quotaInfo(tx, uint64(dir), &r)
			if err != nil {
				return err
			}
			out = append(out, q)
		}
		return nil
	})
	for i := range out {
		out[i].Path = f.pathOf(ctx, out[i].Dir)
	}
	return out, err
}

func (f *FS) quotaInfo(tx fdbstore.ReadTx, dir uint64, r *quotaRec) (Quota, error) {
	q := Quota{Dir: dir, Bytes: r.Bytes, Inodes: r.Inodes, Parent: r.Parent, State: r.State}
	vs, err := fdbstore.GetMany(tx, [][]byte{f.k.quotaUse(dir, "alloc"), f.k.quotaUse(dir, "inodes")})
	if err != nil {
		return q, err
	}
	q.UsedBytes, q.UsedInodes = decI64(vs[0]), decI64(vs[1])
	return q, nil
}

// pathOf returns the path of directory dir from the root, climbing its
// parents and finding each name in its parent's entries; empty when it is
// gone. For reports, not for lookups: it reads every entry of each parent.
func (f *FS) pathOf(ctx context.Context, dir uint64) string {
	var names []string
	for depth := 0; dir != RootIno; depth++ {
		if depth == 4096 {
			return ""
		}
		a, err := f.GetAttr(ctx, dir)
		if err != nil || a.Nlink == 0 {
			return ""
		}
		name, err := f.nameIn(ctx, a.Parent, dir)
		if err != nil {
			return ""
		}
		names = append(names, name)
		dir = a.Parent
	}
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteString("/" + names[i])
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// nameIn finds the name of ino in directory dir, listing it in pages.
func (f *FS) nameIn(ctx context.Context, dir, ino uint64) (string, error) {
	var after uint64
	for {
		ents, err := f.ReadDir(ctx, dir, after, 1024)
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if e.Ino == ino {
				return e.Name, nil
			}
		}
		if len(ents) == 0 {
			return "", errors.New("not found")
		}
		after = ents[len(ents)-1].Cookie
	}
}
