//go:build fdb

package storeurl

import (
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/fdbbackend"
)

// fdbBuilt reports that this binary includes the FoundationDB backend.
const fdbBuilt = true

// openFDB opens the FoundationDB store of the cluster file ("" for the
// client's default: FDB_CLUSTER_FILE, else /etc/foundationdb/fdb.cluster).
func openFDB(clusterFile string, opts fdbstore.Options) (fdbstore.Store, error) {
	s, err := fdbbackend.Open(clusterFile, opts)
	if err != nil {
		return nil, err // not a nil *Store inside a non-nil Store
	}
	return s, nil
}
