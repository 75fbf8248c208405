package sqlitestore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// TestFullSeenByOtherProcesses: a refusal for a full disk in one process
// is reported by Full in every other process sharing the store (hafs
// status while a mount fills the disk), until a growing commit goes
// through.
func TestFullSeenByOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	ctx := context.Background()
	mount, status := openAt(t, path), openAt(t, path)
	if full, why := status.Full(); full {
		t.Fatalf("fresh store reported full: %s", why)
	}
	mount.NoteFull(time.Now().UnixNano())
	if full, why := status.Full(); !full || !strings.Contains(why, "refused a commit") {
		t.Fatalf("after a refusal in another process: full %v (%s), want full saying a commit was refused", full, why)
	}
	err := mount.Transact(fdbstore.Growing(ctx), func(tx fdbstore.Tx) error {
		tx.Set([]byte("room"), []byte("again"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if full, why := status.Full(); full {
		t.Fatalf("after a growing commit went through: still full (%s)", why)
	}
}
