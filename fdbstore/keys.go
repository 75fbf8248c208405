package fdbstore

import (
	"bytes"
	"iter"
)

// PrefixEnd returns the first key after every key that starts with prefix,
// so [prefix, PrefixEnd(prefix)) covers exactly the keys with that prefix.
// It returns nil for an empty or all-0xff prefix, meaning "end of keyspace";
// backends treat a nil end as unbounded.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Collect reads a whole range into a slice.
func Collect(seq iter.Seq2[KeyValue, error]) ([]KeyValue, error) {
	var out []KeyValue
	for kv, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, kv)
	}
	return out, nil
}
