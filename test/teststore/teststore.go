// Package teststore gives tests the store they run on, chosen by
// HAFS_TEST_STORE: "sqlite" (the default) is a fresh embedded store in a
// temporary directory; "etcd" is a fresh prefix on a real 3-member etcd
// cluster that the test binary starts once, on first use. Packages whose
// tests take their store from here run the same assertions on both.
package teststore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/test/etcd"
)

// Env names the variable that chooses the store.
const Env = "HAFS_TEST_STORE"

// Kind returns "sqlite" or "etcd".
func Kind() string {
	if os.Getenv(Env) == "etcd" {
		return "etcd"
	}
	return "sqlite"
}

// shared is the etcd cluster of this test binary, started on first use
// and stopped by Main.
var shared struct {
	once    sync.Once
	cluster *etcd.Cluster
	dir     string
	err     error
}

func cluster() (*etcd.Cluster, error) {
	shared.once.Do(func() {
		shared.dir, shared.err = etcd.DataDir()
		if shared.err == nil {
			shared.cluster, shared.err = etcd.StartCluster(3, shared.dir)
		}
	})
	return shared.cluster, shared.err
}

// Main runs the tests and then stops the shared cluster, if one started.
// A package that uses etcd calls it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// URL returns the URL of a fresh, empty store for t.
func URL(t testing.TB) string {
	t.Helper()
	if Kind() == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "meta.db")
	}
	c, err := cluster()
	if err != nil {
		t.Fatalf("%s=etcd: %v", Env, err)
	}
	name := strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	return c.StoreURL(name)
}

// Open opens the store at url for t, creating it when it is an embedded
// one; t closes it.
func Open(t testing.TB, url string) fdbstore.Store {
	t.Helper()
	s, err := storeurl.Open(context.Background(), url, storeurl.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenShared opens n handles on one fresh store, as n processes would.
func OpenShared(t testing.TB, n int) []fdbstore.Store {
	t.Helper()
	url := URL(t)
	out := make([]fdbstore.Store, n)
	for i := range out {
		out[i] = Open(t, url)
	}
	return out
}
