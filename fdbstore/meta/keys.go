package meta

import (
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// keys builds the store keys of one filesystem.
type keys struct{ prefix []byte }

func newKeys(fsname string) keys { return keys{prefix: tuple.Pack("hafs", fsname)} }

func (k keys) pack(elems ...any) []byte {
	return tuple.AppendPack(append([]byte(nil), k.prefix...), elems...)
}

func (k keys) superblock() []byte      { return k.pack("sb") }
func (k keys) inoCounter() []byte      { return k.pack("ctr", "ino") }
func (k keys) inode(ino uint64) []byte { return k.pack("ino", int64(ino)) }
func (k keys) dent(dir uint64, name string) []byte {
	return k.pack("dent", int64(dir), name)
}
func (k keys) dentRange(dir uint64) ([]byte, []byte) { return tuple.Range(k.pack("dent", int64(dir))) }
func (k keys) dcookie(dir, cookie uint64) []byte     { return k.pack("dck", int64(dir), int64(cookie)) }
func (k keys) dcookieFrom(dir, cookie uint64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack("dck", int64(dir)))
	return k.dcookie(dir, cookie), end
}
func (k keys) block(ino uint64, idx int64) []byte { return k.pack("blk", int64(ino), idx) }
func (k keys) blocksFrom(ino uint64, idx int64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack("blk", int64(ino)))
	return k.block(ino, idx), end
}
func (k keys) xattr(ino uint64, name string) []byte { return k.pack("xattr", int64(ino), name) }
func (k keys) xattrRange(ino uint64) ([]byte, []byte) {
	return tuple.Range(k.pack("xattr", int64(ino)))
}
func (k keys) orphan(ino uint64) []byte      { return k.pack("orphan", int64(ino)) }
func (k keys) orphanRange() ([]byte, []byte) { return tuple.Range(k.pack("orphan")) }
func (k keys) stat(name string) []byte       { return k.pack("stat", name) }
func (k keys) all() ([]byte, []byte)         { return k.prefix, fdbstore.PrefixEnd(k.prefix) }

func (k keys) open(ino uint64, id string) []byte { return k.pack("open", int64(ino), id) }
func (k keys) openRange(ino uint64) ([]byte, []byte) {
	return tuple.Range(k.pack("open", int64(ino)))
}
func (k keys) sessOpen(id string, ino uint64) []byte { return k.pack("sopen", id, int64(ino)) }
func (k keys) sessOpenRange(id string) ([]byte, []byte) {
	return tuple.Range(k.pack("sopen", id))
}
func (k keys) session(id string) []byte       { return k.pack("sess", id) }
func (k keys) sessionRange() ([]byte, []byte) { return tuple.Range(k.pack("sess")) }
func (k keys) heartbeat(id string) []byte     { return k.pack("hb", id) }
func (k keys) dead(id string) []byte          { return k.pack("dead", id) }
func (k keys) gone(id string) []byte          { return k.pack("gone", id) }
func (k keys) deadRange() ([]byte, []byte)    { return tuple.Range(k.pack("dead")) }

func (k keys) site(name string) []byte            { return k.pack("site", name) }
func (k keys) siteRange() ([]byte, []byte)        { return tuple.Range(k.pack("site")) }
func (k keys) sliceCounter() []byte               { return k.pack("ctr", "slice") }
func (k keys) chunk(ino uint64, idx int64) []byte { return k.pack("chunk", int64(ino), idx) }
func (k keys) chunksFrom(ino uint64, idx int64) ([]byte, []byte) {
	_, end := tuple.Range(k.pack("chunk", int64(ino)))
	return k.chunk(ino, idx), end
}
func (k keys) intent(id string, slice uint64) []byte { return k.pack("intent", id, int64(slice)) }
func (k keys) intentRange(id string) ([]byte, []byte) {
	return tuple.Range(k.pack("intent", id))
}
func (k keys) delq(slice uint64) []byte     { return k.pack("delq", int64(slice)) }
func (k keys) delqRange() ([]byte, []byte)  { return tuple.Range(k.pack("delq")) }
func (k keys) purge(ino uint64) []byte      { return k.pack("purge", int64(ino)) }
func (k keys) purgeRange() ([]byte, []byte) { return tuple.Range(k.pack("purge")) }

// Prefix returns the key prefix under which the filesystem keeps all its
// keys, for packages that store their own records alongside (locks).
func (f *FS) Prefix() []byte { return append([]byte(nil), f.k.prefix...) }
