// Command w6plugin is module "w6" v1, the plugin version that workload W6
// (one plugin-backed actor, see bench/plugin.go) sends its messages to. The
// benchmarks build it with plugintest.Build; run by hand it only prints a
// note, since it must be started by a Graft host.
//
// Its state is a count of the data messages handled, deliberately tiny: the
// state crosses the process boundary with every batch, and W6 measures the
// messages, not the state. The latency of each message (the plugin's wall
// clock when handling it less the host's when sending it; both run on the
// same machine) is kept outside the state, in this process, and summarised
// on request: it is a measurement, not something the module would migrate.
package main

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/graftrt/graft/bench/internal/w6"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// latencies holds the latency of every data message handled since the last
// OpStats. The host sends one actor's batches one after another, but the
// gRPC server may run each on a goroutine of its own, hence the mutex.
var latencies = struct {
	sync.Mutex
	ns []int64
}{ns: make([]int64, 0, 1<<18)} // room for a whole W6 run without growing

func main() {
	sdk.Serve(sdk.Module[int64, w6.Msg]{
		Name: w6.Module, Version: w6.Version,
		Handle: handle,
	})
}

func handle(ctx *sdk.Context, handled int64, m w6.Msg) (int64, error) {
	if m.Op == w6.OpStats {
		p50, p99 := takePercentiles()
		return handled, ctx.Reply(w6.Stats{Handled: handled, P50ns: p50, P99ns: p99})
	}
	// Read the clock first: the latency ends when the handler sees the
	// message, not after the bookkeeping.
	d := time.Now().UnixNano() - m.Sent
	latencies.Lock()
	latencies.ns = append(latencies.ns, d)
	latencies.Unlock()
	return handled + 1, nil
}

// takePercentiles returns the 50th and 99th percentiles of the recorded
// latencies (nearest rank, as package bench computes its own) and forgets
// them, so that the next OpStats covers only what came after.
func takePercentiles() (p50, p99 int64) {
	latencies.Lock()
	defer latencies.Unlock()
	s := latencies.ns
	latencies.ns = latencies.ns[:0]
	if len(s) == 0 {
		return 0, 0
	}
	slices.Sort(s)
	rank := func(p float64) int64 {
		return s[max(int(math.Ceil(p/100*float64(len(s))))-1, 0)]
	}
	return rank(50), rank(99)
}
