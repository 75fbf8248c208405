package fs

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hafs/hafs/meta"
)

// CallerOf is the meta.CallerFunc of strict permissions
// (meta.FS.SetStrictPermissions): the uid and gid FUSE gives for the
// request, and the calling process's supplementary groups, which FUSE does
// not give, read from /proc when a check needs them.
func CallerOf(ctx context.Context) (meta.Caller, bool) {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return meta.Caller{}, false
	}
	pid := c.Pid
	return meta.Caller{Uid: c.Uid, Gid: c.Gid, Groups: func() []uint32 { return procGroups(pid) }}, true
}

// procGroups reads the supplementary groups of process pid; none if it is
// gone (the check then uses uid and gid alone, the stricter answer).
func procGroups(pid uint32) []uint32 {
	if pid == 0 {
		return nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(f, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}

// openAccess is what an open with flags asks of the inode, for strict
// permissions' check of it.
func openAccess(flags uint32) uint32 {
	var want uint32
	switch flags & syscall.O_ACCMODE {
	case syscall.O_RDONLY:
		want = meta.MayRead
	case syscall.O_WRONLY:
		want = meta.MayWrite
	case syscall.O_RDWR:
		want = meta.MayRead | meta.MayWrite
	}
	if flags&syscall.O_TRUNC != 0 {
		want |= meta.MayWrite
	}
	return want
}
