package cluster_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/nodetest"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// wait bounds every wait for an event in these tests; nothing sleeps.
const wait = nodetest.Wait

const cookie = nodetest.Cookie

func freePort(t testing.TB) uint16 { return nodetest.FreePort(t) }

func ctxWait(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// joinLocal starts a System in this process joined as name, with the test
// types and modules; reg is the registrar's port.
func joinLocal(t testing.TB, name string, reg uint16, opts ...func(*cluster.Options)) (*actortest.System, *cluster.Node) {
	t.Helper()
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	o := cluster.Options{Name: name, Cookie: cookie, Registrar: cluster.Registrar{Port: reg}}
	for _, f := range opts {
		f(&o)
	}
	n, err := cluster.Join(sys.System, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	require.NoError(t, n.Register(testkit.Types()...))
	require.NoError(t, sys.Load(testkit.Echo(n)))
	return sys, n
}

// osNode is a node running in its own OS process (internal/testnode).
type osNode = nodetest.Node

// startNode starts a node process named name on registrar port reg and
// waits until it is ready (nodetest.Start).
func startNode(t testing.TB, name string, reg uint16, args ...string) *osNode {
	t.Helper()
	return nodetest.Start(t, name, reg, args...)
}

// cluster3 is this test's node (t@localhost, serving the registrar) and
// three node processes: b, c and d.
type cluster3 struct {
	sys     *actortest.System
	n       *cluster.Node
	b, c, d *osNode
}

// newCluster3 starts the cluster; dArgs go to node d's command line.
func newCluster3(t *testing.T, dArgs ...string) *cluster3 {
	t.Helper()
	reg := freePort(t)
	sys, n := joinLocal(t, "t@localhost", reg)
	cl := &cluster3{sys: sys, n: n}
	cl.b = startNode(t, "b@localhost", reg)
	cl.c = startNode(t, "c@localhost", reg)
	cl.d = startNode(t, "d@localhost", reg, dArgs...)
	return cl
}

// echo returns the PID of the echo process on node.
func (cl *cluster3) echo(t *testing.T, node string) actor.PID {
	t.Helper()
	pid, err := cl.n.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: node})
	require.NoError(t, err)
	return pid
}

func (cl *cluster3) call(t *testing.T, node string, req any) (any, error) {
	t.Helper()
	return cl.n.CallNamed(ctxWait(t), cluster.Name{Name: "echo", Node: node}, req)
}

// breakRig is two nodes in this process, the echo process on b as a sees
// it, the dead letters of testkit.Ping counted at each end by reason
// ("a: noconnection"), and a probe at each end monitoring a process at
// the other: its Down says that end has dealt with a lost connection
// (unacknowledged sends are reported before links and monitors).
type breakRig struct {
	sysA, sysB *actortest.System
	a, b       *cluster.Node
	echo       cluster.Name
	far        actor.PID // echo
	aProbe     actor.PID // pa, as b sees it
	pa, pb     *actortest.Probe
	mu         sync.Mutex
	dead       map[string]int64 // guarded by mu
}

func newBreakRig(t *testing.T) *breakRig {
	reg := freePort(t)
	r := &breakRig{dead: map[string]int64{}}
	r.sysA, r.a = joinLocal(t, "a@localhost", reg)
	r.sysB, r.b = joinLocal(t, "b@localhost", reg)
	_, err := r.sysB.Spawn("echo", nil, actor.WithName("echo"))
	require.NoError(t, err)
	r.echo = cluster.Name{Name: "echo", Node: r.b.Name()}
	r.far, err = r.a.Whereis(ctxWait(t), r.echo)
	require.NoError(t, err)
	count := func(node string) func(actor.Event) {
		return func(e actor.Event) {
			if d, ok := e.(actor.DeadLetter); ok {
				if tn, named := d.Message.(cluster.ToName); named {
					d.Message = tn.Message
				}
				if _, ping := d.Message.(testkit.Ping); ping {
					r.mu.Lock()
					r.dead[node+": "+d.Reason.Error()]++
					r.mu.Unlock()
				}
			}
		}
	}
	t.Cleanup(r.sysA.Subscribe(count("a")))
	t.Cleanup(r.sysB.Subscribe(count("b")))
	r.pa = actortest.NewProbe(t, r.sysA.System)
	r.pa.Monitor(r.far)
	r.pb = actortest.NewProbe(t, r.sysB.System)
	require.NoError(t, r.sysA.Register("a-probe", r.pa.PID()))
	r.aProbe, err = r.b.Whereis(ctxWait(t), cluster.Name{Name: "a-probe", Node: r.a.Name()})
	require.NoError(t, err)
	r.pb.Monitor(r.aProbe)
	return r
}

// broken waits until both ends have dealt with the lost connection.
func (r *breakRig) broken() {
	r.pa.ExpectDown(r.far, actor.NoConnection)
	r.pb.ExpectDown(r.aProbe, actor.NoConnection)
}
