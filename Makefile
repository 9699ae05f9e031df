# slinkerd — build, test, demo and benchmarks. `make help` lists targets.
GO       ?= go
BIN      := bin
TOOLS    := $(CURDIR)/.tools
GOFLAGS_BUILD := -trimpath -ldflags="-s -w"
export CGO_ENABLED ?= 0

.PHONY: help build test test-short lint demo fuzz bench bench-lb tools clean

# External programs the tests drive, pinned; installed into .tools/ once.
GRPC_VERSION   := v1.85.0
H2SPEC_VERSION := v2.2.1+incompatible
TOOL_BINS := $(TOOLS)/h2spec $(TOOLS)/grpc-interop-client $(TOOLS)/grpc-interop-server

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## build bin/slinkerd (static)
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/slinkerd ./cmd/slinkerd

test: build ## run every test (unit, e2e, conformance); needs the tools from `make tools`
	$(GO) test -count=1 -timeout 9m ./...

test-short: ## unit tests only
	$(GO) test -count=1 -short ./...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(TOOLS)/staticcheck ./...

demo: build ## run slinkerd in front of local demo services; dashboard on http://127.0.0.1:9990
	$(GO) run ./examples/hello/demo

LB_FLAGS ?=
bench-lb: build ## replay linkerd's 2016 load-balancing experiment through slinkerd and HAProxy (LB_FLAGS="-duration 20s" for a short run)
	@command -v haproxy >/dev/null || (apt-get update -qq && apt-get install -y -qq haproxy)
	$(GO) run ./test/bench/lb $(LB_FLAGS)

FUZZTIME ?= 60s
fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	$(GO) test -run XXX -fuzz '^FuzzParseDtab$$' -fuzztime $(FUZZTIME) ./core/name/
	$(GO) test -run XXX -fuzz '^FuzzDelegate$$' -fuzztime $(FUZZTIME) ./core/name/

tools: $(TOOL_BINS) ## install the external test tools (h2spec, grpc-go interop client and server) into .tools/

$(TOOLS)/h2spec:
	GOBIN=$(TOOLS) $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

$(TOOLS)/grpc-interop-client:
	mkdir -p $(TOOLS)/tmp-client && GOBIN=$(TOOLS)/tmp-client $(GO) install google.golang.org/grpc/interop/client@$(GRPC_VERSION)
	mv $(TOOLS)/tmp-client/client $@ && rmdir $(TOOLS)/tmp-client

$(TOOLS)/grpc-interop-server:
	mkdir -p $(TOOLS)/tmp-server && GOBIN=$(TOOLS)/tmp-server $(GO) install google.golang.org/grpc/interop/server@$(GRPC_VERSION)
	mv $(TOOLS)/tmp-server/server $@ && rmdir $(TOOLS)/tmp-server

clean: ## remove build outputs and installed tools
	rm -rf $(BIN) $(TOOLS)
