package cluster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// benchPair is two nodes in this process, over loopback, and the echo
// process on the second as the first sees it.
func benchPair(b *testing.B) (*cluster.Node, actor.PID) {
	reg := freePort(b)
	_, a := joinLocal(b, "a@localhost", reg)
	sysB, _ := joinLocal(b, "b@localhost", reg)
	_, err := sysB.Spawn("echo", nil, actor.WithName("echo"))
	require.NoError(b, err)
	far, err := a.Whereis(ctxWait(b), cluster.Name{Name: "echo", Node: "b@localhost"})
	require.NoError(b, err)
	return a, far
}

// BenchmarkRemoteSend: one sender, messages to a process on the other
// node, until the last is handled (a call behind them answers).
func BenchmarkRemoteSend(b *testing.B) {
	a, far := benchPair(b)
	sys := a.System()
	b.ResetTimer()
	for i := range b.N {
		if err := sys.Send(far, testkit.Ping{From: "a", N: int64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	n, err := sys.Call(ctxWait(b), far, testkit.Seen{})
	require.NoError(b, err)
	require.Equal(b, int64(b.N), n)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// reportRoundTrips reports the round trips' p50, p99 and mean. The mean
// matters beside the median: Ergo's own calls have a slow mode of about a
// millisecond (docs/cluster.md), rare or frequent by the machine's state,
// which sets their mean and p99 and not their median.
func reportRoundTrips(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat)), "mean-µs")
}

// BenchmarkRemoteCall: one caller, a round trip at a time; p50, p99, mean.
func BenchmarkRemoteCall(b *testing.B) {
	a, far := benchPair(b)
	sys := a.System()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := sys.Call(ctxWait(b), far, testkit.Ping{From: "a", N: int64(i)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportRoundTrips(b, lat)
}
