package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
)

// Opener returns a new, empty store for one subtest. The suite closes it.
type Opener func(t *testing.T) fdbstore.Store

// faultRate is the fraction of transaction attempts that fail with an
// injected conflict in the "Faults" run.
const faultRate = 0.2

// Run runs the whole conformance suite against the stores open returns,
// twice: as subtest "Plain" on the stores themselves, and as subtest
// "Faults" on the same stores wrapped by faultstore, so that every backend
// exercises its retry paths (rollback of the failed attempt, re-running
// the function, watches of attempts that did not commit).
//
// Every case runs in both: each assertion is about what a committed
// transaction leaves behind, which injected retries must not change. The
// cases that count attempts allow for them: RetryOnConflict accepts extra
// runs, and the counted functions of ErrorRollsBack and ContextCancel
// return an error themselves, which faultstore passes on without injecting
// (it injects only into attempts whose function succeeded).
func Run(t *testing.T, open Opener) {
	t.Run("Plain", func(t *testing.T) { RunCases(t, open) })
	t.Run("Faults", func(t *testing.T) {
		var wrapped []*faultstore.Store // the cases run one at a time
		RunCases(t, func(t *testing.T) fdbstore.Store {
			f := faultstore.Wrap(open(t), faultRate, uint64(len(wrapped)+1))
			wrapped = append(wrapped, f)
			return f
		})
		var injected int64
		for _, f := range wrapped {
			injected += f.Injected()
		}
		if injected == 0 && !t.Failed() {
			t.Fatal("fault injection never fired: the retry paths were not exercised")
		}
		t.Logf("%d conflicts injected", injected)
	})
}

func RunCases(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, fdbstore.Store)
	}{
		{"KeyOrder", testKeyOrder},
		{"RangePaging", testRangePaging},
		{"RangeBounds", testRangeBounds},
		{"ReadYourWrites", testReadYourWrites},
		{"GetMany", testGetMany},
		{"EmptyValue", testEmptyValue},
		{"Isolation", testIsolation},
		{"PhantomDelete", testPhantomDelete},
		{"PhantomInsert", testPhantomInsert},
		{"AtomicAdd", testAtomicAdd},
		{"ClearRange", testClearRange},
		{"Limits", testLimits},
		{"ErrorRollsBack", testErrorRollsBack},
		{"RetryOnConflict", testRetryOnConflict},
		{"Snapshot", testSnapshot},
		{"Watch", testWatch},
		{"WatchCancel", testWatchCancel},
		{"WatchUncommitted", testWatchUncommitted},
		{"ContextCancel", testContextCancel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

func key(s string) []byte { return []byte(s) }

func set(t *testing.T, s fdbstore.Store, kvs ...string) {
	t.Helper()
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			tx.Set(key(kvs[i]), []byte(kvs[i+1]))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("set: %v", err)
	}
}

// Get reads key k in a read-only transaction of its own, failing t on an
// error.
func Get(t testing.TB, s fdbstore.Store, k string) []byte {
	t.Helper()
	var v []byte
	err := s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
		var err error
		v, err = tx.Get(key(k))
		return err
	})
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	return v
}

func readRange(t *testing.T, s fdbstore.Store, begin, end []byte, opts fdbstore.RangeOptions) []string {
	t.Helper()
	var out []string
	err := s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
		out = out[:0]
		kvs, err := fdbstore.Collect(tx.GetRange(begin, end, opts))
		for _, kv := range kvs {
			out = append(out, string(kv.Key))
		}
		return err
	})
	if err != nil {
		t.Fatalf("range [%q, %q): %v", begin, end, err)
	}
	return out
}

func testKeyOrder(t *testing.T, s fdbstore.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	seen := map[string]bool{}
	for len(want) < 500 {
		k := make([]byte, 1+rng.IntN(12))
		for i := range k {
			k[i] = byte(rng.IntN(0xff)) // below 0xff: the user keyspace
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			want = append(want, string(k))
		}
	}
	batch := fdbstore.LimitsOf(s).Batch(len(want), 1, 0)
	for lo := 0; lo < len(want); lo += batch {
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			for _, k := range want[lo:min(lo+batch, len(want))] {
				tx.Set([]byte(k), []byte(k))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	got := readRange(t, s, nil, nil, fdbstore.RangeOptions{})
	if !slices.Equal(got, want) {
		t.Fatalf("keys not in bytewise order: got %d keys, first mismatch at %d", len(got), firstDiff(got, want))
	}
	rev := readRange(t, s, nil, nil, fdbstore.RangeOptions{Reverse: true})
	slices.Reverse(want)
	if !slices.Equal(rev, want) {
		t.Fatalf("reverse order wrong at %d", firstDiff(rev, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func pagingKey(i int) []byte { return fmt.Appendf(nil, "p/%06d", i) }

func testRangePaging(t *testing.T, s fdbstore.Store) {
	const n = 20_000
	batch := fdbstore.LimitsOf(s).Batch(5000, 1, 0)
	for lo := 0; lo < n; lo += batch {
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				tx.Set(pagingKey(i), []byte{byte(i)})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	begin, end := key("p/"), fdbstore.PrefixEnd(key("p/"))
	cases := []struct {
		name       string
		opts       fdbstore.RangeOptions
		first, num int
		step       int
	}{
		{"all", fdbstore.RangeOptions{}, 0, n, 1},
		{"all-reverse", fdbstore.RangeOptions{Reverse: true}, n - 1, n, -1},
		{"limit-1", fdbstore.RangeOptions{Limit: 1}, 0, 1, 1},
		{"limit-7000", fdbstore.RangeOptions{Limit: 7000}, 0, 7000, 1},
		{"limit-7000-reverse", fdbstore.RangeOptions{Limit: 7000, Reverse: true}, n - 1, 7000, -1},
		{"limit-above-count", fdbstore.RangeOptions{Limit: n + 10}, 0, n, 1},
	}
	for _, tc := range cases {
		got := readRange(t, s, begin, end, tc.opts)
		if len(got) != tc.num {
			t.Fatalf("%s: got %d keys, want %d", tc.name, len(got), tc.num)
		}
		for j, k := range got {
			if want := string(pagingKey(tc.first + j*tc.step)); k != want {
				t.Fatalf("%s: key %d is %q, want %q", tc.name, j, k, want)
			}
		}
	}
	// Stopping early must not read or fail past the stop.
	err := s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
		n := 0
		for _, err := range tx.GetRange(begin, end, fdbstore.RangeOptions{}) {
			if err != nil {
				return err
			}
			if n++; n == 100 {
				break
			}
		}
		if n != 100 {
			return fmt.Errorf("stopped after %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRangeBounds(t *testing.T, s fdbstore.Store) {
	set(t, s, "a", "1", "b", "2", "b\x00", "3", "c", "4", "d", "5")
	cases := []struct {
		begin, end string
		opts       fdbstore.RangeOptions
		want       []string
	}{
		{"b", "d", fdbstore.RangeOptions{}, []string{"b", "b\x00", "c"}},
		{"b", "d", fdbstore.RangeOptions{Reverse: true}, []string{"c", "b\x00", "b"}},
		{"b", "d", fdbstore.RangeOptions{Reverse: true, Limit: 2}, []string{"c", "b\x00"}},
		{"b\x00", "b\x01", fdbstore.RangeOptions{}, []string{"b\x00"}},
		{"c", "c", fdbstore.RangeOptions{}, nil},
		{"d", "a", fdbstore.RangeOptions{}, nil},
		{"", "b", fdbstore.RangeOptions{}, []string{"a"}},
	}
	for _, tc := range cases {
		got := readRange(t, s, key(tc.begin), key(tc.end), tc.opts)
		if !slices.Equal(got, tc.want) {
			t.Errorf("range [%q, %q) %+v = %q, want %q", tc.begin, tc.end, tc.opts, got, tc.want)
		}
	}
	if got := readRange(t, s, key("c"), nil, fdbstore.RangeOptions{}); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("range [c, end of keyspace) = %q", got)
	}
}

func testReadYourWrites(t *testing.T, s fdbstore.Store) {
	set(t, s, "k1", "old", "k2", "gone", "r/1", "x", "r/3", "x")
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.Set(key("k1"), []byte("new"))
		tx.Clear(key("k2"))
		tx.Set(key("r/2"), []byte("y"))
		tx.Clear(key("r/3"))
		if v, err := tx.Get(key("k1")); err != nil || string(v) != "new" {
			return fmt.Errorf("get after set = %q, %v", v, err)
		}
		if v, err := tx.Get(key("k2")); err != nil || v != nil {
			return fmt.Errorf("get after clear = %q, %v", v, err)
		}
		kvs, err := fdbstore.Collect(tx.GetRange(key("r/"), key("r0"), fdbstore.RangeOptions{}))
		if err != nil {
			return err
		}
		if len(kvs) != 2 || string(kvs[0].Key) != "r/1" || string(kvs[1].Key) != "r/2" {
			return fmt.Errorf("range after writes = %v", kvs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := Get(t, s, "k1"); string(v) != "new" {
		t.Fatalf("k1 after commit = %q", v)
	}
}

func testEmptyValue(t *testing.T, s fdbstore.Store) {
	set(t, s, "empty", "")
	if v := Get(t, s, "empty"); v == nil || len(v) != 0 {
		t.Fatalf("empty value read as %#v, want a non-nil empty slice", v)
	}
	if v := Get(t, s, "absent"); v != nil {
		t.Fatalf("absent key read as %#v, want nil", v)
	}
	// A nil value written is present and empty, in its own transaction too.
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.Set(key("nil"), nil)
		if v, err := tx.Get(key("nil")); err != nil || v == nil {
			return fmt.Errorf("Set(k, nil) then Get in the same transaction: %#v, %v; want present and empty", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := Get(t, s, "nil"); v == nil || len(v) != 0 {
		t.Fatalf("Set(k, nil) read as %#v, want a non-nil empty slice", v)
	}
}

func le(v []byte) int64 {
	var b [8]byte
	copy(b[:], v)
	return int64(binary.LittleEndian.Uint64(b[:]))
}

func testAtomicAdd(t *testing.T, s fdbstore.Store) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
					tx.Add(key("add"), 3)
					tx.Add(key("add"), -1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	v := Get(t, s, "add")
	if len(v) != 8 || le(v) != 200 {
		t.Fatalf("add result %x (%d), want 8 bytes little-endian 200", v, le(v))
	}
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.Add(key("neg"), -5)
		v, err := tx.Get(key("neg"))
		if err != nil {
			return err
		}
		if le(v) != -5 {
			return fmt.Errorf("add then get in one transaction = %d", le(v))
		}
		// A shorter value is read as its little-endian bytes, zero-padded.
		tx.Set(key("short"), []byte{1, 1})
		tx.Add(key("short"), 2)
		if v, err = tx.Get(key("short")); err != nil {
			return err
		}
		if len(v) != 8 || le(v) != 0x103 {
			return fmt.Errorf("add 2 to the 2-byte value 0x0101 = %x, want 8 bytes 0x103", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testClearRange(t *testing.T, s fdbstore.Store) {
	set(t, s, "a", "", "b/1", "", "b/2", "", "b/3", "", "c", "")
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.ClearRange(key("b/"), fdbstore.PrefixEnd(key("b/")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, nil, nil, fdbstore.RangeOptions{}); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after ClearRange: %q", got)
	}
	err = s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.ClearRange(nil, nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, nil, nil, fdbstore.RangeOptions{}); len(got) != 0 {
		t.Fatalf("after clearing everything: %q", got)
	}
}

func testLimits(t *testing.T, s fdbstore.Store) {
	big := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	cases := []struct {
		name string
		fn   func(tx fdbstore.Tx)
		want error
	}{
		{"key at limit", func(tx fdbstore.Tx) { tx.Set(big(fdbstore.MaxKeySize), nil) }, nil},
		{"key over limit", func(tx fdbstore.Tx) { tx.Set(big(fdbstore.MaxKeySize+1), nil) }, fdbstore.ErrKeyTooLarge},
		{"clear key over limit", func(tx fdbstore.Tx) { tx.Clear(big(fdbstore.MaxKeySize + 1)) }, fdbstore.ErrKeyTooLarge},
		{"value at limit", func(tx fdbstore.Tx) { tx.Set(key("v"), big(fdbstore.MaxValueSize)) }, nil},
		{"value over limit", func(tx fdbstore.Tx) { tx.Set(key("v2"), big(fdbstore.MaxValueSize+1)) }, fdbstore.ErrValueTooLarge},
		{"transaction over limit", func(tx fdbstore.Tx) {
			v := big(fdbstore.MaxValueSize - 100)
			for i := range fdbstore.MaxTxWriteBytes/len(v) + 1 {
				tx.Set(fmt.Appendf(nil, "t/%04d", i), v)
			}
		}, fdbstore.ErrTxTooLarge},
	}
	for _, tc := range cases {
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			tx.Set(key("marker/"+tc.name), nil)
			tc.fn(tx)
			return nil
		})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		committed := Get(t, s, "marker/"+tc.name) != nil
		if committed != (tc.want == nil) {
			t.Errorf("%s: committed = %v with err %v", tc.name, committed, err)
		}
	}
	if n := len(readRange(t, s, key("t/"), key("t0"), fdbstore.RangeOptions{})); n != 0 {
		t.Errorf("%d keys of an oversized transaction were committed", n)
	}
}

func testErrorRollsBack(t *testing.T, s fdbstore.Store) {
	boom := errors.New("boom")
	runs := 0
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		runs++
		tx.Set(key("never"), []byte("x"))
		return boom
	})
	if !errors.Is(err, boom) || runs != 1 {
		t.Fatalf("err = %v after %d runs, want boom after 1", err, runs)
	}
	if v := Get(t, s, "never"); v != nil {
		t.Fatalf("write of a failed transaction is visible: %q", v)
	}
}

func testSnapshot(t *testing.T, s fdbstore.Store) {
	set(t, s, "snap", "v")
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.Set(key("snap2"), []byte("w"))
		v, err := tx.Snapshot().Get(key("snap"))
		if err != nil || string(v) != "v" {
			return fmt.Errorf("snapshot get = %q, %v", v, err)
		}
		kvs, err := fdbstore.Collect(tx.Snapshot().GetRange(key("snap"), key("snaq"), fdbstore.RangeOptions{}))
		if err != nil || len(kvs) == 0 {
			return fmt.Errorf("snapshot range = %v, %v", kvs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testContextCancel(t *testing.T, s fdbstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Transact(ctx, func(tx fdbstore.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled context: err = %v, ran = %v", err, ran)
	}
	err = s.ReadTransact(ctx, func(tx fdbstore.ReadTx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled context (read): err = %v, ran = %v", err, ran)
	}
	// Cancelled while running: nothing commits.
	ctx, cancel = context.WithCancel(context.Background())
	err = s.Transact(ctx, func(tx fdbstore.Tx) error {
		tx.Set(key("cancelled"), []byte("x"))
		cancel()
		_, err := tx.Get(key("cancelled"))
		if err != nil {
			return err
		}
		return ctx.Err()
	})
	if err == nil {
		t.Fatal("transaction cancelled mid-run reported success")
	}
	if v := Get(t, s, "cancelled"); v != nil {
		t.Fatalf("write of a cancelled transaction committed: %q", v)
	}
	// Retries stop at the deadline.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = s.Transact(ctx, func(tx fdbstore.Tx) error { return fdbstore.ErrConflict })
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, fdbstore.ErrTimeout) {
		t.Fatalf("endless conflicts under a deadline: err = %v", err)
	}
}
