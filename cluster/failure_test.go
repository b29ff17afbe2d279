package cluster_test

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// reports is a probe registered as "reports" on this node: the node
// processes' echoes send it what they are told of links and monitors.
func reports(t *testing.T, sys *actor.System) *actortest.Probe {
	p := actortest.NewProbe(t, sys)
	require.NoError(t, sys.Register("reports", p.PID()))
	return p
}

// A node killed with SIGKILL while messages flow to it: every link and
// monitor that crossed to it fires with noconnection, on every node; a
// call waiting for it fails; senders are refused; nothing hangs.
func TestNodeKilledMidTraffic(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	rep := reports(t, sys)
	c := cl.echo(t, "c@localhost")

	// Here: a probe linked to and monitoring c's echo.
	p := actortest.NewProbe(t, sys)
	ref := p.Monitor(c)
	p.Link(c)
	// On b: the echo links to c's, trapping exits. On d: the echo monitors
	// c's. Both report here.
	_, err := cl.call(t, "b@localhost", testkit.LinkTo{Name: "echo", Node: "c@localhost", Trap: true, ReportName: "reports", ReportNode: "t@localhost"})
	require.NoError(t, err)
	_, err = cl.call(t, "d@localhost", testkit.LinkTo{Name: "echo", Node: "c@localhost", Monitor: true, ReportName: "reports", ReportNode: "t@localhost"})
	require.NoError(t, err)

	// A call c will never answer.
	stalled := make(chan error, 1)
	go func() {
		_, err := sys.Call(ctxWait(t), c, testkit.Stall{})
		stalled <- err
	}()
	// Traffic: this node sends to c until refused; d relays to c.
	var sentHere atomic.Int64
	flowing, refused := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := int64(1); ; i++ {
			if err := sys.Send(c, testkit.Ping{From: "t", N: i}); err != nil {
				refused <- err
				return
			}
			if sentHere.Add(1) == 1000 {
				close(flowing)
			}
		}
	}()
	relayed := make(chan error, 1)
	go func() {
		_, err := cl.n.CallNamed(ctxWait(t), cluster.Name{Name: "echo", Node: "b@localhost"},
			testkit.Relay{Name: "echo", Node: "c@localhost", From: "b", Count: 1 << 40})
		relayed <- err
	}()
	select {
	case <-flowing:
	case err := <-refused:
		t.Fatalf("refused before the kill: %v", err)
	}

	cl.c.Kill(t)

	e := p.ExpectExit(c, actor.NoConnection)
	assert.Equal(t, c, e.From)
	d := p.ExpectDown(c, actor.NoConnection)
	assert.Equal(t, ref, d.Ref)
	var ee *actor.ExitError
	err = within(t, stalled)
	require.ErrorAs(t, err, &ee, "%v", err)
	assert.ErrorIs(t, ee.Reason, actor.NoConnection)
	assert.ErrorIs(t, within(t, refused), actor.NoConnection)
	err = within(t, relayed)
	assert.ErrorIs(t, err, actor.NoConnection, "b's relay ends, refused: %v", err)
	got := map[any]bool{rep.Recv(): true, rep.Recv(): true}
	assert.Equal(t, map[any]bool{"b@localhost: exit noconnection": true, "d@localhost: down noconnection": true}, got)

	// Nothing here is left waiting: a new send is refused at once.
	require.ErrorIs(t, sys.Send(c, testkit.Ping{From: "t", N: 0}), actor.NoConnection)
}

// A network partition simulated by closing the connection between this
// node and b (Node.Disconnect): links and monitors across it fire with
// noconnection on both sides; the next request connects again and the
// processes, which never died, answer.
func TestPartitionByClosingTheConnection(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	rep := reports(t, sys)
	b := cl.echo(t, "b@localhost")

	p := actortest.NewProbe(t, sys)
	p.Monitor(b)
	p.Link(b)
	// b's echo links to a probe here, trapping exits.
	victim := actortest.NewProbe(t, sys)
	require.NoError(t, sys.Register("victim", victim.PID()))
	_, err := cl.call(t, "b@localhost", testkit.LinkTo{Name: "victim", Node: "t@localhost", Trap: true, ReportName: "reports", ReportNode: "t@localhost"})
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, sys.Send(b, testkit.Ping{From: "t", N: int64(i + 1)}))
	}

	require.NoError(t, cl.n.Disconnect("b@localhost"))

	p.ExpectExit(b, actor.NoConnection)
	p.ExpectDown(b, actor.NoConnection)
	e := victim.Recv().(actor.ExitMsg)
	assert.ErrorIs(t, e.Reason, actor.NoConnection)
	bNode, err := cl.n.NodeOf(e.From)
	require.NoError(t, err)
	assert.Equal(t, "b@localhost", bNode)
	// b saw it too, and tells us over a new connection.
	assert.Equal(t, "b@localhost: exit noconnection", rep.Recv())

	// The partition healed: the same process answers, with what it had.
	seen, err := sys.Call(ctxWait(t), b, testkit.Seen{})
	require.NoError(t, err)
	assert.LessOrEqual(t, seen, int64(100), "at most once")
	assert.Contains(t, cl.n.Nodes(), "b@localhost")
}

func TestDisconnectUnknownNode(t *testing.T) {
	_, n := joinLocal(t, "solo@localhost", freePort(t))
	err := n.Disconnect("nobody@localhost")
	require.True(t, errors.Is(err, actor.NoConnection), "%v", err)
}

// within receives from ch, failing the test if nothing comes within the
// wait bound.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing within %v", wait)
		panic("unreachable")
	}
}

// A node that hangs without closing its sockets (SIGSTOP) is found by the
// tick: what this node had waiting on it ends with noconnection after
// NetTickTime, and calls to it fail instead of hanging.
func TestHungNodeFoundByTheTick(t *testing.T) {
	reg := freePort(t)
	sys, n := joinLocal(t, "t@localhost", reg, func(o *cluster.Options) { o.NetTickTime = 500 * time.Millisecond })
	c := startNode(t, "c@localhost", reg)
	echo, err := n.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: "c@localhost"})
	require.NoError(t, err)
	p := actortest.NewProbe(t, sys.System)
	p.Link(echo)
	_, err = sys.Call(ctxWait(t), echo, testkit.Seen{}) // the link is in place
	require.NoError(t, err)

	require.NoError(t, c.Cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = c.Cmd.Process.Signal(syscall.SIGCONT) })
	// Wait until it has stopped (a signal takes effect a moment later).
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(c.Cmd.Process.Pid, &ws, syscall.WUNTRACED, nil)
	require.NoError(t, err)
	require.True(t, ws.Stopped(), "%v", ws)
	stalled := make(chan error, 1)
	go func() {
		_, err := sys.Call(ctxWait(t), echo, testkit.Seen{})
		stalled <- err
	}()
	p.ExpectExit(echo, actor.NoConnection)
	var ee *actor.ExitError
	err = within(t, stalled)
	require.ErrorAs(t, err, &ee, "%v", err)
	assert.ErrorIs(t, ee.Reason, actor.NoConnection)
}
