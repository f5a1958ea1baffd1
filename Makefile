# The two commands a new machine needs: `make quickstart` (or `go run ./examples/quickstart`) and `make test`.
GO        ?= go
NODE_DIRS := $(patsubst %/package.json,%,$(wildcard */testdata/node/package.json))

.PHONY: test deps vet fmt-check quickstart bench fuzz soak bench-proxy bench-out build

## test: install test peers, vet, and run every test with the race detector
GWAPI_REPORT := $(or $(TMPDIR),/tmp)/agentgateway-gwapi-conformance.txt
test: deps vet fmt-check
	@rm -f $(GWAPI_REPORT)
	AGW_INTEROP=1 AGW_GWAPI_REPORT=$(GWAPI_REPORT) $(GO) test -race -count=1 -timeout 15m ./...
	@cat $(GWAPI_REPORT) 2>/dev/null || true

## build: the release binary (bin/agentgateway): no symbol table or DWARF (-s -w) and no build-machine
## paths (-trimpath): ~30% smaller file; what the process maps and touches (text, rodata, pclntab) is
## the same, so its resident memory is too
build:
	$(GO) build -trimpath -ldflags='-s -w' -o bin/agentgateway ./cmd/agentgateway

## deps: Go modules (pinned by go.sum) and npm test peers (pinned by package-lock.json)
deps:
	$(GO) mod download
	@for d in $(NODE_DIRS); do \
		echo "npm ci --prefix $$d"; \
		npm ci --prefix $$d --no-audit --no-fund --loglevel=error || exit 1; \
	done

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## quickstart: a gateway on 127.0.0.1:8080 with embedded demo backends
quickstart:
	$(GO) run ./examples/quickstart

## bench: the benchmarks whose figures the issues report (compare runs with benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

## soak: the load-and-fault suite against the built binary (SOAK=10m by default; not part of test)
SOAK ?= 10m
soak: deps
	AGW_SOAK=$(SOAK) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 30m ./cmd/agentgateway

## bench-proxy: CPU per request against nginx and Caddy, out of process (needs nginx-light caddy wrk)
bench-proxy:
	scripts/bench-proxy.sh

## bench-out: the other out-of-process figures: MCP hop, LLM stream hop, RSS idle and under load
bench-out:
	$(GO) run ./scripts/mcpbench
	$(GO) run ./scripts/llmbench
	$(GO) run ./scripts/rssbench

## fuzz: run every fuzz target for FUZZTIME each
FUZZTIME ?= 30s
# Minimizing each new input may take 60s by default, during which the workers stop fuzzing; on slow
# targets (gwapi's FuzzTranslate) that left a 60s run with ~13k executions instead of ~70k.
FUZZMINIMIZE ?= 5s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
		done; \
	done
