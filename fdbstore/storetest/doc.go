// Package storetest is the conformance suite every fdbstore backend must
// pass: key order, range reads, read-your-writes, isolation, atomic add,
// clears, FoundationDB's size limits, watches and cancellation. Backends
// call Run from their own tests with a constructor for empty stores; Run
// runs the suite on those stores and again with each one wrapped by
// faultstore, so every backend's retry paths are exercised too.
package storetest
