package cluster_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
	"ergo.services/ergo/net/edf"
	"ergo.services/ergo/net/registrar"
	enode "ergo.services/ergo/node"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/cluster/internal/testkit"
)

// Ergo's own actors doing what BenchmarkRemoteSend and BenchmarkRemoteCall
// do through the bridge: two Ergo nodes in this process, a sender (the
// node itself, as the bridge's callers are goroutines, not Ergo
// processes) and a process on the other node that counts, or answers.
// The messages are the same testkit.Ping, registered with EDF.

type ergoCounter struct {
	act.Actor
	n    *atomic.Int64
	want int64
	done chan struct{}
}

func (c *ergoCounter) HandleMessage(from gen.PID, message any) error {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
	return nil
}

func (c *ergoCounter) HandleCall(from gen.PID, ref gen.Ref, request any) (any, error) {
	return request, nil
}

func ergoPair(b *testing.B, want int64) (gen.Node, gen.ProcessID, chan struct{}) {
	if err := edf.RegisterTypeOf(testkit.Ping{}); err != nil && !errors.Is(err, gen.ErrTaken) {
		b.Fatal(err)
	}
	reg := freePort(b)
	start := func(name string) gen.Node {
		opts := gen.NodeOptions{Network: gen.NetworkOptions{
			Cookie: cookie, Registrar: registrar.Create(registrar.Options{Port: reg}),
			Acceptors: []gen.AcceptorOptions{{Host: "localhost"}},
		}, Log: gen.LogOptions{Level: gen.LogLevelError, DefaultLogger: gen.DefaultLoggerOptions{Disable: true}}}
		n, err := enode.Start(gen.Atom(name), opts, ergo.FrameworkVersion)
		require.NoError(b, err)
		b.Cleanup(func() { n.Stop(); n.Wait() })
		return n
	}
	a, z := start("ea@localhost"), start("eb@localhost")
	done := make(chan struct{})
	var count atomic.Int64
	_, err := z.SpawnRegister("counter", func() gen.ProcessBehavior {
		return &ergoCounter{n: &count, want: want, done: done}
	}, gen.ProcessOptions{})
	require.NoError(b, err)
	return a, gen.ProcessID{Name: "counter", Node: z.Name()}, done
}

func BenchmarkErgoRemoteSend(b *testing.B) {
	a, to, done := ergoPair(b, int64(b.N))
	b.ResetTimer()
	for i := range b.N {
		if err := a.Send(to, testkit.Ping{From: "a", N: int64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatal("not every message arrived")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkErgoRemoteCall(b *testing.B) {
	a, to, _ := ergoPair(b, -1)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := a.Call(to, testkit.Ping{From: "a", N: int64(i)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportRoundTrips(b, lat)
}
