# sipws: `make run` starts local mode, `make test` runs every test CI runs.
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CONFIG ?= config/local/sipws.yaml
FUZZTIME ?= 30s
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sipws

.DEFAULT_GOAL := help

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: build
build: ## Build bin/sipws.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sipws ./cmd/sipws

.PHONY: run
run: build ## Run local mode: edge + router + embedded NATS (ws://127.0.0.1:8080, wss://127.0.0.1:8443, admin 127.0.0.1:9090); UPSTREAM=sip:host:port routes to a SIP server.
	$(BIN)/sipws local --config $(CONFIG) $(if $(UPSTREAM),--upstream '$(UPSTREAM)')

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: verify
verify: lint ## Lint and check that go.mod/go.sum are tidy.
	@cp go.mod /tmp/sipws-go.mod.bak && cp go.sum /tmp/sipws-go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then \
	  echo "go.mod/go.sum are not tidy: run go mod tidy"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/sipws-go.mod.bak go.mod; cp /tmp/sipws-go.sum.bak go.sum; exit 1; fi

##@ Tests
.PHONY: deps
deps: ## Install the Debian packages tests need (only those missing).
	bash hack/install-deps.sh

.PHONY: test
test: deps verify build ## Everything CI runs: lint, unit and integration tests with -race, interop with real peers.
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory interop

.PHONY: interop
interop: build ## Real peers: JsSIP + SIP.js through sipws local to Kamailio (udp and tcp upstream, ws and wss).
	bash hack/interop/setup.sh
	SIPWS_BIN=$(CURDIR)/$(BIN)/sipws UPSTREAM_TRANSPORTS="udp tcp" bash hack/interop/run-sipws.sh

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

##@ Benchmarks
.PHONY: bench
bench: ## Go micro-benchmarks of the data path.
	$(GO) test -run '^$$' -bench . -benchmem ./edge/...

.PHONY: bench-edge
bench-edge: build ## Edge memory per flow, handshakes/s, message rate vs a goroutine-per-connection baseline (docs/benchmarks.md).
	bash hack/bench-edge.sh

.PHONY: bench-relay
bench-relay: build ## REGISTER transactions/s through WS -> edge -> NATS -> router -> UDP (sipp), side by side with Kamailio (docs/benchmarks.md).
	bash hack/bench-relay.sh

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN) bench-results
