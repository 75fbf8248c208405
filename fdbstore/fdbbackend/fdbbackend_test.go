//go:build fdb

package fdbbackend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/fdbbackend"
	"github.com/hafs/hafs/fdbstore/storetest"
)

// TestConformance runs the shared suite against the cluster named by
// FDB_CLUSTER_FILE. Each subtest works in a subspace of its own, which it
// clears, so the cluster may be shared: no key outside it is touched.
func TestConformance(t *testing.T) {
	clusterFile := os.Getenv("FDB_CLUSTER_FILE")
	if clusterFile == "" {
		t.Skip("FDB_CLUSTER_FILE is not set: the FoundationDB backend is tested only against a real cluster (not run, not passed)")
	}
	storetest.Run(t, func(t *testing.T) fdbstore.Store {
		var id [8]byte
		_, _ = rand.Read(id[:])
		s, err := fdbbackend.Open(fdbbackend.Config{ClusterFile: clusterFile, Prefix: "test-" + hex.EncodeToString(id[:])})
		if err != nil {
			t.Fatal(err)
		}
		clear := func() error {
			return s.Transact(context.Background(), func(tx fdbstore.Tx) error {
				tx.ClearRange(nil, nil) // the subtest's subspace only
				return nil
			})
		}
		t.Cleanup(func() {
			if err := clear(); err != nil {
				t.Errorf("clear the test's subspace: %v", err)
			}
			s.Close() // the suite closes it too; Close is idempotent
		})
		return s
	})
}
