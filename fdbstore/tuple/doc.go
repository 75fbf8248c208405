// Package tuple owns the encoding of HAFS store keys: it packs tuples of
// int64, string and []byte into byte strings whose bytewise order is the
// tuples' element-wise order, so ordered range reads over the store walk
// keys in logical order. The format follows FoundationDB's tuple layer for
// the types it supports, keeping keys readable by FDB tooling.
package tuple
