package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// testGetMany checks reads of several keys at once (fdbstore.GetMany,
// batched where the store can): values in order, absent keys nil, the
// transaction's own writes seen, and a key read this way conflicts as a
// Get does when another transaction changes it before the commit.
func testGetMany(t *testing.T, s fdbstore.Store) {
	ctx := context.Background()
	set(t, s, "m/a", "1", "m/c", "3", "m/x", "old")
	keys := [][]byte{key("m/a"), key("m/b"), key("m/c"), key("m/d")}
	err := s.Transact(ctx, func(tx fdbstore.Tx) error {
		tx.Set(key("m/b"), []byte("2"))
		tx.Clear(key("m/c"))
		vs, err := fdbstore.GetMany(tx, keys)
		if err != nil {
			return err
		}
		if got := fmt.Sprintf("%q", vs); got != `["1" "2" "" ""]` || vs[2] != nil || vs[3] != nil {
			return fmt.Errorf("GetMany in a transaction = %s (nil: %v %v), want [1 2 nil nil]", got, vs[2] == nil, vs[3] == nil)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error {
		vs, err := fdbstore.GetMany(tx.Snapshot(), keys)
		if err == nil && fmt.Sprintf("%q", vs) != `["1" "2" "" ""]` {
			err = fmt.Errorf("GetMany in a snapshot = %q, want [1 2 nil nil]", vs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	getManyConflict(t, s)
}

// getManyConflict runs two transactions that serialize only one way or
// the other, as phantom does. T1 reads m/x with GetMany and copies it to
// m/copy; T2, run while T1 holds its read uncommitted, reads m/copy into
// m/t2saw and sets m/x. T1 then T2 leaves copy "old", t2saw "old"; T2
// then T1 leaves t2saw empty, copy "new". A store that missed the
// conflict on a key GetMany read leaves copy "old" and t2saw empty.
func getManyConflict(t *testing.T, s fdbstore.Store) {
	ctx := context.Background()
	read := make(chan struct{})
	t2done := make(chan error, 1)
	go func() {
		<-read
		t2done <- s.Transact(ctx, func(tx fdbstore.Tx) error {
			v, err := tx.Get(key("m/copy"))
			tx.Set(key("m/t2saw"), v)
			tx.Set(key("m/x"), []byte("new"))
			return err
		})
	}()
	first := true
	err := s.Transact(ctx, func(tx fdbstore.Tx) error {
		vs, err := fdbstore.GetMany(tx, [][]byte{key("m/a"), key("m/x")})
		if err != nil {
			return err
		}
		if first {
			first = false
			close(read)
			// A store that serializes writers makes T2 wait for this one.
			select {
			case err := <-t2done:
				t2done <- err
			case <-time.After(500 * time.Millisecond):
			}
		}
		tx.Set(key("m/copy"), vs[1])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-t2done; err != nil {
		t.Fatal(err)
	}
	c, saw := string(Get(t, s, "m/copy")), string(Get(t, s, "m/t2saw"))
	if !(c == "old" && saw == "old") && !(c == "new" && saw == "") {
		t.Fatalf("copy = %q, t2saw = %q: not serializable (want old, old or new, empty)", c, saw)
	}
}
