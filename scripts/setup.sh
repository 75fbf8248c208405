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
	want+=(sqlite3 git rsync attr tar diffutils)
	cmds+=(sqlite3 git rsync setfattr tar diff)
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
