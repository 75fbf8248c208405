// Package fdbbackend is the FoundationDB backend of fdbstore: a Store over a
// FoundationDB cluster, through Apple's official Go bindings (API version
// 730).
//
// The bindings need cgo and the FoundationDB client library (libfdb_c and
// its header fdb_c.h), so the package is only built with the "fdb" build
// tag; without it only this documentation is compiled and HAFS uses the
// embedded sqlitestore.
//
// The conformance suite runs against a real cluster. It clears the whole
// user keyspace before every subtest, so point it only at a scratch
// cluster, and confirm that with HAFS_FDB_TEST_SCRATCH=1:
//
//	HAFS_FDB_TEST_SCRATCH=1 FDB_CLUSTER_FILE=/etc/foundationdb/fdb.cluster go test -tags fdb ./fdbstore/...
//
// Without FDB_CLUSTER_FILE the suite is skipped.
package fdbbackend
