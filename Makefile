# HAFS: see README.md. Every target works on a fresh Debian machine.
GO      ?= go
# A fresh Debian machine here has Go in /usr/local/go without it on PATH.
export PATH := $(PATH):/usr/local/go/bin
TAGS    ?=
BIN     := bin
MNT     ?= /mnt/hafs
STORE   ?= sqlite:///var/lib/hafs/meta.db
PREFIX  ?= /usr/local
SBINDIR ?= /sbin
UNITDIR ?= /etc/systemd/system
DESTDIR ?=
# --version prints these; without git (a tarball) the binaries fall back
# to what the Go toolchain recorded.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/hafs/hafs/cmd/internal/cliutil
LDFLAGS := -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).BuildDate=$(DATE)

.PHONY: all build install test bench lint mount clean fdbcheck

all: build

## build: compile every binary into ./bin (TAGS=fdb adds FoundationDB)
build:
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## install: the binaries into PREFIX/bin, the mount helpers mount.hafs and
## mount.fuse.hafs (for mount -t hafs / -t fuse.hafs and fstab) into SBINDIR,
## and the systemd unit hafs-mount@.service into UNITDIR
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/hafs
	install -m 0755 $(BIN)/hafs $(BIN)/hafs-fuse $(BIN)/hafs-mkfs $(BIN)/hafs-list-clients $(BIN)/hafs-evict-client $(DESTDIR)$(PREFIX)/bin/
	ln -sf $(PREFIX)/bin/hafs-fuse $(DESTDIR)$(SBINDIR)/mount.hafs
	ln -sf $(PREFIX)/bin/hafs-fuse $(DESTDIR)$(SBINDIR)/mount.fuse.hafs
	sed 's|@BINDIR@|$(PREFIX)/bin|g' scripts/systemd/hafs-mount@.service > $(DESTDIR)$(UNITDIR)/hafs-mount@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hafs-mount@.service
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

## test: install what the suite needs, then run all of it (CI runs this)
test:
	scripts/test.sh

## bench: benchmarks, as ratios against the local filesystem where it applies
bench:
	scripts/bench.sh

## soak: long runs kept out of CI: the cross-client replace loop for SOAK
## (default 10m) instead of 2 s, 100 rounds of the kill -9 crash loop, and
## HISTORY_ROUNDS (default 100) faults of the history test instead of 8,
## and the site outage on hosts with the primary's host cut off
.PHONY: soak
soak:
	HAFS_HISTORY_ROUNDS=$(or $(HISTORY_ROUNDS),100) $(GO) test -count=1 -timeout 0 -v -run 'TestHistoryMutualExclusion' ./test/e2e/
	HAFS_SOAK=1 $(GO) test -count=1 -timeout 0 -v -run 'TestSiteOutageOnHosts' ./test/e2e/
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
