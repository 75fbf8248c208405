package fdbstore_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/hafs/hafs/fdbstore"
)

// mapTx is a ReadTx over a map, counting Gets.
type mapTx struct {
	m    map[string][]byte
	gets int
}

func (t *mapTx) Get(k []byte) ([]byte, error) {
	t.gets++
	if string(k) == "bad" {
		return nil, errors.New("read failed")
	}
	return t.m[string(k)], nil
}

func (t *mapTx) GetRange([]byte, []byte, fdbstore.RangeOptions) iter.Seq2[fdbstore.KeyValue, error] {
	return func(func(fdbstore.KeyValue, error) bool) {}
}

func (t *mapTx) Snapshot() fdbstore.ReadTx { return t }

// multiTx also reads several keys at once.
type multiTx struct {
	mapTx
	batches int
}

func (t *multiTx) GetMany(keys [][]byte) ([][]byte, error) {
	t.batches++
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = t.m[string(k)]
	}
	return out, nil
}

func TestGetMany(t *testing.T) {
	m := map[string][]byte{"a": []byte("1"), "c": []byte("3")}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	plain := &mapTx{m: m}
	got, err := fdbstore.GetMany(plain, keys)
	if err != nil || string(got[0]) != "1" || got[1] != nil || string(got[2]) != "3" || plain.gets != 3 {
		t.Fatalf("GetMany over Get: %q, %v, %d gets", got, err, plain.gets)
	}
	if _, err := fdbstore.GetMany(plain, [][]byte{[]byte("a"), []byte("bad")}); err == nil {
		t.Fatal("a failed read did not fail GetMany")
	}
	multi := &multiTx{mapTx: mapTx{m: m}}
	got, err = fdbstore.GetMany(multi, keys)
	if err != nil || string(got[2]) != "3" || multi.batches != 1 || multi.gets != 0 {
		t.Fatalf("GetMany over a MultiGetter: %q, %v, %d batches, %d gets", got, err, multi.batches, multi.gets)
	}
}

func TestBackground(t *testing.T) {
	ctx := context.Background()
	if fdbstore.IsBackground(ctx) {
		t.Fatal("a plain context is background")
	}
	if !fdbstore.IsBackground(fdbstore.Background(ctx)) {
		t.Fatal("Background did not mark the context")
	}
}
