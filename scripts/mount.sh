#!/usr/bin/env bash
# The main job on a fresh machine: install what HAFS needs, build it, create
# a filesystem in the embedded default store (if there is none yet) and
# mount it in the background.
#   scripts/mount.sh MOUNTPOINT [STORE-URL]
set -euo pipefail
cd "$(dirname "$0")/.."
mnt=${1:?usage: scripts/mount.sh MOUNTPOINT [STORE-URL]}
store=${2:-sqlite:///var/lib/hafs/meta.db}

scripts/setup.sh
go build -o bin/ ./cmd/...
mkdir -p "$mnt"
mnt=$(cd "$mnt" && pwd)

if ! out=$(bin/hafs-mkfs --store "$store" 2>&1); then
	case "$out" in
	*"already exists"*) echo "using the existing filesystem in $store" ;;
	*) echo "$out" >&2; exit 1 ;;
	esac
else
	echo "$out"
fi

log=/tmp/hafs-fuse.$(echo "$mnt" | tr / _).log
nohup bin/hafs-fuse --store "$store" "$mnt" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	if grep -q " $mnt " /proc/self/mountinfo; then
		echo "mounted HAFS at $mnt (hafs-fuse pid $pid, log $log)"
		echo "unmount with: fusermount3 -u $mnt   (or: kill $pid)"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "hafs-fuse did not mount $mnt within 10 s; see $log" >&2
exit 1
