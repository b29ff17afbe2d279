# Targets need only Go (and, for -race, the C compiler cgo uses); modules
# come through the module proxy. The live view's browser test needs
# Debian's chromium, which make test installs when it is missing.
#
#   make run [ARGS='-duration 30s']   bin/graft, then the bank demo (examples/bank)
#   make test                         vet + race tests (with the CI-sized chaos run),
#                                     short fuzz runs: root module, admin/, cmd/graft/,
#                                     examples/, bench/ and the live view in headless
#                                     Chromium (test/browser)
#   make browser-deps                 install Debian's chromium if it is missing
#   make chaos [CHAOS='-chaos.duration=10m']
#                                     the long chaos run (docs/reliability.md)
#   make model [MODEL='-model.runs=2500']
#                                     the long run of the model-based upgrade test
#   make bench [COUNT=5]              comparison benchmarks (bench/run.sh)
#   make lint                         gofmt check + vet, every module
#   make build                        bin/graft (the command, module cmd/graft)
#   make plugins                      the examples' plugin versions, in bin/plugins
#   make generate                     regenerate the plugin protocol (needs protoc)

GO ?= go

# protoactor-go and hollywood both register "actor.proto"; a test binary
# linking both panics at init without this (see bench/run.sh).
BENCH_ENV := GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn

.PHONY: run test browser-deps fuzz chaos model bench lint build plugins generate

# The demo runs from here, so that the paths it prints (bin/graft,
# bin/plugins/account-v4) are where its commands find them.
run: build
	cd examples && $(GO) build -o ../bin/bank ./bank/cmd/bank
	bin/bank $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...
	$(MAKE) fuzz
	cd admin && $(GO) vet ./... && $(GO) test -race -timeout 10m ./...
	cd cmd/graft && $(GO) vet ./... && $(GO) test -race -timeout 10m ./...
	cd examples && $(GO) vet ./... && $(GO) test -race -timeout 10m ./...
	$(MAKE) browser-deps
	cd test/browser && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 5m ./...
	cd bench && $(GO) vet ./...
	cd bench && $(BENCH_ENV) $(GO) test -race -short ./...
	# Ergo's workloads are skipped under -race (Ergo races with itself):
	# checked here without it.
	cd bench && $(BENCH_ENV) $(GO) test -short -count=1 -run 'TestWorkloads/ergo' .

# Debian's chromium for test/browser, installed only when missing (about
# 10 s on a CI machine: 115 MB of packages). As root, or through sudo.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" -eq 0 ]; then sudo=; \
		elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
		else echo "browser-deps: installing chromium needs root or sudo"; exit 1; fi; \
		echo "installing Debian's chromium"; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	}

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time);
# the seed corpus is in each package's testdata/fuzz.
FUZZTIME ?= 5s
FUZZ := ./upgrade:FuzzParsePlan ./upgrade/plugin/codec:FuzzDecode \
	./upgrade/plugin/sdk:FuzzHandle ./supervisor:FuzzValidate

fuzz:
	@for f in $(FUZZ); do \
		pkg=$${f%%:*}; name=$${f#*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done
	@echo "fuzz FuzzPlanEndpoint (./admin, $(FUZZTIME))"
	cd admin && $(GO) test -run '^$$' -fuzz '^FuzzPlanEndpoint$$' -fuzztime $(FUZZTIME) .

# The long chaos run: faults until the duration passes, then the summary.
CHAOS ?= -chaos.duration=10m
chaos:
	$(GO) test -count=1 -timeout 60m -run '^TestChaos$$' -v ./test/ -args -chaos.faults=0 $(CHAOS)

# The model-based upgrade test, longer than make test's 5,000 plans (each
# run is a fresh system and 20 plans): -model.seed=N replays one run.
MODEL ?= -model.runs=2500
model:
	$(GO) test -count=1 -timeout 60m -run '^TestUpgradeModel$$' ./test/ -args $(MODEL)

bench:
	bash bench/run.sh $(or $(COUNT),5)

lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
	fi
	$(GO) vet ./...
	cd admin && $(GO) vet ./...
	cd cmd/graft && $(GO) vet ./...
	cd examples && $(GO) vet ./...
	cd test/browser && $(GO) vet ./...
	cd bench && $(GO) vet ./...

build:
	cd cmd/graft && $(GO) build -o ../../bin/graft .

# Each executable is one module version served out of process; the
# checksum is what upgrade.Ref.Checksum must be to load it. Packages are
# in the examples module.
PLUGINS := visits-v2:./plugin/v2 visits-v3:./plugin/v3 account-v4:./bank/account/v4

plugins:
	@mkdir -p bin/plugins
	@for p in $(PLUGINS); do \
		name=$${p%%:*}; pkg=$${p#*:}; \
		(cd examples && $(GO) build -o ../bin/plugins/$$name $$pkg) || exit 1; \
		echo "bin/plugins/$$name sha256=$$(sha256sum bin/plugins/$$name | cut -d' ' -f1)"; \
	done

# protoc comes from Debian's protobuf-compiler; the Go plugins are pinned
# here. The generated code is committed, so only protocol changes need this.
generate:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	cd upgrade/plugin/internal/pb && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative module.proto
