package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/etcdstore"
	"github.com/hafs/hafs/fdbstore/storetest"
	"github.com/hafs/hafs/test/etcd"
)

// cluster is the 3-member cluster every test of the package shares; each
// store gets a prefix of its own.
var cluster *etcd.Cluster

func TestMain(m *testing.M) {
	dir, err := etcd.DataDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster, err = etcd.StartCluster(3, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdstore tests need a real etcd cluster:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func open(t *testing.T, c *etcd.Cluster) *etcdstore.Store {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	s, err := etcdstore.Open(context.Background(), etcdstore.Config{
		Endpoints: c.Endpoints(), Prefix: "/hafs-test/" + name + "-" + fmt.Sprint(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	// Cases reuse names across runs of the suite ("Plain", "Faults"): start
	// each on an empty prefix.
	if err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.ClearRange(nil, nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fdbstore.Store { return open(t, cluster) })
}
