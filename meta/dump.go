package meta

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// Dump and load: a filesystem's metadata as JSON Lines, to back it up or
// to move it to another store (the embedded store to etcd, say).
//
//	{"format":"hafs-dump","version":1,"name":...,"uuid":...,"dumped":...}
//	{"k":"<base64 key below the filesystem's prefix>","v":"<base64 value>"}
//	...
//	{"end":true,"keys":N}
//
// Every key of the filesystem is dumped, in key order, except what belongs
// to running clients: sessions, heartbeats, open records, locks, upload
// intents, site acknowledgements and site states. Sites, rules, queues,
// chunk maps, xattrs, inline bodies and counters are dumped. The trailer
// line proves the dump complete.

// DumpFormat and DumpVersion head every dump.
const (
	DumpFormat  = "hafs-dump"
	DumpVersion = 1
)

// DumpHeader is a dump's first line.
type DumpHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Name    string    `json:"name"`
	UUID    string    `json:"uuid"`
	Dumped  time.Time `json:"dumped"`
}

type dumpRecord struct {
	K    []byte `json:"k,omitempty"`
	V    []byte `json:"v,omitempty"`
	End  bool   `json:"end,omitempty"`
	Keys int64  `json:"keys,omitempty"`
}

// Progress is called now and then during a dump or load with the keys and
// bytes (keys and values) done so far.
type Progress func(keys, bytes int64)

// notDumped are the key kinds of running clients (the lock kinds are the
// locks package's, kept under the same prefix).
var notDumped = map[string]bool{
	kindSession: true, kindHeartbeat: true, kindDead: true, kindGone: true, kindOpen: true,
	kindSessOpen: true, kindIntent: true, kindSiteAck: true, kindSiteState: true,
	"lk": true, "lks": true, "lkw": true,
}

// ErrDumpInterrupted reports a dump whose snapshot was lost after it had
// begun to write (a store retried the read): what was written is not a
// consistent dump.
var ErrDumpInterrupted = errors.New("dump interrupted: the store lost its snapshot; run it again")

// Dump writes filesystem name of store s to w. It reads one snapshot of
// the store (one read transaction, so the dump is consistent even while
// clients write), streaming it page by page: the store must allow a read
// transaction as long as the dump (open it with a long timeout; the
// embedded store and etcd do, FoundationDB's 5 s do not).
func Dump(ctx context.Context, s fdbstore.Store, name string, w io.Writer, progress Progress) (int64, error) {
	k := newKeys(name)
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	began := false
	var n int64
	err := s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		if began {
			return ErrDumpInterrupted
		}
		raw, err := tx.Get(k.superblock())
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("filesystem %q: %w", name, ErrNoFS)
		}
		var sb Superblock
		if err := json.Unmarshal(raw, &sb); err != nil {
			return fmt.Errorf("%w: superblock: %v", fdbstore.ErrCorrupt, err)
		}
		began = true
		if err := enc.Encode(DumpHeader{Format: DumpFormat, Version: DumpVersion, Name: name, UUID: sb.UUID,
			Dumped: time.Now().UTC()}); err != nil {
			return err
		}
		var bytes int64
		last := time.Now()
		b, e := k.all()
		for kv, err := range tx.GetRange(b, e, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			el, err := k.unpack(kv.Key)
			if err != nil || len(el) == 0 {
				return fmt.Errorf("%w: undecodable key %x", fdbstore.ErrCorrupt, kv.Key)
			}
			if kind, _ := el[0].(string); notDumped[kind] {
				continue
			}
			if err := enc.Encode(dumpRecord{K: kv.Key[len(k.prefix):], V: kv.Value}); err != nil {
				return err
			}
			n++
			bytes += int64(len(kv.Key) + len(kv.Value))
			if progress != nil && time.Since(last) > time.Second {
				progress(n, bytes)
				last = time.Now()
			}
		}
		if progress != nil {
			progress(n, bytes)
		}
		return enc.Encode(dumpRecord{End: true, Keys: n})
	})
	if err != nil {
		return n, fmt.Errorf("dump %q: %w", name, err)
	}
	return n, bw.Flush()
}

// Load reads a dump from r into store s as filesystem name (empty: the
// dumped name). The store must hold nothing of that name. Keys go in
// transactions within the store's limits, the superblock last, so a load
// cut short leaves no filesystem that mounts; load again under another
// name, or into a fresh store. Inodes that were unlinked while open when the dump
// was taken are deleted: no client has them open any more.
func Load(ctx context.Context, s fdbstore.Store, name string, r io.Reader, progress Progress) (string, int64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var h DumpHeader
	if err := dec.Decode(&h); err != nil || h.Format != DumpFormat {
		return "", 0, fmt.Errorf("load: not a HAFS dump (its first line must be a %q header)", DumpFormat)
	}
	if h.Version != DumpVersion {
		return "", 0, fmt.Errorf("load: dump version %d; this hafs reads version %d", h.Version, DumpVersion)
	}
	if name == "" {
		name = h.Name
	}
	f := &FS{store: s, k: newKeys(name), lim: fdbstore.LimitsOf(s)}
	if err := f.loadEmpty(ctx, name); err != nil {
		return name, 0, err
	}
	n, sb, orphans, err := f.loadKeys(ctx, dec, progress)
	if err != nil {
		return name, n, err
	}
	if sb == nil {
		return name, n, errors.New("load: the dump has no superblock")
	}
	if err := json.Unmarshal(sb, &f.sb); err != nil {
		return name, n, fmt.Errorf("load: superblock: %w", err)
	}
	f.sb.Name = name
	for _, ino := range orphans {
		if err := f.transact(ctx, func(tx fdbstore.Tx) error { _, err := f.reapIfOrphan(tx, ino); return err }); err != nil {
			return name, n, fmt.Errorf("load: delete open-unlinked inode %d: %w", ino, err)
		}
	}
	raw, err := json.Marshal(f.sb)
	if err != nil {
		return name, n, err
	}
	err = f.transact(ctx, func(tx fdbstore.Tx) error { tx.Set(f.k.superblock(), raw); return nil })
	return name, n, err
}

// loadEmpty refuses a store that holds anything of filesystem name.
func (f *FS) loadEmpty(ctx context.Context, name string) error {
	return f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
		b, e := f.k.all()
		for _, err := range tx.GetRange(b, e, fdbstore.RangeOptions{Limit: 1}) {
			if err != nil {
				return err
			}
			return fmt.Errorf("load: the store already holds filesystem %q (or part of one, from a load cut short); "+
				"load into an empty store, or under another --name", name)
		}
		return nil
	})
}

// loadKeys writes the dump's records in bounded transactions, holding the
// superblock back, and returns the orphan inodes it saw.
func (f *FS) loadKeys(ctx context.Context, dec *json.Decoder, progress Progress) (int64, []byte, []uint64, error) {
	maxOps, maxBytes := 4096, 1<<20
	if f.lim.MaxOps > 0 {
		maxOps = f.page(maxOps, 1)
	}
	if f.lim.MaxBytes > 0 {
		maxBytes = min(maxBytes, f.lim.MaxBytes/2)
	}
	var (
		n, bytes int64
		sb       []byte
		orphans  []uint64
		batch    []dumpRecord
		size     int
		last     = time.Now()
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := f.transact(ctx, func(tx fdbstore.Tx) error {
			for _, r := range batch {
				tx.Set(append(append([]byte(nil), f.k.prefix...), r.K...), r.V)
			}
			return nil
		})
		batch, size = batch[:0], 0
		return err
	}
	for {
		var r dumpRecord
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return n, sb, orphans, errors.New("load: the dump ends before its trailer line: it is incomplete")
			}
			return n, sb, orphans, fmt.Errorf("load: record %d: %w", n+1, err)
		}
		if r.End {
			if r.Keys != n {
				return n, sb, orphans, fmt.Errorf("load: the trailer counts %d keys, the dump holds %d", r.Keys, n)
			}
			if progress != nil {
				progress(n, bytes)
			}
			return n, sb, orphans, flush()
		}
		el, err := tuple.Unpack(r.K)
		if err != nil || len(el) == 0 {
			return n, sb, orphans, fmt.Errorf("load: record %d: undecodable key", n+1)
		}
		n++
		bytes += int64(len(r.K) + len(r.V))
		switch kind, _ := el[0].(string); {
		case kind == kindSuperblock:
			sb = r.V
			continue
		case kind == kindOrphan && len(el) == 2:
			ino, _ := el[1].(int64)
			orphans = append(orphans, uint64(ino))
		}
		if len(batch) >= maxOps || size+len(r.K)+len(r.V)+len(f.k.prefix) > maxBytes {
			if err := flush(); err != nil {
				return n, sb, orphans, fmt.Errorf("load: %w", err)
			}
		}
		batch = append(batch, r)
		size += len(r.K) + len(r.V) + len(f.k.prefix)
		if progress != nil && time.Since(last) > time.Second {
			progress(n, bytes)
			last = time.Now()
		}
	}
}
