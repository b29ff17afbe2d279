package cluster_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/upgrade"
)

var (
	chaosSeed   = flag.Uint64("cluster.chaos.seed", 0, "seed of TestClusterChaos (0: from the time)")
	chaosFaults = flag.Int("cluster.chaos.faults", 12, "faults of TestClusterChaos")
)

// TestClusterChaos runs load by name from this node to three node
// processes while a seeded schedule of faults hits the cluster: node c
// killed (SIGKILL) and started again, connections closed, cluster-wide
// upgrades back and forth. After each fault: the monitors across it fired
// with noconnection, an upgrade's outcome and every node's versions agree.
// At the end, for b and d (never killed): every increment sent to them was
// handled or reported lost (sent = handled + dead letters), once.
func TestClusterChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-cluster.chaos.seed to replay the schedule)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	reg := freePort(t)
	// A short tick: a connection closed at one end and dialled again at
	// once can be refused by the other end while this end takes it for
	// up (see docs/cluster.md); the tick ends it, and the next request
	// dials again. Short, but not so short that four processes sharing
	// the machine's cores miss it.
	const tick = 3 * time.Second
	sys, n := joinLocal(t, "t@localhost", reg, func(o *cluster.Options) { o.NetTickTime = tick })
	nodes := []string{"b@localhost", "c@localhost", "d@localhost"}
	procs := map[string]*osNode{}
	for _, name := range nodes {
		procs[name] = startNode(t, name, reg, "-net-tick", tick.String())
	}

	// The load: increments by name to the counters of every node.
	var mu sync.Mutex
	sent, lost := map[string]int64{}, map[string]int64{}
	defer sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			if tn, ok := d.Message.(cluster.ToName); ok {
				mu.Lock()
				lost[tn.Name.Node]++
				mu.Unlock()
			}
		}
	})()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // increments in bursts of 90, a burst a millisecond at most
		pace := time.NewTicker(time.Millisecond)
		defer pace.Stop()
		for i := 0; ; i++ {
			if i%90 == 0 {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
			}
			node := nodes[i%3]
			err := n.SendNamed(cluster.Name{Name: fmt.Sprint("counter", (i/3)%3), Node: node}, int64(1))
			if err == nil {
				mu.Lock()
				sent[node]++
				mu.Unlock()
			}
		}
	})

	// A probe here monitors every node's echo.
	p := actortest.NewProbe(t, sys.System)
	echo := map[string]actor.PID{}
	watch := func(node string) {
		t.Helper()
		// Right after a connection was closed, a request may meet the new
		// connection refused at the far end and fail with noconnection
		// when the tick ends it; the next one dials again.
		var pid actor.PID
		var err error
		for range 5 {
			if pid, err = n.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: node}); !errors.Is(err, actor.NoConnection) {
				break
			}
		}
		require.NoError(t, err)
		echo[node] = pid
		p.Monitor(pid)
		_, err = sys.Call(ctxWait(t), pid, testkit.Seen{}) // the monitor is in place
		require.NoError(t, err)
	}
	for _, node := range nodes {
		watch(node)
	}
	versions := map[string]string{"b@localhost": "v1", "c@localhost": "v1", "d@localhost": "v1"}
	checkVersions := func() {
		t.Helper()
		for _, node := range nodes {
			for i := range 3 {
				v, err := n.CallNamed(ctxWait(t), cluster.Name{Name: fmt.Sprint("counter", i), Node: node}, testkit.Version{})
				require.NoError(t, err)
				assert.Equal(t, versions[node], v, "%s counter%d", node, i)
			}
		}
	}

	for f := range *chaosFaults {
		switch k := rng.IntN(3); k {
		case 0: // kill c, start it again
			t.Logf("fault %d: kill c@localhost and start it again", f)
			procs["c@localhost"].Kill(t)
			p.ExpectDown(echo["c@localhost"], actor.NoConnection)
			procs["c@localhost"] = startNode(t, "c@localhost", reg, "-net-tick", tick.String())
			versions["c@localhost"] = "v1"
			watch("c@localhost")
		case 1: // close a connection
			node := nodes[rng.IntN(3)]
			t.Logf("fault %d: close the connection to %s", f, node)
			require.NoError(t, n.Disconnect(node))
			p.ExpectDown(echo[node], actor.NoConnection)
			watch(node) // the same process: the node never died
		case 2: // a cluster-wide upgrade of every node to one version
			to := []string{"v1", "v2"}[rng.IntN(2)]
			t.Logf("fault %d: upgrade every node to %s", f, to)
			rep, err := n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{
				Plan: upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: to}}}, Nodes: nodes,
			})
			require.NoError(t, err)
			require.Equal(t, cluster.ClusterCommitted, rep.Outcome, "%s %+v", rep.Reason, rep.Nodes)
			for _, node := range nodes {
				versions[node] = to
			}
		}
		checkVersions()
	}
	close(stop)
	wg.Wait()

	// The books of b and d: a call to each counter comes after everything
	// sent to it (and after the far node's word on any connection lost).
	for _, node := range []string{"b@localhost", "d@localhost"} {
		var handled int64
		for i := range 3 {
			v, err := n.CallNamed(ctxWait(t), cluster.Name{Name: fmt.Sprint("counter", i), Node: node}, int64(0))
			require.NoError(t, err)
			handled += v.(int64)
		}
		mu.Lock()
		assert.Equal(t, sent[node], handled+lost[node], "%s: sent = handled + reported lost", node)
		t.Logf("%s: sent %d, handled %d, reported lost %d", node, sent[node], handled, lost[node])
		mu.Unlock()
	}
}
