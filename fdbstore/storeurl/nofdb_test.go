//go:build !fdb

package storeurl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hafs/hafs/fdbstore/storeurl"
)

// TestOpenWithoutFDB checks the one-line refusal of an fdb URL by a build
// without FoundationDB. A build with it (-tags fdb) may well open the
// cluster file, so the check is for this build only.
func TestOpenWithoutFDB(t *testing.T) {
	_, err := storeurl.Open(context.Background(), "fdb:///etc/foundationdb/fdb.cluster", storeurl.Options{})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("fdb URL in a build without FoundationDB: err = %v", err)
	}
}
