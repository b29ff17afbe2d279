package cluster_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// Send, call, link and monitor between this node and three node
// processes, and between those processes.
func TestThreeNodesSendCallLinkMonitor(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	b := cl.echo(t, "b@localhost")
	node, err := cl.n.NodeOf(b)
	require.NoError(t, err)
	assert.Equal(t, "b@localhost", node)

	// Sends keep their order; calls answer.
	for i := range 200 {
		require.NoError(t, sys.Send(b, testkit.Ping{From: "t", N: int64(i + 1)}))
	}
	got, err := sys.Call(ctxWait(t), b, testkit.Ping{From: "t", N: -1})
	require.NoError(t, err)
	assert.Equal(t, testkit.Ping{From: "t", N: -1}, got)
	seen, err := sys.Call(ctxWait(t), b, testkit.Seen{})
	require.NoError(t, err)
	assert.Equal(t, int64(200), seen)

	// c and d send to b, each in order, at the same time as this node.
	_, err = cl.call(t, "c@localhost", testkit.Relay{Name: "echo", Node: "b@localhost", From: "c", Count: 300})
	require.NoError(t, err)
	_, err = cl.call(t, "d@localhost", testkit.Relay{Name: "echo", Node: "b@localhost", From: "d", Count: 300})
	require.NoError(t, err)
	seen, err = cl.call(t, "c@localhost", testkit.AskSeen{Name: "echo", Node: "b@localhost"})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, seen, int64(200+300))
	// A call from d to b comes after d's sends: b has every message, each
	// sender's in order (Seen fails otherwise).
	seen, err = cl.call(t, "d@localhost", testkit.AskSeen{Name: "echo", Node: "b@localhost"})
	require.NoError(t, err)
	assert.Equal(t, int64(200+300+300), seen)

	// An unregistered type fails at the sender.
	type notRegistered struct{ X int }
	require.ErrorIs(t, sys.Send(b, notRegistered{1}), cluster.ErrUnregistered)
	_, err = sys.Call(ctxWait(t), b, notRegistered{1})
	require.ErrorIs(t, err, cluster.ErrUnregistered)

	// A name nobody holds.
	_, err = cl.n.Whereis(ctxWait(t), cluster.Name{Name: "nobody", Node: "b@localhost"})
	require.ErrorIs(t, err, actor.ErrUnknownName)
	_, err = cl.n.CallNamed(ctxWait(t), cluster.Name{Name: "nobody", Node: "b@localhost"}, testkit.Seen{})
	require.ErrorIs(t, err, actor.ErrUnknownName)

	// A probe here links to and monitors d's echo; d's echo crashes.
	d := cl.echo(t, "d@localhost")
	p := actortest.NewProbe(t, sys)
	ref := p.Monitor(d)
	p.Link(d)
	require.NoError(t, sys.Send(d, testkit.Crash{Reason: "boom"}))
	e := p.ExpectExit(d, nil)
	assert.EqualError(t, e.Reason, "crash: boom")
	down := p.Recv().(actor.Down)
	assert.Equal(t, ref, down.Ref)
	assert.Equal(t, d, down.PID)
	assert.EqualError(t, down.Reason, "crash: boom")

	// A dead remote process: noproc.
	p.Monitor(d)
	p.ExpectDown(d, actor.NoProc)
	_, err = sys.Call(ctxWait(t), d, testkit.Seen{})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	assert.ErrorIs(t, ee.Reason, actor.NoProc)

	// Across three nodes: b's echo links to c's echo; this node monitors
	// b's echo; c's echo crashes, b's dies of it, and we see why.
	b2 := cl.echo(t, "b@localhost")
	_, err = cl.call(t, "b@localhost", testkit.LinkTo{Name: "echo", Node: "c@localhost"})
	require.NoError(t, err)
	p.Monitor(b2)
	// Monitors are asynchronous, as in OTP: a call from this node to b2
	// arrives after the monitor request, so once it is answered the
	// monitor is in place (the crash below reaches b2 from c, on another
	// connection).
	_, err = sys.Call(ctxWait(t), b2, testkit.Seen{})
	require.NoError(t, err)
	c := cl.echo(t, "c@localhost")
	require.NoError(t, sys.Send(c, testkit.Crash{Reason: "chain"}))
	down = p.ExpectDown(b2, nil)
	assert.EqualError(t, down.Reason, "crash: chain")
	var re *cluster.RemoteError
	assert.True(t, errors.As(down.Reason, &re), "%T", down.Reason)
}
