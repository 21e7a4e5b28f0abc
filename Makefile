# TicketView. `make run` starts a single node with embedded storage on :8080;
# `make test` is the one test command (CI runs it through .ci/run).
GO        ?= go
PKGS      := ./...
BENCHTIME ?= 2s

.PHONY: run build test test-short lint bench bench-domain bench-actors fuzz clean

run:
	$(GO) run ./cmd/node -data ./data -http :8080

build:
	mkdir -p bin
	$(GO) build -o bin/ticketview-node ./cmd/node
	$(GO) build -o bin/ticketview-gateway ./cmd/gateway

test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench: bench-domain bench-actors

bench-domain:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) .

# GOGC=400 is what cmd/node runs with (see DefaultGOGC there).
bench-actors:
	GOGC=400 $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./actors/ ./persistence/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzSectionCommands -fuzztime 60s .

clean:
	rm -rf bin data
