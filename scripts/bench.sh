#!/usr/bin/env bash
# The benchmarks of `make bench` (needs root: it mounts a tmpfs and drops the
# page cache). It runs the filesystem workloads of test/fsbench on
#   ceiling  a go-fuse loopback of a tmpfs directory, kernel passthrough off
#            (test/loopback): the FUSE ceiling of this machine
#   hafs     a fresh HAFS filesystem as hafs-mkfs makes it by default: a
#            scratch SQLite store, large bodies in a directory beside it
#   hafs-s3  the same with large bodies in a local MinIO (when one is built)
#   hafs-etcd  HAFS on a 3-member etcd cluster on loopback (when etcd is installed)
# and prints each figure with its ratio to the ceiling, then runs the
# real workloads (untar, grep, git, rm -rf: scripts/workload.sh), the store
# micro-benchmarks, the object store alone (what hafs-s3 can reach at most
# on this machine) and multi-site replication, and the WebDAV gateway
# (hafs serve, test/gwbench) against the mounts of the same filesystems.
#
# Environment: FSBENCH_ARGS extra fsbench flags (e.g. "--files 1000 --json");
# GWBENCH_ARGS gwbench flags (default "--mib 1024 --small 2000");
# HAFS_BENCH_ONLY_CEILING=1 measures the ceiling alone (no HAFS binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "bench: must run as root (mounts a tmpfs, drops the page cache)" >&2
	exit 1
fi
scripts/setup.sh --test # MinIO, etcd and git for the targets below
only_ceiling=${HAFS_BENCH_ONLY_CEILING:-0}

pkgs=(./test/loopback ./test/fsbench)
[[ $only_ceiling == 1 ]] || pkgs=(./cmd/... ./test/gwbench "${pkgs[@]}")
mkdir -p bin
go build -o bin/ "${pkgs[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hafs-bench.XXXXXX")
pids=()       # mount processes (and MinIO)
etcd_pids=()  # etcd members, stopped after the mounts
bench=   # fsbench, while it runs

# is_mounted DIR: whether DIR is a mount point (field 5 of mountinfo).
is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

cleanup() {
	local pid mnt i
	if [[ -n $bench ]]; then kill -TERM "$bench" 2>/dev/null || true; wait "$bench" 2>/dev/null || true; fi
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for mnt in "$tmp/mnt1" "$tmp/mnt2" "$tmp/mnt3" "$tmp/mnt4"; do
		for ((i = 0; i < 50; i++)); do is_mounted "$mnt" || break; sleep 0.1; done
		if is_mounted "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt" || true; fi
	done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	# The store last: an etcd-backed mount ends its session on the way out.
	for pid in "${etcd_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
	if is_mounted "$tmp/tmpfs"; then umount "$tmp/tmpfs" || umount -l "$tmp/tmpfs" || true; fi
	rm -rf --one-file-system "$tmp"
	if [[ -n ${etcd_dir:-} ]]; then rm -rf "$etcd_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_mount DIR PID: wait up to 10 s for DIR to be mounted by PID.
wait_mount() {
	local i
	for ((i = 0; i < 100; i++)); do
		is_mounted "$1" && return 0
		kill -0 "$2" 2>/dev/null || { echo "bench: mount of $1 exited" >&2; return 1; }
		sleep 0.1
	done
	echo "bench: $1 not mounted after 10 s" >&2
	return 1
}

mkdir -p "$tmp/tmpfs" "$tmp/mnt1" "$tmp/mnt2"
mount -t tmpfs -o size=2g,mode=755 hafs-bench "$tmp/tmpfs"
bin/loopback "$tmp/tmpfs" "$tmp/mnt1" &
pids+=($!)
wait_mount "$tmp/mnt1" "${pids[-1]}"
targets=("ceiling=$tmp/mnt1")

if [[ $only_ceiling != 1 ]]; then
	store="sqlite://$tmp/meta.db"
	bin/hafs-mkfs --store "$store"
	bin/hafs-fuse --store "$store" "$tmp/mnt2" &
	pids+=($!)
	wait_mount "$tmp/mnt2" "${pids[-1]}"
	targets+=("hafs=$tmp/mnt2")

	# HAFS with large bodies in a local MinIO (built by setup.sh --test).
	minio=""
	for m in bin/minio "$(go env GOPATH)/bin/minio" "$(command -v minio || true)"; do
		[[ -n $m && -x $m ]] && { minio=$m; break; }
	done
	if [[ -n $minio ]]; then
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		export AWS_ACCESS_KEY_ID=hafs-bench AWS_SECRET_ACCESS_KEY=hafs-bench-secret AWS_REGION=us-east-1
		mkdir -p "$tmp/minio" "$tmp/mnt3"
		MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
			"$minio" server "$tmp/minio" --address "127.0.0.1:$port" --console-address 127.0.0.1:0 --quiet &
		pids+=($!)
		for ((i = 0; i < 100; i++)); do
			curl -sf "http://127.0.0.1:$port/minio/health/live" >/dev/null && break
			sleep 0.1
		done
		s3store="sqlite://$tmp/meta-s3.db"
		bin/hafs-mkfs --store "$s3store" --bucket "http://127.0.0.1:$port/hafs-bench"
		# The disk cache as by default (--cache-dir auto), kept in the scratch
		# directory rather than /var/cache/hafs.
		bin/hafs-fuse --store "$s3store" --cache-dir "$tmp/cache-s3" "$tmp/mnt3" &
		pids+=($!)
		wait_mount "$tmp/mnt3" "${pids[-1]}"
		targets+=("hafs-s3=$tmp/mnt3")
	else
		echo "bench: no MinIO binary (scripts/setup.sh --test builds one): skipping the object store target" >&2
	fi
fi

# HAFS on a 3-member etcd cluster on loopback (Debian's etcd-server, which
# setup.sh --test installs), data in /dev/shm as in the tests.
if [[ $only_ceiling != 1 ]] && command -v etcd >/dev/null; then
	freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
	etcd_dir=$(mktemp -d /dev/shm/hafs-bench-etcd.XXXXXX 2>/dev/null || mktemp -d "$tmp/etcd.XXXXXX")
	initial="" clients=()
	for i in 0 1 2; do
		cport[$i]=$(freeport) pport[$i]=$(freeport)
		initial+="${initial:+,}b$i=http://127.0.0.1:${pport[$i]}"
		clients+=("127.0.0.1:${cport[$i]}")
	done
	for i in 0 1 2; do
		etcd --name "b$i" --data-dir "$etcd_dir/b$i" --log-level error \
			--listen-client-urls "http://127.0.0.1:${cport[$i]}" --advertise-client-urls "http://127.0.0.1:${cport[$i]}" \
			--listen-peer-urls "http://127.0.0.1:${pport[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pport[$i]}" \
			--initial-cluster "$initial" --initial-cluster-state new --heartbeat-interval 50 --election-timeout 500 --pre-vote \
			>"$tmp/etcd$i.log" 2>&1 &
		etcd_pids+=($!)
	done
	for ((i = 0; i < 200; i++)); do
		curl -sf "http://${clients[0]}/health" | grep -q '"true"' && break
		sleep 0.1
	done
	etcdstore="etcd://$(IFS=,; echo "${clients[*]}")/hafs-bench"
	mkdir -p "$tmp/mnt4"
	bin/hafs-mkfs --store "$etcdstore"
	bin/hafs-fuse --store "$etcdstore" "$tmp/mnt4" &
	pids+=($!)
	wait_mount "$tmp/mnt4" "${pids[-1]}"
	targets+=("hafs-etcd=$tmp/mnt4")
fi

# In the background, so that a signal to this script ends it at once.
# shellcheck disable=SC2086 # FSBENCH_ARGS is a list of flags
bin/fsbench ${FSBENCH_ARGS:---seq-mib 1024} "${targets[@]}" &
bench=$!
wait "$bench"
bench=

# Real workloads: a source tree of about 1,200 files (Go's runtime package,
# 17 MB) untarred, searched, committed to git and removed, on the local disk
# and on each HAFS target.
if [[ $only_ceiling != 1 ]]; then
	echo
	echo "real workloads (scripts/workload.sh; ratio = local seconds / target seconds):"
	tar -C "$(go env GOROOT)/src" -cf "$tmp/tree.tar" runtime
	wl_targets=("local=$tmp/local")
	for t in "${targets[@]}"; do
		[[ ${t%%=*} == ceiling ]] || wl_targets+=("$t")
	done
	scripts/workload.sh "$tmp/tree.tar" "${wl_targets[@]}"
fi

# serve_gateway STORE LOG: start `hafs serve` on the filesystem in STORE (a
# second client of it, beside its mount); its URL goes to gw_url.
serve_gateway() {
	local i
	bin/hafs serve --store "$1" --listen 127.0.0.1:0 --metrics "" >/dev/null 2>"$2" &
	pids+=($!)
	for ((i = 0; i < 100; i++)); do
		grep -q 'msg=serving' "$2" && break
		kill -0 "${pids[-1]}" 2>/dev/null || { echo "bench: hafs serve exited:" >&2; cat "$2" >&2; return 1; }
		sleep 0.1
	done
	gw_url=$(sed -n 's/.*msg=serving url=\([^ ]*\).*/\1/p' "$2" | head -1)
	[[ -n $gw_url ]] || { echo "bench: hafs serve did not start:" >&2; cat "$2" >&2; return 1; }
}

if [[ $only_ceiling != 1 ]]; then
	echo
	echo "the WebDAV gateway (hafs serve) against a FUSE mount of the same filesystem:"
	serve_gateway "$store" "$tmp/serve.log"
	gw_targets=("hafs=$gw_url,$tmp/mnt2")
	if [[ -n ${minio:-} ]]; then
		serve_gateway "$s3store" "$tmp/serve-s3.log"
		gw_targets+=("hafs-s3=$gw_url,$tmp/mnt3")
	fi
	# shellcheck disable=SC2086 # GWBENCH_ARGS is a list of flags
	bin/gwbench ${GWBENCH_ARGS:---mib 1024 --small 2000} "${gw_targets[@]}" &
	bench=$!
	wait "$bench"
	bench=
fi

echo
echo "store micro-benchmarks (fdbstore/sqlitestore):"
go test -run '^$' -bench . -benchtime 3000x ./fdbstore/sqlitestore/
if command -v etcd >/dev/null; then
	echo
	echo "the same on etcd (fdbstore/etcdstore, a 3-member cluster on loopback):"
	go test -run '^$' -bench . -benchtime 300x ./fdbstore/etcdstore/
fi

if [[ $only_ceiling != 1 && -n ${minio:-} ]]; then
	echo
	echo "the object store alone (routing's S3 client straight to a local MinIO, no FUSE, 1 GiB as 4 MiB"
	echo "objects, 16 puts and 8 gets at a time; the most hafs-s3 can reach here, and MinIO's CPU per GiB):"
	go test -run '^$' -bench 'BenchmarkS3Direct' -benchtime 1x ./routing/ 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)'

	echo
	echo "multi-site routing (test/e2e, two local MinIO behind fault proxies):"
	go test -run '^$' -bench 'BenchmarkSiteReplication' -benchtime 1x ./test/e2e/ 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)'
fi
