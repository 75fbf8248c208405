package meta

import (
	"context"
	"fmt"
	"syscall"

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
	c := &checker{
		rep:       &CheckReport{},
		inodes:    map[uint64]*Attr{},
		cookies:   map[[2]uint64]string{},
		blocks:    map[uint64]int{},
		orphans:   map[uint64]bool{},
		opens:     map[uint64]int{},
		sessOpens: map[[2]string]bool{},
		openRecs:  map[[2]string]bool{},
		live:      map[string]bool{},
		chunks:    map[uint64]int{},
		purging:   map[uint64]bool{},
		counters:  map[string]int64{},
		quotas:    map[uint64]*quotaRec{},
		quotaUse:  map[uint64]*[2]int64{},
	}
	err := f.scan(ctx, func(key, value []byte) error {
		el, err := f.k.unpack(key)
		if err != nil || len(el) == 0 {
			c.bad("undecodable key %x", key)
			return nil
		}
		c.collect(el, value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.rep.Inodes, c.rep.Entries = len(c.inodes), len(c.ents)
	links, subdirs := c.checkEntries()
	c.checkInodes(links, subdirs)
	c.checkData()
	c.checkOpens()
	c.checkCounters()
	c.checkQuotas()
	if c.inodes[RootIno] == nil {
		c.bad("root directory missing")
	}
	return c.rep, nil
}

// checker holds what one Check scan collected, by key kind.
type checker struct {
	rep     *CheckReport
	inodes  map[uint64]*Attr
	ents    []checkEntry
	cookies map[[2]uint64]string
	blocks  map[uint64]int
	orphans map[uint64]bool
	// opens counts open records per inode; openRecs and sessOpens hold
	// (session, ino) from the inode records and from the session index.
	opens     map[uint64]int
	sessOpens map[[2]string]bool
	openRecs  map[[2]string]bool
	live      map[string]bool // sessions live or awaiting cleanup
	chunks    map[uint64]int  // chunk records per inode
	purging   map[uint64]bool // deleted sliced inodes awaiting purge
	counters  map[string]int64
	quotas    map[uint64]*quotaRec // quota records by directory
	quotaUse  map[uint64]*[2]int64 // their counters: allocated bytes, inodes
}

type checkEntry struct {
	dir  uint64
	name string
	d    dent
}

func (c *checker) bad(format string, args ...any) {
	c.rep.Problems = append(c.rep.Problems, fmt.Sprintf(format, args...))
}

// collect records one key (unpacked below the filesystem prefix).
func (c *checker) collect(el []any, value []byte) {
	kind, _ := el[0].(string)
	id := func(i int) uint64 { v, _ := el[i].(int64); return uint64(v) }
	str := func(i int) string { s, _ := el[i].(string); return s }
	switch {
	case kind == kindInode && len(el) == 2:
		a, err := decodeAttr(value)
		if err != nil {
			c.bad("inode %d: %v", id(1), err)
			return
		}
		c.inodes[a.Ino] = a
	case kind == kindDent && len(el) == 3:
		d, err := decodeDent(value)
		if err != nil {
			c.bad("entry %d/%v: %v", id(1), el[2], err)
			return
		}
		c.ents = append(c.ents, checkEntry{dir: id(1), name: str(2), d: d})
	case kind == kindCookie && len(el) == 3:
		v, err := tuple.Unpack(value)
		if err != nil || len(v) != 3 {
			c.bad("readdir cookie %d/%d: undecodable", id(1), id(2))
			return
		}
		name, _ := v[0].(string)
		c.cookies[[2]uint64{id(1), id(2)}] = name
	case kind == kindBlock && len(el) == 3:
		c.blocks[id(1)]++
		c.rep.Blocks++
	case kind == kindOrphan && len(el) == 2:
		c.orphans[id(1)] = true
	case kind == kindChunk && len(el) == 3:
		c.chunks[id(1)]++
		if _, err := decodeChunk(value); err != nil {
			c.bad("inode %d chunk %d: %v", id(1), id(2), err)
		}
	case kind == kindStat && len(el) == 2:
		c.counters[str(1)] = decI64(value)
	case kind == kindPurge && len(el) == 2:
		c.purging[id(1)] = true
	case (kind == kindSession || kind == kindDead) && len(el) == 2:
		c.live[str(1)] = true
	case kind == kindOpen && len(el) == 3:
		c.opens[id(1)]++
		c.openRecs[[2]string{str(2), fmt.Sprint(id(1))}] = true
	case kind == kindSessOpen && len(el) == 3:
		c.sessOpens[[2]string{str(1), fmt.Sprint(id(2))}] = true
	case kind == kindQuota || kind == kindQuotaUse:
		c.collectQuota(el, value)
	}
}

// checkEntries checks every entry against its directory, its inode and its
// cookie, and counts the links and subdirectories it finds.
func (c *checker) checkEntries() (links, subdirs map[uint64]uint32) {
	links, subdirs = map[uint64]uint32{}, map[uint64]uint32{}
	for _, e := range c.ents {
		dir, child := c.inodes[e.dir], c.inodes[e.d.ino]
		switch {
		case dir == nil || !dir.IsDir():
			c.bad("entry %q in %d: directory missing", e.name, e.dir)
		case child == nil:
			c.bad("entry %q in %d: inode %d missing", e.name, e.dir, e.d.ino)
			continue
		case child.Mode&syscall.S_IFMT != e.d.mode:
			c.bad("entry %q in %d: type %o, inode says %o", e.name, e.dir, e.d.mode, child.Mode&syscall.S_IFMT)
		}
		if c.cookies[[2]uint64{e.dir, e.d.cookie}] != e.name {
			c.bad("entry %q in %d: readdir cookie %d missing or wrong", e.name, e.dir, e.d.cookie)
		}
		delete(c.cookies, [2]uint64{e.dir, e.d.cookie})
		links[e.d.ino]++
		if child.IsDir() {
			subdirs[e.dir]++
			if child.Parent != e.dir {
				c.bad("directory %d: parent is %d, entry is in %d", child.Ino, child.Parent, e.dir)
			}
		}
	}
	for k, name := range c.cookies {
		c.bad("readdir cookie %d in %d (%q): no entry", k[1], k[0], name)
	}
	return links, subdirs
}

// checkInodes compares each inode's nlink with the links found, and its
// orphan record with the clients that hold it open.
func (c *checker) checkInodes(links, subdirs map[uint64]uint32) {
	for ino, a := range c.inodes {
		want := links[ino]
		if a.IsDir() {
			want = 2 + subdirs[ino]
			if ino != RootIno && links[ino] != 1 {
				c.bad("directory %d: %d entries point to it", ino, links[ino])
			}
		}
		switch {
		case a.Nlink == 0 && c.orphans[ino] && c.opens[ino] == 0:
			c.bad("orphan inode %d: open by no client", ino)
		case a.Nlink == 0 && c.orphans[ino]:
			c.rep.Orphans = append(c.rep.Orphans, ino)
		case a.Nlink != want:
			c.bad("inode %d: nlink %d, found %d links", ino, a.Nlink, want)
		case want == 0 && ino != RootIno:
			c.bad("inode %d: unreachable", ino)
		}
	}
	for ino := range c.orphans {
		if a := c.inodes[ino]; a == nil || a.Nlink != 0 {
			c.bad("orphan record for inode %d that is missing or still linked", ino)
		}
	}
}

// checkData checks that blocks and chunk records belong to live inodes (or,
// for chunks, to a deleted one queued for purge).
func (c *checker) checkData() {
	for ino, n := range c.blocks {
		if c.inodes[ino] == nil {
			c.bad("%d blocks of missing inode %d", n, ino)
		}
	}
	for ino, n := range c.chunks {
		switch a := c.inodes[ino]; {
		case a == nil && !c.purging[ino]:
			c.bad("%d chunk records of missing inode %d, not queued for purge", n, ino)
		case a != nil && !a.Sliced():
			c.bad("inode %d: %d chunk records but not marked sliced", ino, n)
		}
	}
}

// checkOpens checks that the open records and their session index agree
// and belong to sessions that are live or awaiting cleanup.
func (c *checker) checkOpens() {
	for k := range c.openRecs {
		if !c.live[k[0]] {
			c.bad("inode %s held open by session %s, which is neither live nor awaiting cleanup", k[1], k[0])
		}
		if !c.sessOpens[k] {
			c.bad("open record of session %s on inode %s missing from the session index", k[0], k[1])
		}
	}
	for k := range c.sessOpens {
		if !c.openRecs[k] {
			c.bad("session %s index lists inode %s open, the inode has no such record", k[0], k[1])
		}
	}
}

// checkCounters checks the statfs counters against the inodes found: each
// is moved in the transaction of every change it counts, so they agree
// exactly on a quiet filesystem.
func (c *checker) checkCounters() {
	var size, alloc int64
	for _, a := range c.inodes {
		size += int64(a.Size)
		alloc += int64(a.Alloc)
		if a.Alloc > a.Size {
			c.bad("inode %d: %d bytes allocated, more than its size %d", a.Ino, a.Alloc, a.Size)
		}
		if !a.IsReg() && a.Alloc != 0 {
			c.bad("inode %d: not a regular file, %d bytes allocated", a.Ino, a.Alloc)
		}
	}
	for name, want := range map[string]int64{"inodes": int64(len(c.inodes)), "bytes": size, "alloc": alloc} {
		if got, ok := c.counters[name]; !ok || got != want {
			c.bad("counter %q is %d, the inodes add up to %d", name, got, want)
		}
	}
}
