package meta

import (
	"context"
	"slices"
	"strings"
	"syscall"
)

// Strict permissions: with the kernel's default_permissions alone, access
// is checked against attributes the kernel cached, so a chmod on one
// client reaches another client's users only when its cache expires
// (--attr-timeout). In strict mode each operation also checks the caller
// against the inode's committed mode and owner, inside the operation's own
// transaction: a chmod committed anywhere holds for every later operation
// everywhere, and one racing with the operation conflicts with it.

// Access bits, as in a mode's rwx triplet.
const (
	MayExec  uint32 = 1
	MayWrite uint32 = 2
	MayRead  uint32 = 4
)

// Caller is who asks for an operation.
type Caller struct {
	Uid, Gid uint32
	// Groups returns the caller's supplementary groups; read only when
	// the owner and group checks did not settle the question.
	Groups func() []uint32
}

// CallerFunc finds the caller of the request ctx belongs to; false for
// work of the client itself (session cleanup, admin tools), which is not
// checked.
type CallerFunc func(ctx context.Context) (Caller, bool)

// SetStrictPermissions turns strict mode on: from then on, the operations
// of callers that callerOf finds are checked in their transactions.
// Call it before the filesystem serves requests.
func (f *FS) SetStrictPermissions(callerOf CallerFunc) { f.callerOf = callerOf }

type accessKey struct{}

// WithAccess tells Open, CheckOpen and OpenByName what the open asks of
// the inode (MayRead, MayWrite): the open flags are the FUSE layer's.
func WithAccess(ctx context.Context, want uint32) context.Context {
	return context.WithValue(ctx, accessKey{}, want)
}

// caller returns the caller to check, or false when nothing is checked.
func (f *FS) caller(ctx context.Context) (Caller, bool) {
	if f.callerOf == nil {
		return Caller{}, false
	}
	return f.callerOf(ctx)
}

// permit checks that the caller of ctx may access a as want asks, as
// Linux's generic_permission does: root may do anything but execute a
// file no one may execute; otherwise the owner's, the group's or the
// others' bits decide, whichever class the caller is in first.
func (f *FS) permit(ctx context.Context, a *Attr, want uint32) error {
	c, ok := f.caller(ctx)
	if !ok || want == 0 {
		return nil
	}
	return c.may(a, want)
}

func (c Caller) may(a *Attr, want uint32) error {
	if c.Uid == 0 {
		if want&MayExec != 0 && !a.IsDir() && a.Mode&0o111 == 0 {
			return syscall.EACCES
		}
		return nil
	}
	var bits uint32
	switch {
	case c.Uid == a.Uid:
		bits = a.Mode >> 6
	case c.inGroup(a.Gid):
		bits = a.Mode >> 3
	default:
		bits = a.Mode
	}
	if bits&7&want != want {
		return syscall.EACCES
	}
	return nil
}

func (c Caller) inGroup(gid uint32) bool {
	if c.Gid == gid {
		return true
	}
	return c.Groups != nil && slices.Contains(c.Groups(), gid)
}

// permitOpen checks an open of a against what WithAccess put in ctx.
func (f *FS) permitOpen(ctx context.Context, a *Attr) error {
	want, _ := ctx.Value(accessKey{}).(uint32)
	return f.permit(ctx, a, want)
}

// permitRemove checks that the caller may remove (or rename away, or
// replace) child from dir: write and search on dir, and with the sticky
// bit only the owner of dir or child (or root).
func (f *FS) permitRemove(ctx context.Context, dir, child *Attr) error {
	c, ok := f.caller(ctx)
	if !ok {
		return nil
	}
	if err := c.may(dir, MayWrite|MayExec); err != nil {
		return err
	}
	if dir.Mode&syscall.S_ISVTX != 0 && c.Uid != 0 && c.Uid != dir.Uid && c.Uid != child.Uid {
		return syscall.EPERM
	}
	return nil
}

// permitSetAttr checks a chmod, chown, truncate or utimes as Linux does:
// chmod and times set to given values by the owner only, chown by root
// only (the owner may change the group to one of its own), truncate and
// times set to now by whoever may write.
func (f *FS) permitSetAttr(ctx context.Context, a *Attr, r SetAttrReq) error {
	c, ok := f.caller(ctx)
	if !ok || c.Uid == 0 {
		return nil
	}
	owner := c.Uid == a.Uid
	if r.Mode != nil && !owner {
		return syscall.EPERM
	}
	if r.Uid != nil && *r.Uid != a.Uid {
		return syscall.EPERM
	}
	if r.Gid != nil && *r.Gid != a.Gid && (!owner || !c.inGroup(*r.Gid)) {
		return syscall.EPERM
	}
	if r.Size != nil {
		if err := c.may(a, MayWrite); err != nil {
			return err
		}
	}
	if (r.Atime != nil || r.Mtime != nil) && !owner {
		// Setting times to now is allowed to writers; FUSE does not tell
		// now from a given time here, so a writer is let through and the
		// kernel's own check (default_permissions) refuses given times.
		if err := c.may(a, MayWrite); err != nil {
			return syscall.EPERM
		}
	}
	return nil
}

// permitRename checks a rename of src from p to np (replacing dst, if
// any): src may be removed from p, dst from np or, with no dst, a name
// added to np; a directory moved to another parent needs write on itself
// too (its ".." changes).
func (f *FS) permitRename(ctx context.Context, p, np, src, dst *Attr, moved bool) error {
	if _, ok := f.caller(ctx); !ok {
		return nil
	}
	if err := f.permitRemove(ctx, p, src); err != nil {
		return err
	}
	if dst != nil {
		if err := f.permitRemove(ctx, np, dst); err != nil {
			return err
		}
	} else if err := f.permit(ctx, np, MayWrite|MayExec); err != nil {
		return err
	}
	if moved && src.IsDir() {
		return f.permit(ctx, src, MayWrite)
	}
	return nil
}

// permitXattr checks access to extended attribute name of a as Linux
// does: user.* attributes by the file's read or write permission, trusted.*
// by root only; security.* is left to the kernel's own checks.
func (f *FS) permitXattr(ctx context.Context, a *Attr, name string, want uint32) error {
	c, ok := f.caller(ctx)
	switch {
	case !ok:
		return nil
	case strings.HasPrefix(name, "user."):
		return c.may(a, want)
	case strings.HasPrefix(name, "trusted.") && c.Uid != 0:
		return syscall.EPERM
	}
	return nil
}
