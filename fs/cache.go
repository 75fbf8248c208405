package fs

import (
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/meta"
)

// Close-to-open across clients.
//
// The kernel caches a file's attributes for --attr-timeout and its pages
// for as long as it likes, and another client's change reaches neither:
// without help, a read after an open here serves the size cached before
// another client appended and closed (a read past the cached size refreshes
// the attributes only once they are invalid or expired). So every open
// reads the inode from the store (the open's registration or check does
// anyway) and compares it with the version of the file this node last
// handed the kernel's caches. When the file changed, the open drops the
// kernel's attributes and pages of it (FUSE_NOTIFY_INVAL_INODE) before it
// answers; when it did not, the pages stay (FOPEN_KEEP_CACHE), so a file
// read again and again is read from the store once.
//
// The invalidation is synchronous: the kernel has dropped the pages when
// the notify returns. Pages it caches afterwards come from reads that
// reached the store after the open's own read of the inode, so they are
// at least that version: if the next open finds the inode unchanged, every
// cached page is current. A reply to an attribute request sent before the
// notify is discarded by the kernel (the notify bumps its attribute
// version), so no stale attribute survives either. The notify is safe
// inside Open: an open holds no inode lock or page lock of its own (an
// O_TRUNC open would with writeback caching, which HAFS does not enable),
// and reads that hold page locks it waits for are served by other
// goroutines.

// fileVersion identifies a version of a file by what every change to its
// size or bytes moves: size, mtime and ctime (as NFS clients revalidate).
// ctime is the store's clock at each change, so two versions share it only
// if a clock stepped back onto the same nanosecond.
type fileVersion struct {
	size         uint64
	mtime, ctime int64
}

func versionOf(a *meta.Attr) fileVersion {
	return fileVersion{size: a.Size, mtime: a.Mtime, ctime: a.Ctime}
}

// kernelCache is what a node knows of the kernel's caches of its file: the
// version they hold at least since the last open that checked.
type kernelCache struct {
	mu      sync.Mutex
	version fileVersion // guarded by mu; zero: unknown
}

// openFlags makes the kernel's caches of n's file current for an open that
// found the inode at a (nil: unknown) and returns the open's FOPEN flags.
func (n *node) openFlags(a *meta.Attr) uint32 {
	if a == nil {
		return 0 // the kernel drops the pages; attributes age out
	}
	v := versionOf(a)
	c := &n.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version == v {
		return fuse.FOPEN_KEEP_CACHE
	}
	// Held under the mutex, so that a concurrent open of the same version
	// cannot answer KEEP_CACHE before the stale pages are gone.
	if e := n.NotifyContent(0, 0); e != 0 && e != syscall.ENOENT {
		n.root.log.Warn("could not drop the kernel's cache of a file changed elsewhere; its size may be stale for --attr-timeout",
			"ino", n.ino, "errno", e)
		c.version = fileVersion{}
		return 0
	}
	c.version = v
	return fuse.FOPEN_KEEP_CACHE
}
