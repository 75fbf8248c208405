package fs

import (
	"testing"

	"github.com/hafs/hafs/locks"
)

// TestFlockOwnedByHandle: two opens whose flocks the kernel names by the
// same owner (a struct file address reused after close) are two owners,
// and a POSIX lock keeps the kernel's owner.
func TestFlockOwnedByHandle(t *testing.T) {
	r := &Root{}
	a := &handle{id: r.handles.Add(1)}
	b := &handle{id: r.handles.Add(1)}
	const kernelOwner = 0xdeadbeef
	reqA := locks.Lock{Owner: locks.Owner{Session: "s", ID: kernelOwner}, Flock: true, Kind: locks.Write}
	reqB := reqA
	flockOwnedByHandle(a, &reqA)
	flockOwnedByHandle(b, &reqB)
	if reqA.Owner == reqB.Owner {
		t.Fatalf("flocks through two open files have one owner %+v: a late release of one drops the other's lock", reqA.Owner)
	}
	posix := locks.Lock{Owner: locks.Owner{Session: "s", ID: kernelOwner}, Kind: locks.Write}
	flockOwnedByHandle(a, &posix)
	if posix.Owner.ID != kernelOwner {
		t.Errorf("a POSIX lock's owner became %d; it is the kernel's (the process's files)", posix.Owner.ID)
	}
}
