//go:build fdb

package storeurl

import (
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/fdbbackend"
	"github.com/hafs/hafs/fdbstore/settle"
)

// fdbBuilt reports that this binary includes the FoundationDB backend.
const fdbBuilt = true

// openFDB opens the FoundationDB store of spec's cluster file ("" for the
// client's default: FDB_CLUSTER_FILE, else /etc/foundationdb/fdb.cluster)
// and subspace. Its commits are settled: the backend reports
// commit_unknown_result as fdbstore.ErrMaybeCommitted, and settle learns
// whether such a commit landed instead of re-running it.
func openFDB(spec Spec, opts fdbstore.Options) (fdbstore.Store, error) {
	s, err := fdbbackend.Open(fdbbackend.Config{ClusterFile: spec.Path, Prefix: spec.Prefix, Options: opts})
	if err != nil {
		return nil, err // not a nil *Store inside a non-nil Store
	}
	return settle.Wrap(s), nil
}
