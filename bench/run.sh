#!/usr/bin/env bash
# Runs the comparison benchmarks and prints a table of medians.
#
#   bash bench/run.sh [COUNT]     (default COUNT=5; `make bench` calls this)
#
# Prints the raw `go test -bench` lines as they come (so that a long run shows
# progress and the output can be saved for benchstat), then the markdown table
# from cmd/benchtable, then the root module's BenchmarkPickup if it exists.
# Exits non-zero if any benchmark failed, after printing what it has.
set -euo pipefail

count="${1:-5}"
if ! [[ "$count" =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [COUNT]  (COUNT a positive integer, default 5)" >&2
	exit 2
fi

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root_dir="$(dirname "$bench_dir")"

# protoactor-go and hollywood both register the protobuf file "actor.proto";
# a binary linking both panics in package init unless this is set. It has to
# be in the environment: init runs before TestMain could set it.
export GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn
# The figures in shared/FACTS.md and the peers' were taken at 2; the machines
# have 2 cores, and fixing it keeps runs on larger machines comparable.
export GOMAXPROCS=2

raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT

status=0
cd "$bench_dir"
# -benchtime=1x: every iteration is a whole workload on a fresh system;
# -count gives the runs that benchtable takes medians over. One run of the
# suite takes about a minute here, so the default 10m test timeout is too short.
go test -run '^$' -bench . -benchtime=1x -count="$count" -timeout 120m . | tee "$raw" || status=$?

echo
go run ./cmd/benchtable <"$raw" || status=$?

if grep -qs '^func BenchmarkPickup' "$root_dir"/actor/*_test.go; then
	echo
	echo "Root module, per-message version pickup (./actor, BenchmarkPickup):"
	echo
	if pickup="$(cd "$root_dir" && go test -run '^$' -bench BenchmarkPickup ./actor/ 2>&1)"; then
		grep '^BenchmarkPickup' <<<"$pickup" || true
	else
		status=1
		echo "$pickup" >&2
	fi
fi

exit "$status"
