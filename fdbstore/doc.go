// Package fdbstore defines the ordered, transactional key-value store that
// holds all HAFS metadata, with FoundationDB's semantics as the contract.
//
// The package owns only the interface, its errors and its limits. Backends
// live in sub-packages (sqlitestore, the embedded default; fdbbackend, built
// with the "fdb" tag), the conformance suite every backend must pass lives in
// storetest, and storeurl turns a store URL into an open Store. The package
// imports nothing else from HAFS.
package fdbstore
