package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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

// prefixOf is the key prefix of t's store.
func prefixOf(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return "/hafs-test/" + name + "-" + fmt.Sprint(os.Getpid())
}

func open(t testing.TB, c *etcd.Cluster) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: c.Endpoints(), Prefix: prefixOf(t)})
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

// withStore runs a shared store benchmark on a fresh prefix of the cluster.
func withStore(b *testing.B, bench func(*testing.B, fdbstore.Store)) {
	s := open(b, cluster)
	defer s.Close()
	bench(b, s)
}

func BenchmarkSingleKeyCommit(b *testing.B)    { withStore(b, storetest.BenchSingleKeyCommit) }
func BenchmarkCreateSizedCommit(b *testing.B)  { withStore(b, storetest.BenchCreateSizedCommit) }
func BenchmarkRangeRead1000(b *testing.B)      { withStore(b, storetest.BenchRangeRead1000) }
func BenchmarkConcurrentWriters8(b *testing.B) { withStore(b, storetest.BenchConcurrentWriters8) }

// BenchmarkWatchLatency measures a watch's wake-up after another client's
// commit, through two connections to the cluster.
func BenchmarkWatchLatency(b *testing.B) {
	s1 := open(b, cluster)
	defer s1.Close()
	s2, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefixOf(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s2.Close()
	storetest.BenchWatchLatency(b, s1, s2)
}

// TestOpenRefusals: a cluster that cannot take the transactions the store
// would send, or no cluster at all, is refused at Open with one line.
func TestOpenRefusals(t *testing.T) {
	ctx := context.Background()
	_, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefixOf(t), MaxTxnOps: 1000})
	if err == nil || !strings.Contains(err.Error(), "--max-txn-ops") || strings.Contains(err.Error(), "\n") {
		t.Errorf("open with more ops than the server allows: %v", err)
	}
	t0 := time.Now()
	_, err = etcdstore.Open(ctx, etcdstore.Config{Endpoints: []string{"127.0.0.1:1"}, Prefix: "/x", DialTimeout: time.Second})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("open of a cluster that is not there: %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("open of a cluster that is not there took %s", d)
	}
}
