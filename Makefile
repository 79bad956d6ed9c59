# tickcompact: see README.md. Everything a fresh machine needs is installed from here.
GO ?= go
export CGO_ENABLED := 1

.PHONY: all build test test-helm test-integration test-browser test-containers demo bench fuzz deps-redis kafka-start kafka-stop clean

all: build

## build: compile every command into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## deps-redis: install Debian's redis-server when missing (the sink tests need a real one)
deps-redis:
	@scripts/ensure-redis.sh

## test: vet and the whole fast tier (embedded Kafka, real redis-server, the alert rules' promtool tests),
## then test-helm
test: deps-redis
	$(GO) vet ./...
	$(GO) vet -tags containers ./internal/tools/deploycheck/
	PROMTOOL="$$(scripts/ensure-promtool.sh)" $(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory test-helm

## test-helm: the Helm chart rendered with the Helm v4 SDK and checked (deploy/helmtest, a module of its own)
test-helm:
	cd deploy/helmtest && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

## test-browser: the gateway's live page in headless Chromium against the demo pipeline (installs Debian's chromium);
## SCREENSHOT=docs/img/gateway.png refreshes the README's screenshot
test-browser: deps-redis
	scripts/browser-test.sh

## test-integration: every TestE2E* scenario against a real Apache Kafka broker (needs Java 17+ and Maven)
test-integration: deps-redis
	scripts/integration.sh

## test-containers: build the images and run docker-compose.yml on podman, step by step (installs podman)
test-containers:
	scripts/test-containers.sh

## demo: the whole pipeline in one process with an embedded broker and Redis; ARGS="--rate 2000" to pass flags
demo:
	@GO="$(GO)" scripts/demo.sh $(ARGS)

## bench: speed, latency and memory beside their limits, as one table (real broker when kafka-start runs one)
bench: deps-redis
	scripts/bench.sh $(ARGS)

## fuzz: fuzz the trade parser and the decimal parsing for FUZZTIME (default 30s) each; a new
## input is minimised for at most FUZZMINIMIZE (default 5s): Go's 60 s default would stall the run
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz 'FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./aggregator/trade/
	$(GO) test -run '^$$' -fuzz FuzzScanMatchesEncodingJSON -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./aggregator/trade/
	$(GO) test -run '^$$' -fuzz 'FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./aggregator/decimal/

## kafka-start / kafka-stop: a real single-node broker on 127.0.0.1:19092 for manual runs
kafka-start:
	scripts/kafka-local.sh start
kafka-stop:
	scripts/kafka-local.sh stop

clean:
	rm -rf bin/
