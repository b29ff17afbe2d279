package clusterchaos_test

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/clusterchaos"
	"github.com/graftrt/graft/cluster/internal/nodetest"
	"github.com/graftrt/graft/supervisor"
)

var (
	seedFlag   = flag.Uint64("clusterchaos.seed", 0, "seed of TestChaosAcrossNodes (0: from the time)")
	faultsFlag = flag.Int("clusterchaos.faults", 6, "faults across nodes of TestChaosAcrossNodes")
)

// tick is the nodes' NetTickTime: short, so that a connection one end
// refused (docs/cluster.md) is found within the test's budget, but not so
// short that four processes sharing the machine's cores miss it.
const tick = 3 * time.Second

// processes runs the nodes under test as OS processes (internal/testnode
// with -chaos) and is the run's Control: it kills one with SIGKILL and
// starts it again.
type processes struct {
	t     *testing.T
	reg   uint16
	mu    sync.Mutex
	nodes map[string]*nodetest.Node
}

func (p *processes) start(name string) error {
	on, err := nodetest.Launch(p.t, name, p.reg, "-chaos", "-net-tick", tick.String())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.nodes[name] = on
	p.mu.Unlock()
	return nil
}

func (p *processes) Kill(ctx context.Context, name string) error {
	p.mu.Lock()
	on := p.nodes[name]
	p.mu.Unlock()
	if on == nil {
		return fmt.Errorf("no node %s", name)
	}
	if err := on.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-on.Exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *processes) Start(ctx context.Context, name string) error { return p.start(name) }

// TestChaosAcrossNodes is the chaos toolkit across three node processes:
// each runs its own chaos run on its tree (kills, panics, upgrades,
// overflowing mailboxes, ...), while this node sends load by name to
// their workers and kills whole nodes (and starts them again) and closes
// connections from either end. The invariants: each node's own; across
// nodes, every message sent to a node's last incarnation handled once or
// reported once, per-sender order, every monitor and link across a lost
// connection fired (the agents' with noconnection), every call in
// progress failed with noconnection.
func TestChaosAcrossNodes(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-clusterchaos.seed to replay the schedule)", seed)
	reg := nodetest.FreePort(t)
	_, n := join(t, "t@localhost", reg, func(o *cluster.Options) { o.NetTickTime = tick })
	nodes := []string{"b@localhost", "c@localhost", "d@localhost"}
	p := &processes{t: t, reg: reg, nodes: map[string]*nodetest.Node{}}
	for _, name := range nodes {
		require.NoError(t, p.start(name))
	}

	res, err := clusterchaos.Run(context.Background(), n, clusterchaos.Config{
		Seed: seed, Nodes: nodes, Faults: *faultsFlag, Interval: 300 * time.Millisecond, Control: p,
		FaultTimeout: 4 * tick, Settle: 20 * time.Second,
	})
	require.NoError(t, err)
	t.Log("\n" + res.String())
	require.NoError(t, res.Err())
	assert.Equal(t, *faultsFlag, res.TotalFaults())
	assert.Positive(t, res.Handled, "messages across nodes handled")
	for _, nr := range res.Nodes {
		assert.Positive(t, nr.Run.TotalFaults(), "%s ran faults of its own", nr.Node)
	}
}

// Bad arguments are refused before anything runs.
func TestBadArguments(t *testing.T) {
	reg := nodetest.FreePort(t)
	sys, n := join(t, "t@localhost", reg)
	for _, cfg := range []clusterchaos.Config{
		{},
		{Nodes: []string{"b@localhost", "b@localhost"}},
		{Nodes: []string{"t@localhost"}},
		{Nodes: []string{""}},
		{Nodes: []string{"b@localhost"}, Killable: []string{"c@localhost"}},
		{Nodes: []string{"b@localhost"}, Weights: map[clusterchaos.Kind]int{"flood": 1}},
		{Nodes: []string{"b@localhost"}, Weights: map[clusterchaos.Kind]int{clusterchaos.Disconnect: -1}},
		{Nodes: []string{"b@localhost"}, Weights: map[clusterchaos.Kind]int{clusterchaos.NodeKill: 1}}, // no Control
	} {
		_, err := clusterchaos.Run(context.Background(), n, cfg)
		assert.ErrorIs(t, err, clusterchaos.ErrBadArgs, "%+v", cfg)
	}
	_, err := clusterchaos.Run(context.Background(), nil, clusterchaos.Config{Nodes: []string{"b@localhost"}})
	assert.ErrorIs(t, err, clusterchaos.ErrBadArgs)
	// A node that does not serve: the run cannot start.
	_, err = clusterchaos.Run(context.Background(), n, clusterchaos.Config{Nodes: []string{"nobody@localhost"}, FaultTimeout: time.Second})
	assert.ErrorIs(t, err, actor.NoConnection)

	_, err = clusterchaos.Serve(nil, nil, chaos.Config{Module: "work"})
	assert.ErrorIs(t, err, clusterchaos.ErrBadArgs)
	root, err := supervisor.Start(sys.System, supervisor.Flags{}, nil)
	require.NoError(t, err)
	_, err = clusterchaos.Serve(n, root, chaos.Config{})
	assert.ErrorIs(t, err, clusterchaos.ErrBadArgs, "no module under test")

	// A node whose workers have no names: the coordinator cannot reach
	// them by name, and the run does not start.
	bsys, b := join(t, "b@localhost", reg)
	require.NoError(t, bsys.Load(actor.Define("work", "v1", actor.Funcs[int]{Handle: func(_ *actor.Context, n int, _ any) (int, error) { return n, nil }})))
	broot, err := supervisor.Start(bsys.System, supervisor.Flags{}, []supervisor.ChildSpec{
		{ID: "w", Start: supervisor.StartSpec{Module: "work"}}})
	require.NoError(t, err)
	_, err = clusterchaos.Serve(b, broot, chaos.Config{Module: "work"})
	require.NoError(t, err)
	_, err = clusterchaos.Run(context.Background(), n, clusterchaos.Config{Nodes: []string{"b@localhost"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no worker of the modules under test is registered by name on b@localhost")
}

// join starts a System in this process joined as name (registrar port
// reg).
func join(t *testing.T, name string, reg uint16, opts ...func(*cluster.Options)) (*actortest.System, *cluster.Node) {
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	o := cluster.Options{Name: name, Cookie: nodetest.Cookie, Registrar: cluster.Registrar{Port: reg}}
	for _, f := range opts {
		f(&o)
	}
	n, err := cluster.Join(sys.System, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	return sys, n
}
