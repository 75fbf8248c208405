package fs

import (
	"context"
	"errors"
	"path"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/meta"
)

// node is one inode of the mounted tree. It holds the inode number:
// attributes always come from the store (cached by the kernel for the
// configured timeouts).
type node struct {
	gofs.Inode
	root *Root
	ino  uint64
	// cache tracks the version of the file the kernel's caches hold, for
	// close-to-open (see cache.go).
	cache kernelCache
	// lockUsed is set once this client has asked for a lock on the file,
	// until its last close: writes to it then go through to the store
	// (see Write).
	lockUsed atomic.Bool
	// noCapUntil (Unix ns) is how long this client may answer that the
	// file has no security.capability without asking the store (see
	// Getxattr); 0 when it must ask. capGen counts forgetCap calls, so a
	// read that raced one does not keep what it read.
	noCapUntil atomic.Int64
	capGen     atomic.Uint64
	// smallHint: the file was small and inline when this client last read
	// its attributes, so a read-only open may defer its registration
	// (deferopen.go).
	smallHint atomic.Bool
}

var (
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeSetattrer      = (*node)(nil)
	_ gofs.NodeCreater        = (*node)(nil)
	_ gofs.NodeMkdirer        = (*node)(nil)
	_ gofs.NodeMknoder        = (*node)(nil)
	_ gofs.NodeSymlinker      = (*node)(nil)
	_ gofs.NodeLinker         = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRmdirer        = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeSetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.NodeRemovexattrer  = (*node)(nil)
	_ gofs.NodeAllocater      = (*node)(nil)
	_ gofs.NodeLseeker        = (*node)(nil)
	_ gofs.NodeReader         = (*node)(nil)
	_ gofs.NodeWriter         = (*node)(nil)
	_ gofs.NodeFsyncer        = (*node)(nil)
	_ gofs.NodeFlusher        = (*node)(nil)
	_ gofs.NodeReleaser       = (*node)(nil)
)

// child wraps a stored inode as a kernel-visible child node. When the
// kernel does not know the inode yet, this node is the one it gets, with
// no pages and the attributes of this reply: the version its caches hold
// is a's. Otherwise the bridge keeps the node it has and drops this one.
func (n *node) child(ctx context.Context, a *meta.Attr, out *fuse.EntryOut) *gofs.Inode {
	ctx = detach(ctx)
	n.root.fillAttr(a, &out.Attr)
	c := &node{root: n.root, ino: a.Ino}
	c.cache.version = versionOf(a)
	in := n.NewInode(ctx, c, gofs.StableAttr{Mode: a.Mode & syscall.S_IFMT, Ino: a.Ino})
	if cn, ok := in.Operations().(*node); ok {
		cn.noteAttr(a)
	}
	return in
}

// hint returns the inode name probably leads to: the child the kernel
// already has under it, or 0. (READDIRPLUS's lookups are answered from the
// listing's page by the directory handle, see dirHandle.Lookup.)
func (n *node) hint(name string) uint64 {
	if c := n.GetChild(name); c != nil {
		return c.StableAttr().Ino
	}
	return 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	var a *meta.Attr
	var err error
	if n.root.retrying(n.ino, name) {
		a, err = n.root.pinLookup(ctx, n.ino, name) // an open's retry (reopen.go)
	} else {
		a, err = n.root.m.LookupHint(ctx, n.ino, name, n.hint(name))
	}
	if err != nil {
		return nil, n.root.errno("lookup", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	ctx = detach(ctx)
	get := n.root.m.GetAttr
	if n.IsDir() {
		// After this client changed the directory, the kernel asks again
		// before its next permission check: the change's own commit
		// answers (meta.DirAttr).
		get = n.root.m.DirAttr
	}
	a, err := get(ctx, n.ino)
	if err != nil && gone(err) {
		// Removed elsewhere before a deferred registration of this
		// client's open (deferopen.go): an unlinked open file.
		if snap := n.root.snapshotOf(n.ino); snap != nil {
			c := *snap.attr
			c.Nlink = 0
			a, err = &c, nil
		}
	}
	if err != nil {
		return n.root.errno("getattr", err)
	}
	n.noteAttr(a)
	n.root.fillAttr(a, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, _ gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return e
	}
	var r meta.SetAttrReq
	if m, ok := in.GetMode(); ok {
		r.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		r.Uid = &u
	}
	if g, ok := in.GetGID(); ok {
		r.Gid = &g
	}
	if s, ok := in.GetSize(); ok {
		r.Size = &s
	}
	if t, ok := in.GetATime(); ok {
		ns := t.UnixNano()
		r.Atime = &ns
		n.root.forgetAtime(n.ino) // the time set wins over a read's still waiting
	}
	if t, ok := in.GetMTime(); ok {
		ns := t.UnixNano()
		r.Mtime = &ns
	}
	if in.Valid&fuse.FATTR_KILL_SUIDGID != 0 && r.Mode == nil {
		// The kernel asks the filesystem to drop set-id bits (a write or
		// truncate by someone other than the owner).
		a, err := n.root.m.GetAttr(ctx, n.ino)
		if err != nil {
			return n.root.errno("setattr", err)
		}
		m := a.Mode &^ (syscall.S_ISUID | syscall.S_ISGID)
		r.Mode = &m
	}
	// Writes held by this client land first: a truncate must cut them,
	// and times set now (futimens before close, as tar and cp -p do) must
	// not be overwritten by their later commit.
	if err := n.root.data.Flush(ctx, n.ino); err != nil {
		return n.root.errno("setattr", err)
	}
	a, err := n.root.m.SetAttr(ctx, n.ino, r)
	if r.Size != nil {
		n.root.data.Invalidate(n.ino)
	}
	if err != nil {
		return n.root.errno("setattr", err)
	}
	n.root.fillAttr(a, &out.Attr)
	return 0
}

func (n *node) mk(ctx context.Context, name string, nn meta.NewNode, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return nil, e
	}
	nn.Uid, nn.Gid = caller(ctx)
	a, err := n.root.m.Create(ctx, n.ino, name, nn)
	if err != nil {
		return nil, n.root.errno("create", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	ctx = detach(ctx)
	in, e := n.mk(ctx, name, meta.NewNode{Mode: syscall.S_IFREG | mode&07777, Open: true}, out)
	if e != 0 {
		return nil, nil, 0, e
	}
	if _, _, e := n.root.openInode(ctx, out.Ino, true, false, 0); e != 0 {
		return nil, nil, 0, e
	}
	return in, &handle{ino: out.Ino, id: n.root.handles.Add(1), path: path.Join(n.Path(nil), name)}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	return n.mk(ctx, name, meta.NewNode{Mode: syscall.S_IFDIR | mode&07777}, out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	return n.mk(ctx, name, meta.NewNode{Mode: mode, Rdev: dev}, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	return n.mk(ctx, name, meta.NewNode{Mode: syscall.S_IFLNK | 0o777, Target: target}, out)
}

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return nil, e
	}
	a, err := n.root.m.Link(ctx, inoOf(target), n.ino, name)
	if err != nil {
		return nil, n.root.errno("link", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return e
	}
	return n.root.errno("unlink", n.root.removing(ctx, n.hint(name), func() error {
		return n.root.m.Unlink(ctx, n.ino, name)
	}))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return e
	}
	return n.root.errno("rmdir", n.root.m.Rmdir(ctx, n.ino, name))
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	ctx = detach(ctx)
	if e := n.root.writable(); e != 0 {
		return e
	}
	var replaced uint64 // the file the rename may remove
	if np, ok := newParent.(*node); ok && flags&unix.RENAME_EXCHANGE == 0 {
		replaced = np.hint(newName)
	}
	return n.root.errno("rename", n.root.removing(ctx, replaced, func() error {
		return n.root.m.Rename(ctx, n.ino, name, inoOf(newParent), newName, flags)
	}))
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	ctx = detach(ctx)
	a, err := n.root.m.GetAttr(ctx, n.ino)
	if err != nil {
		return nil, n.root.errno("readlink", err)
	}
	if a.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, syscall.EINVAL
	}
	return []byte(a.Target), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	ctx = detach(ctx)
	st, err := n.root.m.Statfs(ctx)
	if err != nil {
		return n.root.errno("statfs", err)
	}
	// meta reports bytes (capacity, and what is free of it, never
	// negative); the kernel takes blocks.
	bs := uint64(st.BlockSize)
	out.Bsize, out.Frsize = uint32(bs), uint32(bs)
	out.Blocks = st.Capacity / bs
	out.Bfree = min(st.Avail/bs, out.Blocks)
	out.Bavail = out.Bfree
	out.Files, out.Ffree = st.Files, st.FilesFree
	out.NameLen = meta.MaxNameLen
	return 0
}

// capabilityXattr holds a file's capabilities; a write drops it.
const capabilityXattr = "security.capability"

// forgetCap makes the next capability check ask the store. It runs after
// the change it follows has committed (a getxattr that read before the
// commit sees the generation move and keeps nothing).
func (n *node) forgetCap() {
	n.capGen.Add(1)
	n.noCapUntil.Store(0)
}

// xattrNameErrno refuses the names Linux's local filesystems refuse: one
// outside the user, trusted and security namespaces is EOPNOTSUPP, a
// namespace with no name after it EINVAL. system.* holds POSIX ACLs
// (system.posix_acl_access, _default), which HAFS does not implement: it
// refuses them, as a filesystem mounted noacl does, rather than store
// them as inert bytes, so cp -a falls back to chmod. The kernel hands FUSE every name
// unchecked, so without this `setfattr -n foo` would store an attribute
// no other filesystem could hold.
func xattrNameErrno(attr string) syscall.Errno {
	for _, ns := range []string{"user.", "trusted.", "security."} {
		if strings.HasPrefix(attr, ns) {
			if len(attr) == len(ns) {
				return syscall.EINVAL
			}
			return 0
		}
	}
	return syscall.EOPNOTSUPP
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	ctx = detach(ctx)
	if e := xattrNameErrno(attr); e != 0 {
		return 0, e
	}
	// Without FUSE_HANDLE_KILLPRIV the kernel asks for security.capability
	// before every write (to drop it, as a write must): one read
	// transaction per write, 32,768 of them for 1 GiB written 32 KiB at a
	// time. Its absence is kept for as long as the kernel keeps the
	// file's attributes, whose set-id bits the kernel checks on the same
	// write from its cache; an open, and any xattr change by this client,
	// ask again.
	capability := attr == capabilityXattr
	if capability && time.Now().UnixNano() < n.noCapUntil.Load() {
		return 0, syscall.ENODATA
	}
	gen := n.capGen.Load()
	v, err := n.root.m.GetXattr(ctx, n.ino, attr)
	if capability && errors.Is(err, syscall.ENODATA) && n.root.opts.AttrTimeout > 0 {
		n.noCapUntil.Store(time.Now().Add(n.root.opts.AttrTimeout).UnixNano())
		if n.capGen.Load() != gen {
			n.noCapUntil.Store(0) // a forgetCap came meanwhile: what we read may be older
		}
	}
	if err != nil {
		return 0, n.root.errno("getxattr", err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	ctx = detach(ctx)
	if e := xattrNameErrno(attr); e != 0 {
		return e
	}
	if e := n.root.writable(); e != 0 {
		return e
	}
	defer n.forgetCap()
	return n.root.errno("setxattr", n.root.m.SetXattr(ctx, n.ino, attr, data, flags))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	ctx = detach(ctx)
	if e := xattrNameErrno(attr); e != 0 {
		return e
	}
	if e := n.root.writable(); e != 0 {
		return e
	}
	defer n.forgetCap()
	return n.root.errno("removexattr", n.root.m.RemoveXattr(ctx, n.ino, attr))
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	ctx = detach(ctx)
	names, err := n.root.m.ListXattr(ctx, n.ino)
	if err != nil {
		return 0, n.root.errno("listxattr", err)
	}
	var buf []byte
	for _, name := range names {
		buf = append(append(buf, name...), 0)
	}
	if len(dest) < len(buf) {
		return uint32(len(buf)), syscall.ERANGE
	}
	return uint32(copy(dest, buf)), 0
}

// inoOf returns the store inode number of any node of this mount (the root
// is a *Root, every other node a *node).
func inoOf(e gofs.InodeEmbedder) uint64 { return e.EmbeddedInode().StableAttr().Ino }
