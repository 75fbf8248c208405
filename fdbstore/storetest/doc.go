// Package storetest is the conformance suite every fdbstore backend must
// pass: key order, range reads, read-your-writes, isolation, atomic add,
// clears, FoundationDB's size limits, watches and cancellation. Backends
// call Run from their own tests with a constructor for empty stores.
package storetest
