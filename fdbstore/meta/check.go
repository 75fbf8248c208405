package meta

import (
	"bytes"
	"context"
	"fmt"
	"syscall"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// CheckReport lists what Check found wrong; empty Problems means clean.
type CheckReport struct {
	Inodes, Entries, Blocks int
	// Orphans are inodes unlinked while open; legitimate while their client
	// runs, a leak once every handle is closed.
	Orphans  []uint64
	Problems []string
}

// Check verifies the namespace invariants: every entry points to a live
// inode of the type it records and has its readdir cookie, every directory
// names its parent, nlink equals the links found, and no inode or block is
// unreachable. It scans in pages of separate transactions, so run it on a
// quiet filesystem for an exact answer.
func (f *FS) Check(ctx context.Context) (*CheckReport, error) {
	type entry struct {
		dir    uint64
		name   string
		d      dent
		cookie bool
	}
	inodes := map[uint64]*Attr{}
	links := map[uint64]uint32{}
	subdirs := map[uint64]uint32{}
	var ents []entry
	cookies := map[[2]uint64]string{}
	blocks := map[uint64]int{}
	orphans := map[uint64]bool{}
	opens := map[uint64]int{}         // open records per inode
	sessOpens := map[[2]string]bool{} // (session, ino) from the session index
	openRecs := map[[2]string]bool{}  // (session, ino) from the inode records
	live := map[string]bool{}         // sessions live or awaiting cleanup
	chunks := map[uint64]int{}        // chunk records per inode
	purging := map[uint64]bool{}      // deleted sliced inodes awaiting purge
	rep := &CheckReport{}
	bad := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	err := f.scan(ctx, func(key, value []byte) error {
		el, err := tuple.Unpack(key[len(f.k.prefix):])
		if err != nil || len(el) == 0 {
			bad("undecodable key %x", key)
			return nil
		}
		kind, _ := el[0].(string)
		id := func(i int) uint64 { v, _ := el[i].(int64); return uint64(v) }
		switch {
		case kind == "ino" && len(el) == 2:
			a, err := decodeAttr(value)
			if err != nil {
				bad("inode %d: %v", id(1), err)
				return nil
			}
			inodes[a.Ino] = a
		case kind == "dent" && len(el) == 3:
			d, err := decodeDent(value)
			if err != nil {
				bad("entry %d/%v: %v", id(1), el[2], err)
				return nil
			}
			name, _ := el[2].(string)
			ents = append(ents, entry{dir: id(1), name: name, d: d})
		case kind == "dck" && len(el) == 3:
			v, err := tuple.Unpack(value)
			if err != nil || len(v) != 3 {
				bad("readdir cookie %d/%d: undecodable", id(1), id(2))
				return nil
			}
			name, _ := v[0].(string)
			cookies[[2]uint64{id(1), id(2)}] = name
		case kind == "blk" && len(el) == 3:
			blocks[id(1)]++
			rep.Blocks++
		case kind == "orphan" && len(el) == 2:
			orphans[id(1)] = true
		case kind == "chunk" && len(el) == 3:
			chunks[id(1)]++
			if _, err := decodeChunk(value); err != nil {
				bad("inode %d chunk %d: %v", id(1), id(2), err)
			}
		case kind == "purge" && len(el) == 2:
			purging[id(1)] = true
		case (kind == "sess" || kind == "dead") && len(el) == 2:
			sess, _ := el[1].(string)
			live[sess] = true
		case kind == "open" && len(el) == 3:
			sess, _ := el[2].(string)
			opens[id(1)]++
			openRecs[[2]string{sess, fmt.Sprint(id(1))}] = true
		case kind == "sopen" && len(el) == 3:
			sess, _ := el[1].(string)
			sessOpens[[2]string{sess, fmt.Sprint(id(2))}] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Inodes, rep.Entries = len(inodes), len(ents)
	for _, e := range ents {
		dir, child := inodes[e.dir], inodes[e.d.ino]
		switch {
		case dir == nil || !dir.IsDir():
			bad("entry %q in %d: directory missing", e.name, e.dir)
		case child == nil:
			bad("entry %q in %d: inode %d missing", e.name, e.dir, e.d.ino)
			continue
		case child.Mode&syscall.S_IFMT != e.d.mode:
			bad("entry %q in %d: type %o, inode says %o", e.name, e.dir, e.d.mode, child.Mode&syscall.S_IFMT)
		}
		if cookies[[2]uint64{e.dir, e.d.cookie}] != e.name {
			bad("entry %q in %d: readdir cookie %d missing or wrong", e.name, e.dir, e.d.cookie)
		}
		delete(cookies, [2]uint64{e.dir, e.d.cookie})
		links[e.d.ino]++
		if child.IsDir() {
			subdirs[e.dir]++
			if child.Parent != e.dir {
				bad("directory %d: parent is %d, entry is in %d", child.Ino, child.Parent, e.dir)
			}
		}
	}
	for k, name := range cookies {
		bad("readdir cookie %d in %d (%q): no entry", k[1], k[0], name)
	}
	for ino, a := range inodes {
		want := links[ino]
		if a.IsDir() {
			want = 2 + subdirs[ino]
			if ino != RootIno && links[ino] != 1 {
				bad("directory %d: %d entries point to it", ino, links[ino])
			}
		}
		switch {
		case a.Nlink == 0 && orphans[ino] && opens[ino] == 0:
			bad("orphan inode %d: open by no client", ino)
		case a.Nlink == 0 && orphans[ino]:
			rep.Orphans = append(rep.Orphans, ino)
		case a.Nlink != want:
			bad("inode %d: nlink %d, found %d links", ino, a.Nlink, want)
		case want == 0 && ino != RootIno:
			bad("inode %d: unreachable", ino)
		}
	}
	for ino, n := range blocks {
		if inodes[ino] == nil {
			bad("%d blocks of missing inode %d", n, ino)
		}
	}
	for ino := range orphans {
		if a := inodes[ino]; a == nil || a.Nlink != 0 {
			bad("orphan record for inode %d that is missing or still linked", ino)
		}
	}
	for ino, n := range chunks {
		switch a := inodes[ino]; {
		case a == nil && !purging[ino]:
			bad("%d chunk records of missing inode %d, not queued for purge", n, ino)
		case a != nil && !a.Sliced():
			bad("inode %d: %d chunk records but not marked sliced", ino, n)
		}
	}
	for k := range openRecs {
		if !live[k[0]] {
			bad("inode %s held open by session %s, which is neither live nor awaiting cleanup", k[1], k[0])
		}
		if !sessOpens[k] {
			bad("open record of session %s on inode %s missing from the session index", k[0], k[1])
		}
	}
	for k := range sessOpens {
		if !openRecs[k] {
			bad("session %s index lists inode %s open, the inode has no such record", k[0], k[1])
		}
	}
	if inodes[RootIno] == nil {
		bad("root directory missing")
	}
	return rep, nil
}

// scan calls fn for every key of the filesystem (see scanRange).
func (f *FS) scan(ctx context.Context, fn func(key, value []byte) error) error {
	begin, end := f.k.all()
	return f.scanRange(ctx, begin, end, fn)
}

// scanPage is how many pairs one transaction of scanRange reads.
const scanPage = 10_000

// scanRange calls fn for every pair in [begin, end), reading in pages, each
// page one consistent snapshot. fn runs outside the transaction, so a read
// that is retried never calls it twice for a pair, and fn may do I/O.
func (f *FS) scanRange(ctx context.Context, begin, end []byte, fn func(key, value []byte) error) error {
	return f.scanPages(ctx, begin, end, scanPage, fn)
}

// scanPages is scanRange reading page keys per transaction.
func (f *FS) scanPages(ctx context.Context, begin, end []byte, page int, fn func(key, value []byte) error) error {
	for {
		var rows []fdbstore.KeyValue
		err := f.readTransact(ctx, func(tx fdbstore.ReadTx) error {
			var err error
			rows, err = fdbstore.Collect(tx.GetRange(begin, end, fdbstore.RangeOptions{Limit: page}))
			return err
		})
		if err != nil {
			return err
		}
		for _, kv := range rows {
			if err := fn(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		if len(rows) < page {
			return nil
		}
		begin = append(bytes.Clone(rows[len(rows)-1].Key), 0)
	}
}
