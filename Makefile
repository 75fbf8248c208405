# HAFS: see README.md. Every target works on a fresh Debian machine.
GO      ?= go
# A fresh Debian machine here has Go in /usr/local/go without it on PATH.
export PATH := $(PATH):/usr/local/go/bin
TAGS    ?=
BIN     := bin
MNT     ?= /mnt/hafs
STORE   ?= sqlite:///var/lib/hafs/meta.db

.PHONY: all build test bench lint mount clean fdbcheck

all: build

## build: compile every binary into ./bin (TAGS=fdb adds FoundationDB)
build:
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -o $(BIN)/ ./cmd/...

## test: install what the suite needs, then run all of it (CI runs this)
test:
	scripts/test.sh

## bench: benchmarks, as ratios against the local filesystem where it applies
bench:
	scripts/bench.sh

## soak: long runs kept out of CI: the cross-client replace loop for SOAK
## (default 10m) instead of 2 s, and 100 rounds of the kill -9 crash loop
.PHONY: soak
soak:
	HAFS_SOAK=$(or $(SOAK),10m) $(GO) test -count=1 -timeout 0 -v -run 'TestRenameReplaceLoop' ./test/e2e/
	HAFS_CRASH_ROUNDS=$(or $(CRASH_ROUNDS),100) $(GO) test -count=1 -timeout 0 -v -run 'TestCrashLoop' ./test/e2e/

## fdbcheck: build, link and vet -tags fdb against a stub libfdb_c (no
## FoundationDB needed; a compile check only, nothing talks to a cluster)
fdbcheck:
	scripts/fdbcheck.sh

## lint: formatting and vet
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

## mount: install, create a filesystem in the default store and mount it at MNT
mount:
	scripts/mount.sh $(MNT) $(STORE)

clean:
	rm -rf $(BIN)
