package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/upgrade"
)

// BenchmarkClusterUpgrade3x10k upgrades three node processes of 10,000
// counters each, back and forth between v1 and v2, one node per wave,
// while this node sends increments to them by name; every increment sent
// must be handled (lost = 0). Reported: the time of one cluster-wide
// upgrade, the longest pause of a process on any node, the load's rate.
func BenchmarkClusterUpgrade3x10k(b *testing.B) {
	const per = 10000
	reg := freePort(b)
	_, n := joinLocal(b, "t@localhost", reg)
	nodes := []string{"b@localhost", "c@localhost", "d@localhost"}
	for _, name := range nodes {
		startNode(b, name, reg, "-counters", fmt.Sprint(per))
	}

	var sent int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			node := nodes[i%len(nodes)]
			if n.SendNamed(cluster.Name{Name: fmt.Sprint("counter", (i/len(nodes))%per), Node: node}, int64(1)) == nil {
				sent++
			}
		}
	})

	var maxPause time.Duration
	b.ResetTimer()
	for i := range b.N {
		to := "v2"
		if i%2 == 1 {
			to = "v1"
		}
		rep, err := n.UpgradeCluster(context.Background(), cluster.ClusterUpgrade{
			Plan:  upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: to}}, Timeout: "30s"},
			Nodes: nodes, Timeout: 2 * time.Minute,
		})
		require.NoError(b, err)
		require.Equal(b, cluster.ClusterCommitted, rep.Outcome, rep.Reason)
		for _, nr := range rep.Nodes {
			if d, err := time.ParseDuration(nr.Commit.MaxPause); err == nil && d > maxPause {
				maxPause = d
			}
			require.Len(b, nr.Commit.Procs, per)
		}
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	close(stop)
	wg.Wait()

	// The books: a call to each counter arrives after what was sent to it.
	var handled int64
	for _, node := range nodes {
		for i := range per {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			v, err := n.CallNamed(ctx, cluster.Name{Name: fmt.Sprint("counter", i), Node: node}, int64(0))
			cancel()
			require.NoError(b, err)
			handled += v.(int64)
		}
	}
	require.Equal(b, sent, handled, "lost")
	b.ReportMetric(float64(maxPause.Microseconds())/1000, "max-pause-ms")
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "load-msg/s")
	b.ReportMetric(0, "lost")
}
