#!/usr/bin/env bash
# Compile, link and vet the FoundationDB backend (-tags fdb) on a machine
# without FoundationDB: against HAFS's own declaration of the C API
# (scripts/fdbstub/include) and a stub libfdb_c that fails every call,
# built here with gcc into a temporary directory. A compile check only:
# nothing here talks to a FoundationDB cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
command -v gcc >/dev/null || { echo "fdbcheck: gcc is required (Debian: apt-get install gcc libc6-dev)" >&2; exit 1; }

# The stub goes to a temporary directory named after this checkout, not a
# fresh one per run: the flags below are part of the build cache's keys, so
# a stable path lets a second run reuse the compiled bindings and binaries.
stub=scripts/fdbstub
lib=${TMPDIR:-/tmp}/hafs-fdbstub-$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
mkdir -p "$lib"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=c11 -Wall -Wextra -Werror -fPIC -shared -I"$stub/include" \
	-o "$tmp/libfdb_c.so" "$stub/fdb_c_stub.c"
cmp -s "$tmp/libfdb_c.so" "$lib/libfdb_c.so" || mv "$tmp/libfdb_c.so" "$lib/libfdb_c.so"

export CGO_ENABLED=1
export CGO_CFLAGS="-I$PWD/$stub/include"
export CGO_LDFLAGS="-L$lib"
go build -tags fdb ./...
# Every binary links against the stub's symbols.
go build -tags fdb -o "$tmp/bin/" ./cmd/...
go vet -tags fdb ./...
echo "fdbcheck: -tags fdb builds, links and vets against the stub libfdb_c (no FoundationDB ran)"
