package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
)

// watchKey sets a watch on k in a committed transaction.
func watchKey(t *testing.T, s fdbstore.Store, k string) fdbstore.Watch {
	t.Helper()
	var w fdbstore.Watch
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		if w != nil {
			w.Cancel()
		}
		w = tx.Watch(key(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func fired(w fdbstore.Watch) bool {
	select {
	case <-w.Done():
		return true
	default:
		return false
	}
}

func testWatch(t *testing.T, s fdbstore.Store) {
	set(t, s, "w", "1")
	w := watchKey(t, s, "w")
	defer w.Cancel()
	set(t, s, "other", "x")
	// A negative check needs a bounded wait: nothing can signal "did not
	// fire". The positive case below waits on the watch itself.
	select {
	case <-w.Done():
		t.Fatalf("watch fired on a change to another key (err %v)", w.Err())
	case <-time.After(100 * time.Millisecond):
	}
	set(t, s, "w", "2")
	select {
	case <-w.Done():
		if err := w.Err(); err != nil {
			t.Fatalf("watch fired with error %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not fire after the key changed")
	}
	// A watch on an absent key fires when it is created.
	w2 := watchKey(t, s, "absent")
	defer w2.Cancel()
	if fired(w2) {
		t.Fatal("watch on an absent key fired before any change")
	}
	set(t, s, "absent", "now")
	select {
	case <-w2.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("watch on an absent key did not fire when it was created")
	}
}

func testWatchCancel(t *testing.T, s fdbstore.Store) {
	w := watchKey(t, s, "c")
	w.Cancel()
	select {
	case <-w.Done():
		if w.Err() == nil {
			t.Fatal("cancelled watch reports a change")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled watch never finished")
	}
}

func testWatchUncommitted(t *testing.T, s fdbstore.Store) {
	var w fdbstore.Watch
	boom := errors.New("boom")
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		w = tx.Watch(key("u"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
		if w.Err() == nil {
			t.Fatal("watch of a failed transaction reports a change")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch of a failed transaction never finished")
	}
}
