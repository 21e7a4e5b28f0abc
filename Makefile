# TicketView. `make run` starts a single node with embedded storage on :8080;
# `make test` is the one test command (CI runs it through .ci/run).
GO        ?= go
PKGS      := ./...
BENCHTIME ?= 2s

.PHONY: run run-prod cluster cluster-stop cluster-status proto migrate services build test test-short lint bench bench-full bench-micro bench-domain bench-actors bench-stores bench-cluster fuzz clean

# Everything embedded: needs nothing but Go.
run:
	$(GO) run ./cmd/node -data ./data -http :8080

# Against local PostgreSQL, Redis and a MongoDB-compatible server (FerretDB is started
# when no MongoDB answers on 127.0.0.1:27017). See scripts/run-prod.
run-prod:
	GO=$(GO) scripts/run-prod

# A local cluster: 3 nodes and a gateway on loopback ports against local PostgreSQL and
# Redis, demo event loaded (see scripts/cluster). The gateway serves on :8080.
cluster:
	GO=$(GO) scripts/cluster start

cluster-stop:
	GO=$(GO) scripts/cluster stop

cluster-status:
	GO=$(GO) scripts/cluster status

# Regenerates the grain contract (needs protoc and protoc-gen-go).
proto:
	protoc -I. --go_out=. --go_opt=paths=source_relative cluster/grain.proto

# Applies the PostgreSQL migrations to TICKETVIEW_POSTGRES_URL.
migrate:
	$(GO) run ./cmd/node migrate

# Starts PostgreSQL and Redis for the tests when they are not running.
services:
	scripts/test-services

build:
	mkdir -p bin
	$(GO) build -o bin/ticketview-node ./cmd/node
	$(GO) build -o bin/ticketview-gateway ./cmd/gateway
	$(GO) build -o bin/ferretdev ./internal/cmd/ferretdev

test: lint services
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	# Several cluster members in one process: protoactor's own races would fail -race.
	$(GO) test -count=1 -timeout 5m -run 'InProcess' ./cluster/

test-short:
	$(GO) test -count=1 -short $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The flash-sale harness (bench/): TicketView against the PostgreSQL and Redis designs,
# short version (under 3 minutes); results and plots in bench/results/short.
bench: services
	$(GO) run ./bench -short

# The full comparison the README's table comes from (bench/results/latest).
bench-full: services
	$(GO) run ./bench

# The go test benchmarks of the domain, the actors and the stores.
bench-micro: bench-domain bench-actors bench-stores

bench-domain:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) .

# GOGC=400 is what cmd/node runs with (see DefaultGOGC there).
bench-actors:
	GOGC=400 $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./actors/ ./persistence/...

# The production adapters against the local servers (make services).
bench-cluster: services
	$(GO) run ./bench/cluster -nodes 1,3 -duration 10s -kills 10 2>/dev/null

bench-stores: services
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./persistence/postgres/ ./persistence/redis/ ./persistence/mongo/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzSectionCommands -fuzztime 60s .

clean:
	rm -rf bin data
