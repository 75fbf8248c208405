package routing_test

import (
	"os"
	"testing"

	"github.com/hafs/hafs/test/teststore"
)

// TestMain stops the etcd cluster the tests started when HAFS_TEST_STORE
// is etcd.
func TestMain(m *testing.M) { os.Exit(teststore.Main(m)) }
