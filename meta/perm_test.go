package meta

import (
	"context"
	"errors"
	"syscall"
	"testing"
)

// TestCallerMay: the mode-bit rules of Linux's generic_permission.
func TestCallerMay(t *testing.T) {
	file := &Attr{Mode: syscall.S_IFREG | 0o640, Uid: 10, Gid: 20}
	dir := &Attr{Mode: syscall.S_IFDIR | 0o750, Uid: 10, Gid: 20}
	for _, c := range []struct {
		who  Caller
		a    *Attr
		want uint32
		err  error
	}{
		{Caller{Uid: 10, Gid: 99}, file, MayRead | MayWrite, nil},
		{Caller{Uid: 10, Gid: 20}, file, MayExec, syscall.EACCES}, // the owner's bits decide, not the group's
		{Caller{Uid: 11, Gid: 20}, file, MayRead, nil},
		{Caller{Uid: 11, Gid: 20}, file, MayWrite, syscall.EACCES},
		{Caller{Uid: 11, Gid: 5, Groups: func() []uint32 { return []uint32{7, 20} }}, file, MayRead, nil},
		{Caller{Uid: 11, Gid: 5}, file, MayRead, syscall.EACCES},
		{Caller{Uid: 0, Gid: 0}, file, MayRead | MayWrite, nil},
		{Caller{Uid: 0, Gid: 0}, file, MayExec, syscall.EACCES}, // root executes only what someone may
		{Caller{Uid: 0, Gid: 0}, dir, MayExec | MayWrite, nil},
		{Caller{Uid: 12, Gid: 20}, dir, MayExec, nil},
		{Caller{Uid: 12, Gid: 21}, dir, MayExec, syscall.EACCES},
	} {
		if err := c.who.may(c.a, c.want); !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("%+v on mode %o owner %d:%d wanting %o: %v, want %v", c.who, c.a.Mode, c.a.Uid, c.a.Gid, c.want, err, c.err)
		}
	}
}

// TestPermitSetAttr: chmod by the owner only, chown by root only, the
// group by an owner who is in it, truncate by a writer; nothing is
// checked without strict mode.
func TestPermitSetAttr(t *testing.T) {
	a := &Attr{Mode: syscall.S_IFREG | 0o664, Uid: 10, Gid: 20}
	mode, uid, gid, gid2, size := uint32(0o600), uint32(11), uint32(20), uint32(30), uint64(0)
	f := &FS{}
	as := func(c Caller) context.Context { return context.WithValue(context.Background(), testCallerKey{}, c) }
	if err := f.permitSetAttr(as(Caller{Uid: 11}), a, SetAttrReq{Mode: &mode}); err != nil {
		t.Errorf("without strict mode: %v", err)
	}
	f.SetStrictPermissions(func(ctx context.Context) (Caller, bool) {
		c, ok := ctx.Value(testCallerKey{}).(Caller)
		return c, ok
	})
	owner, member, other := Caller{Uid: 10, Gid: 1}, Caller{Uid: 12, Gid: 20}, Caller{Uid: 13, Gid: 13}
	for _, c := range []struct {
		who Caller
		r   SetAttrReq
		err error
	}{
		{owner, SetAttrReq{Mode: &mode}, nil},
		{member, SetAttrReq{Mode: &mode}, syscall.EPERM},
		{owner, SetAttrReq{Uid: &uid}, syscall.EPERM},
		{Caller{}, SetAttrReq{Uid: &uid}, nil},
		{Caller{Uid: 10, Gid: 30}, SetAttrReq{Gid: &gid2}, nil},
		{owner, SetAttrReq{Gid: &gid2}, syscall.EPERM},
		{owner, SetAttrReq{Gid: &gid}, nil}, // unchanged
		{member, SetAttrReq{Size: &size}, nil},
		{other, SetAttrReq{Size: &size}, syscall.EACCES},
	} {
		if err := f.permitSetAttr(as(c.who), a, c.r); !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("%+v setattr %+v: %v, want %v", c.who, c.r, err, c.err)
		}
	}
}

type testCallerKey struct{}
