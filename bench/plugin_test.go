package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/bench/internal/w6"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// w6Build is the cmd/w6plugin executable, built on first use, once per test
// binary, into pluginDir (made and removed by TestMain): a plain `go test`
// that runs no W6 test pays nothing, and every W6 run reuses the one build.
var w6Build struct {
	once sync.Once
	exe  plugintest.Executable
	err  error
}

// pluginDir is where the plugin executables go; set by TestMain before any
// test runs.
var pluginDir string

func w6Plugin(tb testing.TB) plugintest.Executable {
	tb.Helper()
	w6Build.once.Do(func() {
		// Relative to the package directory, where go test runs.
		w6Build.exe, w6Build.err = plugintest.Build(pluginDir, "w6plugin", "./cmd/w6plugin", nil)
	})
	require.NoError(tb, w6Build.err, "building the W6 plugin")
	return w6Build.exe
}

// BenchmarkW6 is W6 (see plugin.go), one fresh system per b.N iteration;
// run it with -benchtime=1x and -count=N like the other workloads. Metrics:
//
//	msg/s   messages handled per second, from the first send to the stats
//	        reply (all iterations together)
//	p50-us  median latency of a message, from the host's send to the
//	        plugin's handler (the mean over the iterations of each run's)
//	p99-us  99th percentile of the same
//
// batched and unbatched send as fast as Send returns, so their latency is
// mostly time queued in the mailbox: it says how far behind the plugin
// falls, not how fast one message crosses. paced-25k stays below
// saturation and gives that. Under -short they send 5,000, 1,000 and 0.2 s
// worth.
func BenchmarkW6(b *testing.B) {
	ref := w6Plugin(b).Ref(w6.Module, w6.Version)
	short := testing.Short()
	pick := func(full, small int) int {
		if short {
			return small
		}
		return full
	}
	paceFor := PluginPacedFor
	if short {
		paceFor /= 10
	}
	for _, c := range []struct {
		name string
		cfg  PluginConfig
	}{
		{"batched", PluginConfig{Ref: ref, Messages: pick(PluginMessages, 5_000)}},
		{"unbatched", PluginConfig{Ref: ref, MaxBatch: 1, Messages: pick(PluginUnbatchedMessages, 1_000)}},
		{"paced-25k", PluginConfig{Ref: ref, Rate: PluginPacedRate, For: paceFor}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var handled, p50, p99 float64
			var elapsed float64 // seconds
			for range b.N {
				r, err := graftPlugin(c.cfg)
				require.NoError(b, err) // includes a lost message
				handled += float64(r.Stats.Handled)
				elapsed += r.Elapsed.Seconds()
				p50 += float64(r.Stats.P50ns) / 1e3
				p99 += float64(r.Stats.P99ns) / 1e3
			}
			n := float64(b.N)
			b.ReportMetric(handled/elapsed, "msg/s")
			b.ReportMetric(p50/n, "p50-us")
			b.ReportMetric(p99/n, "p99-us")
		})
	}
}

// TestW6Smoke runs W6's batched workload at a small size, so that a plain
// `go test` (with -race too) checks that the plugin builds, loads and
// handles every message, and that the figures come back.
func TestW6Smoke(t *testing.T) {
	const n = 2_000
	r, err := graftPlugin(PluginConfig{Ref: w6Plugin(t).Ref(w6.Module, w6.Version), Messages: n})
	require.NoError(t, err)
	t.Logf("%d messages in %v: %.0f msg/s, latency p50 %.1f µs, p99 %.1f µs",
		r.Sent, r.Elapsed, r.Throughput(), float64(r.Stats.P50ns)/1e3, float64(r.Stats.P99ns)/1e3)
	assert.Equal(t, n, r.Sent)
	assert.Equal(t, int64(n), r.Stats.Handled, "every message handled once")
	assert.Positive(t, r.Throughput())
	assert.Positive(t, r.Stats.P50ns)
	assert.GreaterOrEqual(t, r.Stats.P99ns, r.Stats.P50ns)
}

// TestW6Paced checks the paced sender: rate·d messages, all handled.
func TestW6Paced(t *testing.T) {
	r, err := graftPlugin(PluginConfig{Ref: w6Plugin(t).Ref(w6.Module, w6.Version), Rate: 10_000, For: 50 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 500, r.Sent, "10k msg/s for 50 ms")
	assert.Equal(t, int64(500), r.Stats.Handled)
}
