package meta

import (
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// The first element of every key below the filesystem's prefix: its kind.
// doc.go's table is the index of what each holds.
const (
	kindSuperblock = "sb"
	kindCounter    = "ctr"
	kindInode      = "ino"
	kindDent       = "dent"
	kindCookie     = "dck"
	kindBlock      = "blk"
	kindXattr      = "xattr"
	kindOrphan     = "orphan"
	kindStat       = "stat"
	kindOpen       = "open"
	kindSessOpen   = "sopen"
	kindSession    = "sess"
	kindHeartbeat  = "hb"
	kindDead       = "dead"
	kindGone       = "gone"
	kindSite       = "site"
	kindChunk      = "chunk"
	kindIntent     = "intent"
	kindDelq       = "delq"
	kindPurge      = "purge"
	kindRule       = "rule"
	kindSiteAck    = "siteack"
	kindRepl       = "repl"
	kindReplStat   = "replstat"
	kindSiteDel    = "sdel"
	kindBackfill   = "backfill"
	kindSiteState  = "sitestate"
	kindConfig     = "cfg"
)

// keys builds the store keys of one filesystem.
type keys struct{ prefix []byte }

func newKeys(fsname string) keys { return keys{prefix: tuple.Pack("hafs", fsname)} }

func (k keys) pack(elems ...any) []byte {
	return tuple.AppendPack(append([]byte(nil), k.prefix...), elems...)
}

func (k keys) superblock() []byte      { return k.pack(kindSuperblock) }
func (k keys) inoCounter() []byte      { return k.pack(kindCounter, "ino") }
func (k keys) inode(ino uint64) []byte { return k.pack(kindInode, int64(ino)) }
func (k keys) dent(dir uint64, name string) []byte {
	return k.pack(kindDent, int64(dir), name)
}
func (k keys) dentRange(dir uint64) ([]byte, []byte) {
	return tuple.Range(k.pack(kindDent, int64(dir)))
}
func (k keys) dcookie(dir, cookie uint64) []byte {
	return k.pack(kindCookie, int64(dir), int64(cookie))
}
func (k keys) dcookieFrom(dir, cookie uint64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack(kindCookie, int64(dir)))
	return k.dcookie(dir, cookie), end
}
func (k keys) block(ino uint64, idx int64) []byte { return k.pack(kindBlock, int64(ino), idx) }
func (k keys) blocksFrom(ino uint64, idx int64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack(kindBlock, int64(ino)))
	return k.block(ino, idx), end
}
func (k keys) xattr(ino uint64, name string) []byte { return k.pack(kindXattr, int64(ino), name) }
func (k keys) xattrRange(ino uint64) ([]byte, []byte) {
	return tuple.Range(k.pack(kindXattr, int64(ino)))
}
func (k keys) orphan(ino uint64) []byte      { return k.pack(kindOrphan, int64(ino)) }
func (k keys) orphanRange() ([]byte, []byte) { return tuple.Range(k.pack(kindOrphan)) }
func (k keys) stat(name string) []byte       { return k.pack(kindStat, name) }
func (k keys) all() ([]byte, []byte)         { return k.prefix, fdbstore.PrefixEnd(k.prefix) }

func (k keys) open(ino uint64, id string) []byte { return k.pack(kindOpen, int64(ino), id) }
func (k keys) openRange(ino uint64) ([]byte, []byte) {
	return tuple.Range(k.pack(kindOpen, int64(ino)))
}
func (k keys) sessOpen(id string, ino uint64) []byte { return k.pack(kindSessOpen, id, int64(ino)) }
func (k keys) sessOpenRange(id string) ([]byte, []byte) {
	return tuple.Range(k.pack(kindSessOpen, id))
}
func (k keys) session(id string) []byte       { return k.pack(kindSession, id) }
func (k keys) sessionRange() ([]byte, []byte) { return tuple.Range(k.pack(kindSession)) }
func (k keys) heartbeat(id string) []byte     { return k.pack(kindHeartbeat, id) }
func (k keys) dead(id string) []byte          { return k.pack(kindDead, id) }
func (k keys) gone(id string) []byte          { return k.pack(kindGone, id) }
func (k keys) deadRange() ([]byte, []byte)    { return tuple.Range(k.pack(kindDead)) }

func (k keys) site(name string) []byte            { return k.pack(kindSite, name) }
func (k keys) siteRange() ([]byte, []byte)        { return tuple.Range(k.pack(kindSite)) }
func (k keys) sliceCounter() []byte               { return k.pack(kindCounter, "slice") }
func (k keys) chunk(ino uint64, idx int64) []byte { return k.pack(kindChunk, int64(ino), idx) }
func (k keys) chunksFrom(ino uint64, idx int64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack(kindChunk, int64(ino)))
	return k.chunk(ino, idx), end
}
func (k keys) intent(id string, slice uint64) []byte { return k.pack(kindIntent, id, int64(slice)) }
func (k keys) intentRange(id string) ([]byte, []byte) {
	return tuple.Range(k.pack(kindIntent, id))
}
func (k keys) delq(slice uint64) []byte     { return k.pack(kindDelq, int64(slice)) }
func (k keys) delqRange() ([]byte, []byte)  { return tuple.Range(k.pack(kindDelq)) }
func (k keys) purge(ino uint64) []byte      { return k.pack(kindPurge, int64(ino)) }
func (k keys) purgeRange() ([]byte, []byte) { return tuple.Range(k.pack(kindPurge)) }

// Prefix returns the key prefix under which the filesystem keeps all its
// keys, for packages that store their own records alongside (locks).
func (f *FS) Prefix() []byte { return append([]byte(nil), f.k.prefix...) }

func (k keys) siteGen() []byte { return k.pack(kindCounter, "sitegen") }

func (k keys) rule(name string) []byte { return k.pack(kindRule, name) }

func (k keys) ruleRange() ([]byte, []byte) { return tuple.Range(k.pack(kindRule)) }

func (k keys) siteAck(sess string) []byte { return k.pack(kindSiteAck, sess) }

func (k keys) siteAckRange() ([]byte, []byte) { return tuple.Range(k.pack(kindSiteAck)) }

func (k keys) repl(site string, id uint64) []byte { return k.pack(kindRepl, site, int64(id)) }

func (k keys) replRange(site string) ([]byte, []byte) { return tuple.Range(k.pack(kindRepl, site)) }

func (k keys) replStat(site, what string) []byte { return k.pack(kindReplStat, site, what) }

func (k keys) sdel(site string, id uint64) []byte { return k.pack(kindSiteDel, site, int64(id)) }

func (k keys) sdelRange(site string) ([]byte, []byte) { return tuple.Range(k.pack(kindSiteDel, site)) }

func (k keys) backfill(site string) []byte { return k.pack(kindBackfill, site) }

func (k keys) siteState(site string) []byte { return k.pack(kindSiteState, site) }

// kindRange is every key of one kind, for scans that walk a whole table
// (fsck, gc, backfill).
func (k keys) kindRange(kind string) ([]byte, []byte) { return tuple.Range(k.pack(kind)) }
func (k keys) replStatRange(site string) ([]byte, []byte) {
	return tuple.Range(k.pack(kindReplStat, site))
}

// unpack decodes a key of this filesystem below its prefix.
func (k keys) unpack(key []byte) ([]any, error) { return tuple.Unpack(key[len(k.prefix):]) }
