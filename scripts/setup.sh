#!/usr/bin/env bash
# Installs what HAFS needs on a Debian machine: the Debian packages its
# filesystem and tests use, and the Go modules. Safe to run again: it only
# installs what is missing.
#   scripts/setup.sh          what a mount needs
#   scripts/setup.sh --test   also what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

want=(fuse3)
cmds=(fusermount3)
if [[ "${1:-}" == "--test" ]]; then
	# etcd-server: the 3-member clusters the etcd backend is tested on.
	# iproute2 and util-linux (nsenter): the hosts of test/cluster;
	# iptables: its partitions of some peers or one direction.
	# litmus, rclone, chromium, curl and davfs2: the real clients the
	# WebDAV gateway (hafs serve) is tested with. util-linux's mount and
	# unshare: the mount helper's tests through mount(8); systemd:
	# systemd-analyze verify of the unit. gcc (with libc6-dev, which apt
	# installs as its recommendation): the stub libfdb_c of
	# scripts/fdbcheck.sh.
	want+=(sqlite3 git rsync attr tar diffutils etcd-server iproute2 util-linux iptables litmus rclone chromium curl davfs2 mount systemd gcc)
	cmds+=(sqlite3 git rsync setfattr tar diff etcd ip nsenter iptables litmus rclone chromium curl mount.davfs unshare mount systemd-analyze gcc)
fi

missing=()
for i in "${!cmds[@]}"; do
	command -v "${cmds[$i]}" >/dev/null 2>&1 || missing+=("${want[$i]}")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
		echo "setup: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
	if [[ -x /usr/local/go/bin/go ]]; then
		export PATH=/usr/local/go/bin:$PATH
	else
		echo "setup: Go 1.26 or newer is required (https://go.dev/doc/install)" >&2
		exit 1
	fi
fi
go mod download

# The S3 server every integration test talks to: a real MinIO, built from
# the Go module proxy (2.5 to 5 minutes on 2 cores) into bin/ once.
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c
versitygw_version=v1.8.0
if [[ "${1:-}" == "--test" ]]; then
	if [[ -x bin/minio ]] || [[ -x "$(go env GOPATH)/bin/minio" ]] || command -v minio >/dev/null; then
		:
	else
		echo "setup: building MinIO $minio_version into bin/ (a few minutes, once)"
		mkdir -p bin
		GOBIN="$PWD/bin" go install "github.com/minio/minio@$minio_version"
	fi
	# A second, different S3 implementation for the multi-site tests
	# (about 1 minute to build).
	if [[ -x bin/versitygw ]] || [[ -x "$(go env GOPATH)/bin/versitygw" ]] || command -v versitygw >/dev/null; then
		:
	else
		echo "setup: building versitygw $versitygw_version into bin/ (about a minute, once)"
		mkdir -p bin
		GOBIN="$PWD/bin" go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
	fi
fi
