# The two set-up commands from the README, and a few helpers.
GO ?= go

.PHONY: run test build image fuzz bench

# Fetch the pinned socket.io-client bundle (served at /socket.io/socket.io.js), build, run.
# The binary, not `go run`: Ctrl-C then ends with the server's "shutdown complete", not make's
# "Error 1" (go run exits 1 when interrupted).
run: node_modules/.package-lock.json build
	./sockbus

# Every test: Go unit + integration tests (which drive the Node and browser suites).
# testreport prints go test's usual lines plus every skipped test with its reason;
# pipefail keeps the exit status honest. Under CI=true a missing tool fails.
test: SHELL := /bin/bash
test: .SHELLFLAGS := -o pipefail -c
test: node_modules/.package-lock.json
	$(GO) test -race -count=1 -timeout 20m -json ./... | $(GO) run ./internal/testreport

# ./sockbus with its version and commit (`./sockbus version`) and the pinned npm packages
# (assets.Packages) embedded: it needs nothing beside it, not even a C library (CGO_ENABLED=0:
# a static binary, the Containerfile's base is empty). A plain `go build` works too and
# reads the client bundle from --client-dir instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PKG := github.com/sockbus/sockbus
build: node_modules/.package-lock.json
	$(GO) run ./assets/internal/fill
	CGO_ENABLED=0 $(GO) build -tags sockbus_assets -ldflags "-X $(PKG)/app.version=$(VERSION) -X $(PKG)/app.commit=$(COMMIT)" -o sockbus .

# The Containerfile's image of that binary, as sockbus:latest (TestContainerImage builds it too).
CONTAINER ?= podman
image: build
	rm -rf .image && mkdir -p .image/data && cp sockbus .image/
	$(CONTAINER) build -f Containerfile -t sockbus .image

# npm ci empties node_modules first, through a symlink too: a worktree whose node_modules links
# to another checkout's would empty that one, so a linked node_modules is left to its owner.
node_modules/.package-lock.json: package-lock.json
	@if [ -L node_modules ]; then echo "node_modules is a symlink: npm ci skipped, run it where it points"; \
	else npm ci --no-audit --no-fund; fi

# Fuzz every decoder for FUZZTIME each (the seeds also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzToken$$' -fuzztime $(FUZZTIME) ./bus/
	$(GO) test -run '^$$' -fuzz '^FuzzIOAddress$$' -fuzztime $(FUZZTIME) ./bus/
	for f in FuzzDecodeText FuzzDecodePayload FuzzAppendPayload; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./wsedge/eio/ || exit 1; done
	for f in FuzzDecode FuzzSplitEvent FuzzValid FuzzCheckPlaceholders; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./wsedge/sio/ || exit 1; done
