package fs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/locks"
)

var (
	_ gofs.NodeGetlker  = (*node)(nil)
	_ gofs.NodeSetlker  = (*node)(nil)
	_ gofs.NodeSetlkwer = (*node)(nil)
)

// fuseLkFlock marks a lock request that came from flock(2), not fcntl(2).
const fuseLkFlock = 1

// offsetMax is the kernel's "to end of file" (OFFSET_MAX).
const offsetMax = math.MaxInt64

// lockReq turns a kernel lock request into a locks.Lock of this client.
func (n *node) lockReq(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) (locks.Lock, syscall.Errno) {
	req := locks.Lock{Owner: locks.Owner{Session: n.root.m.SessionID(), ID: owner}, Pid: lk.Pid,
		Start: lk.Start, End: lk.End, Flock: flags&fuseLkFlock != 0}
	if req.Pid == 0 {
		if c, ok := fuse.FromContext(ctx); ok {
			req.Pid = c.Pid
		}
	}
	if req.End >= offsetMax {
		req.End = math.MaxUint64
	}
	if req.Flock {
		req.Start, req.End = 0, math.MaxUint64
	}
	if req.Start > req.End {
		return req, syscall.EINVAL
	}
	switch lk.Typ {
	case syscall.F_RDLCK:
		req.Kind = locks.Read
	case syscall.F_WRLCK:
		req.Kind = locks.Write
	case syscall.F_UNLCK:
		req.Kind = locks.Unlock
	default:
		return req, syscall.EINVAL
	}
	return req, 0
}

func (n *node) Getlk(ctx context.Context, _ gofs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	ctx = detach(ctx)
	req, e := n.lockReq(ctx, owner, lk, flags)
	if e != 0 {
		return e
	}
	held, found, err := n.root.locks.Test(ctx, n.ino, req)
	if err != nil {
		return n.root.errno("getlk", err)
	}
	if !found {
		*out = *lk
		out.Typ = syscall.F_UNLCK
		return 0
	}
	out.Start, out.End, out.Pid = held.Start, held.End, held.Pid
	if out.End == math.MaxUint64 {
		out.End = offsetMax
	}
	out.Typ = syscall.F_RDLCK
	if held.Kind == locks.Write {
		out.Typ = syscall.F_WRLCK
	}
	if out.Pid == 0 {
		out.Pid = 1 // F_GETLK must name a holder; 0 would read as "no lock"
	}
	return 0
}

func (n *node) Setlk(ctx context.Context, f gofs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	ctx = detach(ctx)
	req, e := n.lockReq(ctx, owner, lk, flags)
	if e != 0 {
		return e
	}
	flockOwnedByHandle(f, &req)
	if e := n.settleForLock(ctx, req); e != 0 {
		return e
	}
	n.noteLock(f, req)
	// Writes made under a lock reach the store before anyone else can
	// take it: flush before every change of lock state.
	if e := n.root.errno("setlk", n.root.data.Flush(ctx, n.ino)); e != 0 {
		return e
	}
	if e := n.root.errno("setlk", n.root.locks.TryLock(ctx, n.ino, req)); e != 0 {
		return e
	}
	n.granted(req)
	return 0
}

// granted drops the kernel's cached pages and attributes of the file once
// a lock is taken: what the previous holder wrote through another client
// must be read from the store, not from this machine's page cache (as NFS
// revalidates on lock).
func (n *node) granted(req locks.Lock) {
	if req.Kind != locks.Unlock {
		n.root.data.Invalidate(n.ino)
		_ = n.NotifyContent(0, 0)
	}
}

// Setlkw waits for the lock. Unlike every other operation it keeps the
// request's cancellation: an interrupted wait must return EINTR.
func (n *node) Setlkw(ctx context.Context, f gofs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	req, e := n.lockReq(ctx, owner, lk, flags)
	if e != 0 {
		return e
	}
	flockOwnedByHandle(f, &req)
	if e := n.settleForLock(detach(ctx), req); e != 0 {
		return e
	}
	n.noteLock(f, req)
	if e := n.root.errno("setlkw", n.root.data.Flush(detach(ctx), n.ino)); e != 0 {
		return e
	}
	err := n.root.locks.Lock(ctx, n.ino, req)
	if errors.Is(err, syscall.EINTR) || ctx.Err() != nil && err != nil {
		return syscall.EINTR
	}
	if e := n.root.errno("setlkw", err); e != 0 {
		return e
	}
	n.granted(req)
	return 0
}

// settleForLock registers the file's deferred opens here before a lock on
// it: a locked file is shared state, which its opens must keep.
func (n *node) settleForLock(ctx context.Context, req locks.Lock) syscall.Errno {
	if req.Kind == locks.Unlock {
		return 0
	}
	return n.root.errno("lock", n.root.settle(ctx, n.ino))
}

// noteLock remembers what close must release: the flock owner of an open
// file, and that POSIX locks may exist on this inode.
// flockOwnedByHandle makes the open file a flock request came through its
// owner. The kernel names a flock's owner by its struct file's address,
// which the next open on this machine may reuse while the old file's
// RELEASE, sent after close without waiting, is still on its way: the
// request would find "its" lock already held and be granted at once, and
// the late release would then drop it, so that another client could take
// the lock while this one's application still held it (two holders, seen
// as lost updates by TestHistoryMutualExclusion). A handle's id is never
// reused, and the release of a handle names its own.
func flockOwnedByHandle(f gofs.FileHandle, req *locks.Lock) {
	if h, ok := f.(*handle); ok && req.Flock {
		req.Owner.ID = h.id
	}
}

func (n *node) noteLock(f gofs.FileHandle, req locks.Lock) {
	if req.Kind == locks.Unlock {
		return
	}
	n.lockUsed.Store(true)
	if req.Flock {
		if h, ok := f.(*handle); ok {
			h.mu.Lock()
			h.flockOwner, h.hasFlock = req.Owner.ID, true
			h.mu.Unlock()
		}
		return
	}
	n.root.mu.Lock()
	n.root.posixLocked[n.ino] = true
	n.root.mu.Unlock()
}

// releasePosix drops the POSIX locks the closing process holds on this
// inode, as close(2) of any descriptor of the file does.
func (n *node) releasePosix(ctx context.Context, everyone bool) syscall.Errno {
	n.root.mu.Lock()
	locked := n.root.posixLocked[n.ino]
	if everyone {
		delete(n.root.posixLocked, n.ino)
	}
	n.root.mu.Unlock()
	if !locked {
		return 0
	}
	session := n.root.m.SessionID()
	if everyone {
		// The last descriptor of this file in this client is closing: no
		// process here can still hold a POSIX lock on it.
		return n.root.errno("release locks", n.root.locks.ReleasePosixSession(ctx, n.ino, session))
	}
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return 0
	}
	return n.root.errno("release locks", n.root.locks.ReleasePid(ctx, n.ino, session, tgid(c.Pid)))
}

// tgid returns the process (thread group) of thread tid. FUSE names the
// caller of a flush by its thread, while a POSIX lock records its process,
// and a multithreaded program may close from any thread. The caller is on
// this machine, so /proc knows it; if it has exited, tid is the best guess.
func tgid(tid uint32) uint32 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if p, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				return uint32(p)
			}
		}
	}
	return tid
}
