# Targets need only Go (and, for -race, the C compiler cgo uses); modules
# come through the module proxy. The live view's browser test needs
# Debian's chromium, which make test installs when it is missing.
#
#   make run [ARGS='-duration 30s']   bin/graft, then the bank demo (examples/bank)
#   make cluster-demo [ARGS=...]      four nodes, a cluster-wide upgrade with a node
#                                     killed midway (cluster/example)
#   make test                         the lean check, go mod tidy -diff, go vet and
#                                     go test (-race but for test/browser, cluster and bench) in every module (with
#                                     the CI-sized chaos run and the live view in
#                                     headless Chromium), then short fuzz runs
#   make lean                         the core module needs only zap (see below)
#   make tidy                         go mod tidy -diff, every module
#   make browser-deps                 install Debian's chromium if it is missing
#   make chaos [CHAOS='-chaos.duration=10m']
#                                     the long chaos run (docs/reliability.md)
#   make model [MODEL='-model.runs=2500']
#                                     the long run of the model-based upgrade test
#   make bench [COUNT=5]              comparison benchmarks (bench/run.sh)
#   make lint                         go mod tidy -diff, gofmt check, go vet: every module
#   make build                        bin/graft (the command, module cmd/graft)
#   make plugins                      the examples' plugin versions, in bin/plugins
#   make handoff-demo [SWAPS=20]      two builds of examples/handoff swapped under load
#   make generate                     regenerate the plugin protocol (needs protoc)

GO ?= go

# protoactor-go and hollywood both register "actor.proto"; a test binary
# linking both panics at init without this (see bench/run.sh).
BENCH_ENV := GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn

.PHONY: run cluster-demo test vet tidy lean browser-deps fuzz chaos model bench lint build plugins generate handoff-demo

# The demo runs from here, so that the paths it prints (bin/graft,
# bin/plugins/account-v4) are where its commands find them.
run: build
	cd examples && $(GO) build -o ../bin/bank ./bank/cmd/bank
	bin/bank $(ARGS)

# Four nodes on this machine: a cluster-wide upgrade under load that loses
# a node midway and rolls back, then commits on the nodes left; the books
# at the end (cluster/example/README.md).
cluster-demo:
	cd cluster && $(GO) build -o ../bin/cluster-demo ./example
	bin/cluster-demo $(ARGS)

# The repository's modules, each with its own go.mod (docs/architecture.md
# says what each holds and why): the core, which needs only zap; the plugin
# host and SDK (gRPC, protobuf, go-plugin); the admin API (Prometheus); the
# graft command (cobra); the examples; the project's own suites; the live
# view's browser test (chromedp); the bridge to Ergo's network (cluster);
# the benchmarks and their peers. Every target that vets, tests or tidies
# loops over this list.
MODULES := . upgrade/plugin admin cmd/graft examples test test/browser cluster bench

# go test's flags and environment per module in make test (default
# TESTFLAGS). The test module runs the CI-sized chaos suite (10,000
# faults) and the model-based upgrade test. Two modules run without the
# race detector, to keep a cold build within CI's budget: the browser
# test (chromedp's code is not ours; the admin API it drives is raced in
# admin/), and bench/, whose workloads run small (-short) and whose peers
# (Ergo races with itself) are not ours either; graft's own code is raced
# in the core module.
TESTFLAGS := -race -timeout 10m
TESTFLAGS_. := -race -timeout 20m
TESTFLAGS_test := -race -timeout 20m
TESTFLAGS_test/browser := -count=1 -timeout 5m
TESTFLAGS_bench := -short -count=1
# cluster/ runs without the race detector too: Ergo's registrar and
# connection shutdown race with themselves (net/registrar client and
# server Terminate, proto connection Terminate), which -race reports in
# every test that stops a node; the bridge's own state is guarded by one
# mutex, and the actor package's side of it (actor.Remote) is raced in the
# core module. Its tests start node processes and take tens of seconds.
TESTFLAGS_cluster := -count=1 -timeout 5m
TESTENV_bench := $(BENCH_ENV)

# One recipe line per module: cd there, go test with its flags.
define test-module
cd $(1) && $(TESTENV_$(1)) $(GO) test $(or $(TESTFLAGS_$(1)),$(TESTFLAGS)) ./...

endef

test: lean tidy browser-deps vet
	$(foreach m,$(MODULES),$(call test-module,$(m)))
	$(MAKE) fuzz

# go mod tidy -diff in every module: fails, showing the diff, when a go.mod
# or go.sum is not what go mod tidy would write.
tidy:
	@for m in $(MODULES); do \
		echo "go mod tidy -diff ($$m)"; \
		(cd $$m && $(GO) mod tidy -diff) || { echo "$$m: run go mod tidy there"; exit 1; }; \
	done

# The core stays lean. Three checks:
#  1. the core's runtime packages (all but the test kits actortest and
#     upgradetest, which link testify and goleak) build from the standard
#     library, the core module and zap (with multierr) alone;
#  2. a program that imports actor and supervisor (a scratch module, with
#     a replace to this tree) requires, after go mod tidy, nothing but
#     Graft and zap (with multierr);
#  3. and its module graph, where the versions it selects come from, holds
#     nothing that a program importing zap, testify and goleak alone (the
#     core's test libraries) would not have: no gRPC, protobuf or
#     go-plugin (the plugin module's), cobra (the command's), Prometheus
#     (the admin module's).
LEAN_ALLOWED := github.com/graftrt/graft go.uber.org/zap go.uber.org/multierr
LEAN_BASE := go.uber.org/zap github.com/stretchr/testify go.uber.org/goleak
lean:
	@pkgs="$$($(GO) list ./mailbox/... ./actor/... ./upgrade/... ./supervisor/... ./handoff/... | grep -v 'test$$')"; \
	mods="$$($(GO) list -deps -f '{{if not .Standard}}{{.Module.Path}}{{end}}' $$pkgs | sort -u)"; \
	echo "lean: the core's runtime packages build from: std $$(echo $$mods)"; \
	for m in $$mods; do \
		case " $(LEAN_ALLOWED) " in *" $$m "*) ;; *) echo "lean: the core needs $$m"; exit 1;; esac; \
	done
	@dir="$$(mktemp -d)"; trap 'rm -rf "$$dir"' EXIT; mkdir "$$dir/core" "$$dir/base"; \
	printf 'module leancheck\n\ngo 1.26.0\n\nreplace github.com/graftrt/graft => %s\n\nrequire github.com/graftrt/graft v0.0.0\n' "$(CURDIR)" >"$$dir/core/go.mod"; \
	printf 'package main\n\nimport (\n\t_ "github.com/graftrt/graft/actor"\n\t_ "github.com/graftrt/graft/supervisor"\n)\n\nfunc main() {}\n' >"$$dir/core/main.go"; \
	(cd "$$dir/core" && $(GO) mod tidy && $(GO) build -o /dev/null .) || exit 1; \
	reqs="$$(sed -n -e 's/^require \([^ (]*\) .*/\1/p' -e '/^require (/,/^)/s/^[[:space:]][[:space:]]*\([^ )]*\) .*/\1/p' "$$dir/core/go.mod" | sort)"; \
	echo "lean: a program importing actor and supervisor requires: $$(echo $$reqs)"; \
	for m in $$reqs; do \
		case " $(LEAN_ALLOWED) " in *" $$m "*) ;; *) echo "lean: importing actor and supervisor requires $$m"; cat "$$dir/core/go.mod"; exit 1;; esac; \
	done; \
	printf 'module leanbase\n\ngo 1.26.0\n' >"$$dir/base/go.mod"; \
	for m in $(LEAN_BASE); do \
		printf 'require %s %s\n' $$m "$$($(GO) list -m -f '{{.Version}}' $$m)" >>"$$dir/base/go.mod"; \
	done; \
	printf 'package main\n\nimport (\n\t_ "github.com/stretchr/testify/assert"\n\t_ "go.uber.org/goleak"\n\t_ "go.uber.org/zap"\n)\n\nfunc main() {}\n' >"$$dir/base/main.go"; \
	(cd "$$dir/base" && $(GO) mod tidy) || exit 1; \
	base=" $$(cd "$$dir/base" && $(GO) list -m -f '{{if not .Main}}{{.Path}}{{end}}' all | tr '\n' ' ')"; \
	graph="$$(cd "$$dir/core" && $(GO) list -m -f '{{if not .Main}}{{.Path}}{{end}}' all)"; \
	echo "lean: its module graph: $$(echo $$graph)"; \
	for m in $$graph; do \
		case "$$m $$base" in "github.com/graftrt/graft "*|*" $$m "*) ;; \
		*) echo "lean: importing actor and supervisor brings $$m into the importer's module graph"; exit 1;; esac; \
	done

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

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time),
# as module:package:target, run from its module's directory; the seed
# corpus is in each package's testdata/fuzz. A count of executions, not a
# duration: with a duration, Go 1.26's fuzzing coordinator can fail a
# target with a bare "context deadline exceeded" at the deadline, no input
# found (go.dev/issue/75804, fixed in Go 1.27). 20,000 runs take 1-4 s
# here. FUZZTIME=1m still fuzzes for a minute.
FUZZTIME ?= 20000x
FUZZ := .:./upgrade:FuzzParsePlan .:./supervisor:FuzzValidate \
	upgrade/plugin:./codec:FuzzDecode upgrade/plugin:./sdk:FuzzHandle \
	admin:.:FuzzPlanEndpoint

fuzz:
	@for f in $(FUZZ); do \
		mod=$${f%%:*}; rest=$${f#*:}; pkg=$${rest%%:*}; name=$${rest#*:}; \
		echo "fuzz $$name ($$mod: $$pkg, $(FUZZTIME))"; \
		(cd $$mod && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg) || exit 1; \
	done

# The long chaos run (module test): faults until the duration passes, then
# the summary.
CHAOS ?= -chaos.duration=10m
chaos:
	cd test && $(GO) test -count=1 -timeout 60m -run '^TestChaos$$' -v . -args -chaos.faults=0 $(CHAOS)

# The model-based upgrade test, longer than make test's 5,000 plans (each
# run is a fresh system and 20 plans): -model.seed=N replays one run.
MODEL ?= -model.runs=2500
model:
	cd test && $(GO) test -count=1 -timeout 60m -run '^TestUpgradeModel$$' . -args $(MODEL)

bench:
	bash bench/run.sh $(or $(COUNT),5)

lint: tidy vet
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
	fi

vet:
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done

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

# The handoff example (examples/handoff): its test builds the service twice
# with go build (v1 and v2 of its account module), fails four other builds
# at four steps, then swaps the two SWAPS times under load and prints each
# swap's report line and the books.
SWAPS ?= 20
handoff-demo:
	cd examples && $(GO) test -count=1 -v -run '^TestSwapUnderLoad$$' ./handoff -args -handoff.swaps=$(SWAPS)

# protoc comes from Debian's protobuf-compiler; the Go plugins are pinned
# here, at the versions the plugin module (upgrade/plugin/go.mod) requires.
# The generated code is committed, so only protocol changes need this.
generate:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	cd upgrade/plugin/internal/pb && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative module.proto
