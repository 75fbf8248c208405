// Package fdbbackend is the FoundationDB backend of fdbstore: a Store over a
// FoundationDB cluster, through Apple's official Go bindings (API version
// 730).
//
// The bindings need cgo and the FoundationDB client library (libfdb_c and
// its header fdb_c.h), so the Store is only built with the "fdb" build
// tag; without it only the parts that need no client (error
// classification, size accounting, the subspace) are compiled, and HAFS
// uses the embedded sqlitestore. `make fdbcheck` compiles, links and vets
// the tagged code against a stub client library on machines without
// FoundationDB; that is a compile check, not a test.
//
// Differences from the bindings' own Transact:
//   - A commit that ends with commit_unknown_result (1021) or
//     cluster_version_changed (1039) may have landed; it is reported as
//     fdbstore.ErrMaybeCommitted, not re-run. storeurl wraps the store
//     with package settle, which learns the outcome.
//   - Every transaction counts its size as the cluster does (mutation
//     overhead, conflict ranges; see sizer) and fails with
//     fdbstore.ErrTxTooLarge before committing past SizeLimit.
//   - Keys live in a subspace per filesystem (Config.Prefix), so
//     filesystems and test runs share a cluster safely.
//   - ReadTransact reads at snapshot isolation and scans with WantAll;
//     GetMany issues every read before waiting on any; contexts marked
//     with fdbstore.Background run at batch priority.
//
// The conformance suite runs against a real cluster, each subtest in a
// subspace of its own:
//
//	FDB_CLUSTER_FILE=/etc/foundationdb/fdb.cluster go test -tags fdb ./fdbstore/fdbbackend/
//
// Without FDB_CLUSTER_FILE the suite is skipped.
package fdbbackend
