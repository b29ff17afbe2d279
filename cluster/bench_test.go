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

// BenchmarkRemoteCall: one caller, a round trip at a time; p50 and p99.
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
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
