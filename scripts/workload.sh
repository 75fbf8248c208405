#!/usr/bin/env bash
# The real-workload step of `make bench`: what a developer does to a source
# tree, timed on each target directory in turn.
#   scripts/workload.sh TARBALL NAME=DIR [NAME=DIR...]
# The first target is the reference (the local filesystem): every other
# target's time is also printed as a ratio to it (1.00 = as fast as local,
# 0.25 = four times slower). Steps: untar with GNU tar's defaults (10 KiB
# records), find | xargs grep with a cold page cache, git init + add +
# commit, rm -rf. Needs root for the page-cache drop.
set -euo pipefail
tarball=${1:?usage: scripts/workload.sh TARBALL NAME=DIR...}
shift
(($# > 0)) || { echo "workload: no target" >&2; exit 2; }

steps=(untar find+grep git-commit rm-rf)
declare -A secs

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

for target in "$@"; do
	name=${target%%=*} dir=${target#*=}/workload
	rm -rf "$dir"
	mkdir -p "$dir"
	t=$(now); tar -xf "$tarball" -C "$dir"; secs[$name,untar]=$(elapsed "$t")
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t=$(now)
	(cd "$dir" && find . -type f -print0 | xargs -0 grep -l 'func ' >/dev/null)
	secs[$name,find+grep]=$(elapsed "$t")
	t=$(now)
	(cd "$dir" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@hafs commit -qm tree)
	secs[$name,git-commit]=$(elapsed "$t")
	t=$(now); rm -rf "$dir"; secs[$name,rm-rf]=$(elapsed "$t")
done

ref=${1%%=*}
printf '%-12s' "step"
for target in "$@"; do printf '%14s' "${target%%=*} s"; done
for target in "${@:2}"; do printf '%16s' "${target%%=*} ratio"; done
echo
for s in "${steps[@]}"; do
	printf '%-12s' "$s"
	for target in "$@"; do printf '%14s' "${secs[${target%%=*},$s]}"; done
	for target in "${@:2}"; do
		printf '%16s' "$(awk -v r="${secs[$ref,$s]}" -v x="${secs[${target%%=*},$s]}" 'BEGIN { printf "%.2f", (x > 0 ? r / x : 0) }')"
	done
	echo
done
