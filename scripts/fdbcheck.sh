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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stub=scripts/fdbstub
gcc -std=c11 -Wall -Wextra -Werror -fPIC -shared -I"$stub/include" \
	-o "$tmp/libfdb_c.so" "$stub/fdb_c_stub.c"

export CGO_ENABLED=1
export CGO_CFLAGS="-I$PWD/$stub/include"
export CGO_LDFLAGS="-L$tmp"
go build -tags fdb ./...
# Every binary links against the stub's symbols.
go build -tags fdb -o "$tmp/bin/" ./cmd/...
go vet -tags fdb ./...
echo "fdbcheck: -tags fdb builds, links and vets against the stub libfdb_c (no FoundationDB ran)"
