//go:build fdb

package fdbbackend_test

import (
	"context"
	"os"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/fdbbackend"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// TestConformance runs the shared suite against the cluster named by
// FDB_CLUSTER_FILE. The Store interface has no key prefixes, so each
// subtest starts by clearing the whole user keyspace: the cluster must be a
// scratch cluster, and HAFS_FDB_TEST_SCRATCH=1 says so.
func TestConformance(t *testing.T) {
	clusterFile := os.Getenv("FDB_CLUSTER_FILE")
	if clusterFile == "" {
		t.Skip("FDB_CLUSTER_FILE is not set: the FoundationDB backend is tested only against a real cluster (not run, not passed)")
	}
	if os.Getenv("HAFS_FDB_TEST_SCRATCH") != "1" {
		t.Fatalf("FDB_CLUSTER_FILE=%s is set but HAFS_FDB_TEST_SCRATCH=1 is not: the suite erases every user key of the cluster, so it runs only against a scratch cluster; set HAFS_FDB_TEST_SCRATCH=1 to confirm this one is", clusterFile)
	}
	storetest.Run(t, func(t *testing.T) fdbstore.Store {
		s, err := fdbbackend.Open(clusterFile, fdbstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // the suite closes it too; Close is idempotent
		err = s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			tx.ClearRange(nil, nil) // "" to "\xff": every user key
			return nil
		})
		if err != nil {
			t.Fatalf("clear the scratch cluster: %v", err)
		}
		return s
	})
}
