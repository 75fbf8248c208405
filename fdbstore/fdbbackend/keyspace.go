package fdbbackend

import (
	"bytes"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/tuple"
)

// systemKeys is where FoundationDB's own keys begin; user keys sort below.
var systemKeys = []byte{0xff}

// keyspace maps the Store's keys into one filesystem's subspace of the
// cluster, so that several filesystems (and test runs) share a cluster
// and none can read, clear or watch another's keys.
type keyspace struct {
	prefix []byte // "" is the whole user keyspace
	end    []byte // first key after the subspace
}

// newKeyspace returns the subspace of name: the tuple ("hafs", name), as
// a FoundationDB subspace is packed, so no name's keys are a prefix of
// another's. An empty name is the whole user keyspace.
func newKeyspace(name string) keyspace {
	if name == "" {
		return keyspace{end: systemKeys}
	}
	p := tuple.Pack("hafs", name)
	return keyspace{prefix: p, end: fdbstore.PrefixEnd(p)}
}

// key returns k in the subspace.
func (s keyspace) key(k []byte) []byte {
	return append(append(make([]byte, 0, len(s.prefix)+len(k)), s.prefix...), k...)
}

// rangeEnd returns the end of a range inside the subspace: nil is the
// subspace's end, and no end passes it (in the whole keyspace, the system
// keys would fail with key_outside_legal_range).
func (s keyspace) rangeEnd(end []byte) []byte {
	if end == nil {
		return s.end
	}
	k := s.key(end)
	if bytes.Compare(k, s.end) > 0 {
		return s.end
	}
	return k
}

// strip returns a key read from the cluster as the Store's caller wrote it.
func (s keyspace) strip(k []byte) []byte { return k[len(s.prefix):] }
