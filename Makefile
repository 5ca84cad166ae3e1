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

.PHONY: all build run test unit lint bench tools tools-all fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X github.com/redline-dev/redline/cmd/redline/app.Version=$(VERSION)" -o $(REDLINE) ./cmd/redline

# A local cluster with the demo shop and Redline doing its whole job
# (`redline dev`; Ctrl-C stops it). The first run builds the control plane.
run: build
	$(REDLINE) dev

# Everything CI checks: formatting, vet, staticcheck, and every test, the
# envtest ones (real etcd + kube-apiserver) included.
test: tools lint
	$(GO) test -count=1 ./...

# Tests without rebuilding tools or linting (quick local loop).
unit:
	$(GO) test ./...

lint: $(STATICCHECK)
	@out="$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/.staticcheck/staticcheck $@ && rmdir $(BIN)/.staticcheck

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
