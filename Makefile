# sipws: `make run` starts local mode, `make test` runs every test CI runs.
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CONFIG ?= config/local/sipws.yaml
FUZZTIME ?= 30s
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sipws
# Pinned code generator and envtest binaries, built from Go modules into the cache (hack/k8s).
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(CACHE_DIR)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen
# The control plane matches client-go: k8s.io/client-go v0.37.2 -> Kubernetes v1.37.2.
K8S_VERSION ?= $(or $(shell awk '$$1 == "k8s.io/client-go" {sub(/^v0\./, "v1.", $$2); print $$2; exit}' go.mod),v1.37.2)
KUBEBUILDER_ASSETS ?= $(CACHE_DIR)/k8s-$(K8S_VERSION)
export KUBEBUILDER_ASSETS K8S_VERSION

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
run: build ## Run local mode: edge + router + embedded NATS (ws://127.0.0.1:8080, wss://127.0.0.1:8443, admin 127.0.0.1:9090) with the built-in registrar and the demo page at http://127.0.0.1:8080/demo; UPSTREAM=sip:host:port routes to a SIP server instead.
	$(BIN)/sipws local --config $(CONFIG) $(if $(UPSTREAM),--upstream '$(UPSTREAM)')

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./hack/e2e/

.PHONY: verify
verify: lint verify-generated ## Lint, check that generated code is current and go.mod/go.sum are tidy.
	@cp go.mod /tmp/sipws-go.mod.bak && cp go.sum /tmp/sipws-go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then \
	  echo "go.mod/go.sum are not tidy: run go mod tidy"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/sipws-go.mod.bak go.mod; cp /tmp/sipws-go.sum.bak go.sum; exit 1; fi

##@ Code generation
.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build the pinned controller-gen into the cache.
$(CONTROLLER_GEN):
	GOBIN=$(dir $(CONTROLLER_GEN)) GOFLAGS= $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for api/.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD (config/crd/bases) and the controller's RBAC (config/rbac/role.yaml).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	@if compgen -G 'controllers/*.go' >/dev/null; then \
	  echo '$(CONTROLLER_GEN) rbac:roleName=sipws-controller paths=./controllers/... output:rbac:artifacts:config=config/rbac'; \
	  $(CONTROLLER_GEN) rbac:roleName=sipws-controller paths=./controllers/... output:rbac:artifacts:config=config/rbac; \
	else echo "no controllers/ yet: config/rbac/role.yaml left as is"; fi
	@$(MAKE) --no-print-directory chart-sync

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when deepcopy, CRD or RBAC files are stale (they are regenerated).
	@snap=$$(mktemp -d); trap 'rm -rf "$$snap"' EXIT; \
	gen="api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac charts/sipws/crds charts/sipws/files/role.yaml"; \
	for f in $$gen; do [ -e "$$f" ] && mkdir -p "$$snap/$$(dirname $$f)" && cp -r "$$f" "$$snap/$$f"; done; \
	$(MAKE) --no-print-directory -s generate manifests >/dev/null || exit 1; \
	stale=0; for f in $$gen; do [ -e "$$snap/$$f" ] || [ -e "$$f" ] || continue; diff -ruN "$$snap/$$f" "$$f" || stale=1; done; \
	if [ $$stale = 1 ]; then echo "generated files were stale (now regenerated): run make generate manifests and commit"; exit 1; fi

##@ Tests
.PHONY: deps
deps: ## Install the Debian packages tests need (only those missing).
	bash hack/install-deps.sh

.PHONY: test
test: deps verify build envtest-bins helm ## Everything CI runs: lint, unit and integration tests with -race, envtest, interop with real peers, the demo page in a real browser.
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory interop
	$(MAKE) --no-print-directory browser

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver and etcd for envtest into $$KUBEBUILDER_ASSETS (cached; cold: minutes each).
	K8S_BIN_DIR=$(KUBEBUILDER_ASSETS) bash hack/k8s/build-bins.sh kube-apiserver etcd

.PHONY: interop
interop: build ## Real peers: JsSIP + SIP.js through sipws local to Kamailio (udp and tcp upstream) and to the built-in registrar, over ws and wss.
	bash hack/interop/setup.sh
	SIPWS_BIN=$(CURDIR)/$(BIN)/sipws UPSTREAM_TRANSPORTS="udp tcp registrar" bash hack/interop/run-sipws.sh

.PHONY: browser
browser: build ## The demo page in headless Debian chromium: two pages over wss register, MESSAGE, call, hang up (screenshot: bin/demo.png).
	bash hack/browser/setup.sh
	SIPWS_BIN=$(CURDIR)/$(BIN)/sipws SCREENSHOT=$(CURDIR)/$(BIN)/demo.png bash hack/browser/run.sh

.PHONY: demo-screenshot
demo-screenshot: build ## Refresh docs/img/demo.png (the README's screenshot) with the browser test.
	bash hack/browser/setup.sh
	SIPWS_BIN=$(CURDIR)/$(BIN)/sipws SCREENSHOT=$(CURDIR)/docs/img/demo.png bash hack/browser/run.sh

.PHONY: demo-assets
demo-assets: ## Rebuild edge/demo/static/jssip.min.js from npm's jssip (pinned by hack/browser/package-lock.json).
	bash hack/browser/setup.sh
	cd hack/browser && npx --no-install esbuild node_modules/jssip/lib/JsSIP.js --bundle --minify --format=iife \
	  --global-name=JsSIP --platform=browser --legal-comments=none --outfile=../../edge/demo/static/jssip.min.js

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

##@ Deployment
HELM_VERSION ?= v3.22.0
KWOK_VERSION ?= v0.8.0
IMAGE ?= sipws:$(VERSION)
E2E_TIMEOUT ?= 20m

.PHONY: chart-sync
chart-sync: ## Copy the generated CRD and RBAC role into charts/sipws (make manifests runs it).
	@mkdir -p charts/sipws/crds charts/sipws/files
	@rm -f charts/sipws/crds/*.yaml && cp config/crd/bases/*.yaml charts/sipws/crds/
	@if [ -f config/rbac/role.yaml ]; then cp config/rbac/role.yaml charts/sipws/files/role.yaml; fi

.PHONY: helm
helm: ## Build the pinned helm into the cache (hack/e2e/tools.sh; cold: ~2 min).
	HELM_VERSION=$(HELM_VERSION) bash hack/e2e/tools.sh helm

.PHONY: kwok
kwok: ## Build the pinned kwok and its stage configs into the cache (hack/e2e/tools.sh; cold: ~2 min).
	KWOK_VERSION=$(KWOK_VERSION) bash hack/e2e/tools.sh kwok

.PHONY: image
image: ## Build the container image IMAGE (default sipws:<git describe>) with Docker; needs a Docker engine.
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
	  echo "make image: no Docker engine reachable here (docker info failed)."; \
	  echo "Run it where one is, or: docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) ."; exit 1; fi
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: e2e
e2e: build helm kwok ## End to end on a real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes): helm install, gateway, GC, uninstall.
	K8S_BIN_DIR=$(KUBEBUILDER_ASSETS) bash hack/k8s/build-bins.sh kube-apiserver etcd kube-controller-manager kube-scheduler
	SIPWS_BIN=$(CURDIR)/$(BIN)/sipws \
	SIPWS_HELM=$(CACHE_DIR)/helm-$(HELM_VERSION)/helm SIPWS_KWOK_DIR=$(CACHE_DIR)/kwok-$(KWOK_VERSION) \
	  $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./hack/e2e/

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
