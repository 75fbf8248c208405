#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then vets
# and tests every package. Race-checked runs cover the store packages.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
go vet ./...
# The FoundationDB backend compiles, links and vets (stub libfdb_c; no FDB runs).
scripts/fdbcheck.sh
go test -count=1 -timeout 20m ./...
# The member-kill run of the etcd store suite ran above; under the race
# detector it would only add a minute.
go test -count=1 -race -timeout 10m -skip 'TestConformanceOneMember' ./fdbstore/... ./locks/... ./s3tier/... ./routing/... ./gateway/...
# The distributed store: fdbstore/etcdstore above runs the store suite on a
# real 3-member etcd cluster. meta and locks, and the two-mount, lock and
# consistency tests through real mounts, run again on such a cluster.
HAFS_TEST_STORE=etcd go test -count=1 -timeout 15m ./meta/ ./locks/
HAFS_TEST_STORE=etcd go test -count=1 -timeout 15m -run \
	'TestTwoMounts|TestUnlinkWhileOpenOnAnotherMount|TestDeferredOpenOnAnotherMount|TestConsistency|TestCloseToOpen|TestListingCloseToOpen|TestRenameReplaceLoop|TestFcntlLocksAcrossMounts|TestFlockAcrossMounts|TestBlockingLockWakes|TestFlockCommandCounter|TestKilledClientLocksFreed|TestEvictLiveClient|TestThreeMountsLockHandoff|TestEvictionRacesWrites|TestLockWaitInterruptAndDeadlock|TestUnknownCommitOutcomes' \
	./test/e2e/
