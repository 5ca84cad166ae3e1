# Redline. `make run` and `make test` are the two set-up commands (README).
GO            ?= go
BIN           := $(CURDIR)/bin
REDLINE       := $(BIN)/redline
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# envtest finds etcd and kube-apiserver here (built by hack/build-tools.sh).
export KUBEBUILDER_ASSETS := $(BIN)/k8s

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

FUZZTIME ?= 60s
BENCHTIME ?= 1s

.PHONY: all build run test unit lint bench tools tools-all fuzz clean ui ui-fetch

# The web UI's graph library, Cytoscape.js (MIT), from the npm registry:
# `make ui` fetches this version into internal/ui/vendor (gitignored),
# checks the tarball against the pinned integrity, and the binary embeds
# it. A plain `go build` without it still compiles (the page then says to
# run `make ui`).
CYTOSCAPE_VERSION   := 3.34.4
CYTOSCAPE_INTEGRITY := sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU/R2hrmtJa5+UtovrEM2ctg==
UI_VENDOR           := internal/ui/vendor

all: build

build: ui
	$(GO) build -trimpath -ldflags "-X github.com/redline-dev/redline/cmd/redline/app.Version=$(VERSION)" -o $(REDLINE) ./cmd/redline

# A local cluster with the demo shop and Redline doing its whole job
# (`redline dev`; Ctrl-C stops it). The first run builds the control plane.
run: build
	$(REDLINE) dev

# Everything CI checks: formatting, vet, staticcheck, and every test, the
# envtest ones (real etcd + kube-apiserver) included.
test: tools ui lint
	$(GO) test -count=1 ./...

# Tests without rebuilding tools or linting (quick local loop).
unit: ui
	$(GO) test ./...

lint: ui $(STATICCHECK)
	@out="$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/.staticcheck/staticcheck $@ && rmdir $(BIN)/.staticcheck

# Without npm (a machine set up for Go only) the binary is built without the
# graph library, with a warning: the page then says to run `make ui`. The
# browser tests in `make test` need it (.ci/run installs npm).
ui:
	@if [ "$$(cat $(UI_VENDOR)/cytoscape.version 2>/dev/null)" != "$(CYTOSCAPE_VERSION)" ] || [ ! -f $(UI_VENDOR)/cytoscape.min.js ]; then \
	  if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory ui-fetch; \
	  else echo "make ui: warning: npm not found; building without the web UI's graph library (apt-get install npm nodejs, then make ui)" >&2; fi; fi

ui-fetch:
	@command -v npm >/dev/null 2>&1 || { echo "make ui: npm is needed to fetch Cytoscape.js (apt-get install npm nodejs)" >&2; exit 1; }
	@rm -rf $(UI_VENDOR)/.fetch && mkdir -p $(UI_VENDOR)/.fetch
	cd $(UI_VENDOR)/.fetch && npm pack --silent cytoscape@$(CYTOSCAPE_VERSION) >/dev/null
	@got=$$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' $(UI_VENDOR)/.fetch/cytoscape-$(CYTOSCAPE_VERSION).tgz); \
	  if [ "$$got" != "$(CYTOSCAPE_INTEGRITY)" ]; then echo "make ui: cytoscape-$(CYTOSCAPE_VERSION).tgz has integrity $$got, want $(CYTOSCAPE_INTEGRITY)" >&2; exit 1; fi
	tar -xzf $(UI_VENDOR)/.fetch/cytoscape-$(CYTOSCAPE_VERSION).tgz -C $(UI_VENDOR)/.fetch package/dist/cytoscape.min.js package/LICENSE
	cp $(UI_VENDOR)/.fetch/package/dist/cytoscape.min.js $(UI_VENDOR)/cytoscape.min.js
	cp $(UI_VENDOR)/.fetch/package/LICENSE $(UI_VENDOR)/cytoscape.LICENSE
	@rm -rf $(UI_VENDOR)/.fetch
	echo $(CYTOSCAPE_VERSION) > $(UI_VENDOR)/cytoscape.version

# Benchmarks behind every figure in the issue notes (one core, as the targets say).
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -cpu 1 ./...

# Runs each fuzz target for FUZZTIME; the committed corpus runs in `make test`.
fuzz:
	$(GO) test ./internal/inventory -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/flow -run '^$$' -fuzz '^FuzzDecodeHubble$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/flow -run '^$$' -fuzz '^FuzzDecodeNative$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

# etcd + kube-apiserver for envtest, kube-controller-manager for the dev
# cluster, helm and promtool for the chart's tests (cached in bin/, rebuilt
# only when pins change).
tools:
	hack/build-tools.sh envtest kube-controller-manager helm promtool

# Every pinned tool: also kube-controller-manager, helm, promtool.
tools-all:
	hack/build-tools.sh all

clean:
	rm -f $(REDLINE)
