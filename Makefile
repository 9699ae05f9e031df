# slinkerd — build, test, demo and benchmarks. `make help` lists targets.
GO       ?= go
BIN      := bin
TOOLS    := $(CURDIR)/.tools
# The version stamped into every binary: the tag, or the commit, of the
# checkout ("-dirty" when it has changes). `make build VERSION=v0.1.0` sets it.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
GOFLAGS_BUILD := -trimpath -ldflags="-s -w -X main.version=$(VERSION)"
export CGO_ENABLED ?= 0

.PHONY: help build test test-short lint demo demo-cloud fuzz chaos bench bench-lib bench-lb tools tools-lambda layer sam-artifacts release clean

# External programs the tests drive, pinned; installed into .tools/ once.
GRPC_VERSION   := v1.85.0
H2SPEC_VERSION := v2.2.1+incompatible
RIE_VERSION    := v0.0.0-20261030222936-bef5c4ba774d
CYCLONEDX_VERSION := v1.10.0
ACTIONLINT_VERSION := v1.7.12
TOOL_BINS := $(TOOLS)/h2spec $(TOOLS)/grpc-interop-client $(TOOLS)/grpc-interop-server $(TOOLS)/aws-lambda-rie \
	$(TOOLS)/cyclonedx-gomod $(TOOLS)/actionlint

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# Build tags that leave a cloud namer and its SDK out of the binary:
# slinkerd_nocloudmap (AWS SDK), slinkerd_nocloudrun (Google SDK and
# gRPC), slinkerd_nolambdafn (io.l5d.lambda: Lambda functions as
# endpoints) and slinkerd_nosigv4 (sign:<service> in SLINKERD_SVC_POLICY).
# Names or policies that need a left-out part fail with an error that says so.
# slinkerd_noawsconfig leaves out the AWS SDK's shared-config chain
# (profiles, SSO, web identity, EC2 instance credentials): AWS settings
# then come from the environment only, as Lambda provides them.
BUILD_TAGS ?=
build: ## build bin/slinkerd (static; BUILD_TAGS=slinkerd_nocloudrun,… to leave cloud namers out)
	$(GO) build $(GOFLAGS_BUILD) -tags "$(BUILD_TAGS)" -o $(BIN)/slinkerd ./cmd/slinkerd

# The e2e tests of the HTTP/1 data path, run a second time on net/http's
# server and client (SLINKERD_FAST_PATH=off) as a differential of the two.
E2E_DATA_PATH_TESTS := ^(TestHTTP1|TestBadInput.*|TestHeaders|TestRequestTargetForwarded|TestDtabOverride|TestLoopDetection|TestTLSListener|TestErrors|TestRetry.*|TestRequeuePOSTToRefusedEndpoint|TestAttemptTimeoutRetriesHungBackend|TestTotalTimeoutPropagates|TestStreamingUploadNotBufferedWithRetries|TestWebSocket|TestGracefulShutdown|TestWeightedUnionRoutesAroundEmptyBranch|TestMetricsTraceHeadersPassThrough|TestSecurityDtabOverride|TestSecurityL5DHeaders|TestH2C|TestGRPC|TestGRPCInterop|TestH2spec)$$

test: build ## run every test (unit, e2e, conformance); needs the tools from `make tools`
	$(GO) test -count=1 -timeout 9m ./...
	E2E_FAST_PATH=off $(GO) test -count=1 -run '$(E2E_DATA_PATH_TESTS)' ./test/e2e
	$(GO) vet -tags slinkerd_nocloudmap,slinkerd_nocloudrun,slinkerd_nolambdafn,slinkerd_nosigv4,slinkerd_noawsconfig ./adapters/... ./cmd/...
	$(GO) test -count=1 -tags slinkerd_nocloudmap,slinkerd_nocloudrun,slinkerd_nolambdafn,slinkerd_nosigv4 ./internal/app
	$(GO) test -count=1 -tags "$(LAYER_TAGS)" ./internal/awsconf ./internal/app ./internal/telemetry/promexport ./discovery/...

test-short: ## unit tests only
	$(GO) test -count=1 -short ./...

lint: ## gofmt, go vet, staticcheck, and apidiff against the last release tag
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(TOOLS)/staticcheck ./...
	@tag=$$(git describe --tags --abbrev=0 2>/dev/null || true); \
	if [ -z "$$tag" ]; then echo "apidiff: no release tag yet, nothing to compare with"; else \
		GOBIN=$(TOOLS) $(GO) install golang.org/x/exp/cmd/apidiff@v0.0.0-20261113113407-e3970619a1a4 && \
		APIDIFF=$(TOOLS)/apidiff sh .ci/apidiff.sh "$$tag"; fi

demo: build ## run slinkerd in front of local demo services; dashboard on http://127.0.0.1:9990
	$(GO) run ./examples/hello/demo

DEMO_FLAGS ?=
demo-cloud: build ## run slinkerd with the Cloud Map and Cloud Run namers against local fakes (DEMO_FLAGS="-duration 30s" to stop by itself)
	$(GO) run ./examples/cloud $(DEMO_FLAGS)

BENCH_FLAGS ?=
BENCH_GO_FLAGS ?= -benchtime 1s
bench: build ## side-by-side benchmark vs no proxy, HAProxy, nginx, Caddy (~18 min; BENCH_FLAGS=-quick: ~4 min), then the Go hot-path benchmarks
	@sh test/bench/proxy/install.sh
	$(GO) build $(GOFLAGS_BUILD) -tags "$(LAYER_TAGS)" -o $(BIN)/slinkerd-lambda ./cmd/slinkerd
	$(GO) run ./test/bench/proxy $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_GO_FLAGS) ./test/bench/hotpath

# A program that imports the library and one namer (test/bench/libsize),
# stripped: its size and its package init (GODEBUG=inittrace=1, median of
# 15 runs), for docs/library.md.
bench-lib: ## size and package-init time of a library user with one namer (io.l5d.fs, Cloud Map, Cloud Run)
	@for n in fs cloudmap cloudrun; do \
		$(GO) build -trimpath -ldflags='-s -w' -tags libsize_$$n -o $(BIN)/libsize-$$n ./test/bench/libsize || exit 1; \
		ms=$$(for i in $$(seq 15); do GODEBUG=inittrace=1 $(BIN)/libsize-$$n -init-only 2>&1 | awk '/^init/ {t+=$$5} END {print t}'; done | sort -n | awk '{a[NR]=$$1} END {print a[8]}'); \
		echo "$$n: $$(stat -c %s $(BIN)/libsize-$$n) bytes stripped, package init $$ms ms (median of 15)"; \
	done

LB_FLAGS ?=
bench-lb: build ## replay linkerd's 2016 load-balancing experiment through slinkerd and HAProxy (LB_FLAGS="-duration 20s" for a short run)
	@command -v haproxy >/dev/null || (apt-get update -qq && apt-get install -y -qq haproxy)
	$(GO) run ./test/bench/lb $(LB_FLAGS)

# Every fuzz target in the repository, found with `go test -list`, so a new
# one is included without editing this file. New interesting inputs stay in
# the Go build cache; failing ones are written to the package's
# testdata/fuzz/<Target>/ (check those in with the fix).
FUZZTIME ?= 60s
FUZZ_PKGS ?= ./...
fuzz: ## run every fuzz target in the repo for FUZZTIME (default 60s) each
	@list=$$($(GO) test -list '^Fuzz' $(FUZZ_PKGS)) || { echo "$$list"; exit 1; }; \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { t[++n] = $$1; next } /^ok/ { for (i = 1; i <= n; i++) print $$2, t[i]; n = 0 }'); \
	test -n "$$targets" || { echo "fuzz: no fuzz targets found"; exit 1; }; \
	echo "fuzz: $$(echo "$$targets" | wc -l) targets, $(FUZZTIME) each"; \
	echo "$$targets" | while read -r pkg fn; do \
		echo "== $$fn ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

# The chaos suite in full: 60s per discovery fault (20s for the others) at
# 500 GET/s plus 50 POST/s; ~8 minutes. A short run of it (3s per fault)
# is part of `make test`.
CHAOS_FLAGS ?=
chaos: ## fault injection under load (test/chaos): results table on stdout, JSON in test/artifacts/chaos.json
	@mkdir -p test/artifacts
	$(GO) test -count=1 -timeout 60m -v -run '^TestChaos$$' ./test/chaos/ -args -chaos.full -chaos.out $(CURDIR)/test/artifacts/chaos.json $(CHAOS_FLAGS)
	@echo; cat test/artifacts/chaos.txt

tools: $(TOOL_BINS) ## install the external test tools (h2spec, grpc-go interop client and server, AWS Lambda RIE, cyclonedx-gomod, actionlint) into .tools/

tools-lambda: $(TOOLS)/aws-lambda-rie ## install the AWS Lambda Runtime Interface Emulator into .tools/

$(TOOLS)/aws-lambda-rie:
	GOBIN=$(TOOLS) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(TOOLS)/cyclonedx-gomod:
	GOBIN=$(TOOLS) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION)

$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(TOOLS)/h2spec:
	GOBIN=$(TOOLS) $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

$(TOOLS)/grpc-interop-client:
	mkdir -p $(TOOLS)/tmp-client && GOBIN=$(TOOLS)/tmp-client $(GO) install google.golang.org/grpc/interop/client@$(GRPC_VERSION)
	mv $(TOOLS)/tmp-client/client $@ && rmdir $(TOOLS)/tmp-client

$(TOOLS)/grpc-interop-server:
	mkdir -p $(TOOLS)/tmp-server && GOBIN=$(TOOLS)/tmp-server $(GO) install google.golang.org/grpc/interop/server@$(GRPC_VERSION)
	mv $(TOOLS)/tmp-server/server $@ && rmdir $(TOOLS)/tmp-server

# The Lambda layer: a zip holding extensions/slinkerd (mode 0755), a
# static linux binary built with the same flags as `make build` and the
# Dockerfile. Zipped by a small Go program, so no zip tool is needed.
# The layer leaves the Cloud Run namer out (LAYER_TAGS): on Lambda the
# Google SDK would only cost cold-start time and memory (about 5 ms and
# 10 MiB; see docs/performance.md). It reads AWS settings from the
# environment only (slinkerd_noawsconfig), where Lambda puts them: the
# SDK's shared-config chain costs about 1 ms of every cold start.
# slinkerd_nopromproto serves /metrics in the Prometheus text format only,
# leaving out expfmt and the protobuf runtime: 1.7 MB of binary and of
# resident memory, for an admin port no scraper reaches inside Lambda.
# LAYER_TAGS= builds the full binary.
LAYER_ARCH ?= amd64
LAYER_DIR  ?= $(BIN)
LAYER_TAGS ?= slinkerd_nocloudrun slinkerd_noawsconfig slinkerd_nopromproto
layer: ## build the Lambda layer zip bin/slinkerd-layer-amd64.zip (LAYER_ARCH=arm64 for Graviton, LAYER_DIR=… elsewhere)
	GOOS=linux GOARCH=$(LAYER_ARCH) $(GO) build $(GOFLAGS_BUILD) -tags "$(LAYER_TAGS)" -o $(LAYER_DIR)/layer-$(LAYER_ARCH)/slinkerd ./cmd/slinkerd
	$(GO) run ./deploy/lambda/mklayer -bin $(LAYER_DIR)/layer-$(LAYER_ARCH)/slinkerd -o $(LAYER_DIR)/slinkerd-layer-$(LAYER_ARCH).zip

# What deploy/lambda/template.yaml deploys, at the literal paths it names:
# the layer's tree (extensions/slinkerd) and the example function's
# bootstrap, both for SAM_ARCH (amd64 or arm64; pass Architecture=arm64
# to sam deploy for arm64); and the same two as zips (layer.zip,
# function.zip) for the plain AWS CLI walkthrough in deploy/README.md.
SAM_ARCH ?= amd64
sam-artifacts: ## build bin/sam/{layer,function}[.zip] for deploy/lambda/template.yaml and the AWS CLI (SAM_ARCH=arm64 for Graviton)
	rm -rf $(BIN)/sam && mkdir -p $(BIN)/sam/layer/extensions $(BIN)/sam/function
	GOOS=linux GOARCH=$(SAM_ARCH) $(GO) build $(GOFLAGS_BUILD) -tags "$(LAYER_TAGS)" -o $(BIN)/sam/layer/extensions/slinkerd ./cmd/slinkerd
	GOOS=linux GOARCH=$(SAM_ARCH) $(GO) build -trimpath -tags lambda.norpc -o $(BIN)/sam/function/bootstrap ./examples/lambda-function
	$(GO) run ./deploy/lambda/mklayer -bin $(BIN)/sam/layer/extensions/slinkerd -o $(BIN)/sam/layer.zip
	$(GO) run ./deploy/lambda/mklayer -bin $(BIN)/sam/function/bootstrap -entry bootstrap -o $(BIN)/sam/function.zip

# A release: for linux/amd64 and linux/arm64, the binary, the Lambda layer
# zips (lean, as `make layer`, and full), a CycloneDX SBOM of each binary
# and SHA256SUMS, in dist/VERSION. Reproducible: the same commit, Go and
# VERSION give the same bytes (deploy/release).
release: $(TOOLS)/cyclonedx-gomod ## build the release artifacts into dist/VERSION (VERSION=vX.Y.Z required)
	@case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "make release: set VERSION=vX.Y.Z (got '$(VERSION)')"; exit 2;; esac
	$(GO) run ./deploy/release -version $(VERSION) -out dist/$(VERSION) -cyclonedx $(TOOLS)/cyclonedx-gomod

clean: ## remove build outputs and installed tools
	rm -rf $(BIN) dist $(TOOLS)
