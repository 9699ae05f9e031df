# slinkerd — build, test, demo and benchmarks. `make help` lists targets.
GO       ?= go
BIN      := bin
TOOLS    := $(CURDIR)/.tools
GOFLAGS_BUILD := -trimpath -ldflags="-s -w"
export CGO_ENABLED ?= 0

.PHONY: help build test test-short lint demo fuzz bench tools clean

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

FUZZTIME ?= 60s
fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	$(GO) test -run XXX -fuzz '^FuzzParseDtab$$' -fuzztime $(FUZZTIME) ./core/name/
	$(GO) test -run XXX -fuzz '^FuzzDelegate$$' -fuzztime $(FUZZTIME) ./core/name/

clean: ## remove build outputs and installed tools
	rm -rf $(BIN) $(TOOLS)
