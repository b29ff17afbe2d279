# Targets need only Go (and, for -race, the C compiler cgo uses); modules
# come through the module proxy.
#
#   make run [ARGS='--duration 3s']   run a node with the demo service
#   make test                         vet + race tests, root module and bench/
#   make bench [COUNT=5]              comparison benchmarks (bench/run.sh)
#   make lint                         gofmt check + vet, both modules
#   make build                        bin/graft

GO ?= go

# protoactor-go and hollywood both register "actor.proto"; a test binary
# linking both panics at init without this (see bench/run.sh).
BENCH_ENV := GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn

.PHONY: run test bench lint build

run:
	$(GO) run ./cmd/graft run $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race ./...
	cd bench && $(GO) vet ./...
	cd bench && $(BENCH_ENV) $(GO) test -race -short ./...

bench:
	bash bench/run.sh $(or $(COUNT),5)

lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
	fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

build:
	$(GO) build -o bin/graft ./cmd/graft
