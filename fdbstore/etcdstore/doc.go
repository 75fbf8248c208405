// Package etcdstore is the fdbstore backend over an etcd v3 cluster: the
// store HAFS uses when a filesystem must span machines and FoundationDB is
// not at hand.
//
// etcd has no interactive transactions, so a transaction reads at one
// revision (pinned by its first read) and buffers its writes; its commit is
// one etcd Txn whose compares prove that nothing it read has changed since
// that revision:
//
//   - every key it read, found or absent, still has the mod revision it
//     had (a key deleted or created since fails the compare);
//   - every range it read holds no key modified after that revision (a key
//     inserted into the range fails it), and every key the range returned
//     is compared as above (a key deleted from the range fails it).
//
// A failed compare is a conflict, which Transact retries. Snapshot reads
// record nothing.
//
// A commit whose answer is lost (a timeout, a dropped connection, a leader
// change) may have been applied. Each commit therefore also creates a
// marker key that must not exist beforehand; to learn the outcome, the
// store asks in one Txn "if the marker is absent, create it as aborted,
// else read it". Either the commit landed (the marker says so) or it can
// never land (its compare on the marker now fails), so the transaction is
// settled exactly: reported committed, or retried. Markers carry a lease
// and expire on their own.
//
// Keys live under a prefix (etcd://HOSTS/PREFIX): "PREFIX\x00d/" + key for
// data, "PREFIX\x00t/" + id for markers. Several filesystems and test runs
// share one cluster without seeing each other.
package etcdstore
