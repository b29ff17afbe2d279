package cluster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/supervisor"
)

func TestRemoteSpawn(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	pid, err := cl.n.Spawn(ctxWait(t), "b@localhost", "echo", nil)
	require.NoError(t, err)
	node, err := cl.n.NodeOf(pid)
	require.NoError(t, err)
	assert.Equal(t, "b@localhost", node)
	id, err := sys.Call(ctxWait(t), pid, testkit.Self{})
	require.NoError(t, err)
	assert.Equal(t, int64(pid.ID()), id)

	_, err = cl.n.Spawn(ctxWait(t), "b@localhost", "no-such-module", nil)
	require.ErrorIs(t, err, actor.ErrUnknownModule)
	assert.ErrorContains(t, err, "no-such-module")
	_, err = cl.n.Spawn(ctxWait(t), "b@localhost", "", nil)
	require.ErrorIs(t, err, actor.ErrUnknownModule)
	type notRegistered struct{ X int64 }
	_, err = cl.n.Spawn(ctxWait(t), "b@localhost", "echo", notRegistered{})
	require.ErrorIs(t, err, cluster.ErrUnregistered)
	_, err = cl.n.Spawn(ctxWait(t), "nobody@localhost", "echo", nil)
	require.ErrorIs(t, err, actor.NoConnection)
}

// A local supervisor supervises a process on another node through its
// stand-in (RemoteChild): a crash there is a restart here, which starts a
// new process there; stopping the supervisor stops the remote child.
func TestSupervisorOfARemoteChild(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	restarted := make(chan supervisor.ChildStarted, 8)
	defer sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart {
			restarted <- s
		}
	})()
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 5, Period: 10 * time.Second}, []supervisor.ChildSpec{{
		ID:    "remote",
		Start: supervisor.StartSpec{Module: cluster.RemoteChildModule, Args: cluster.RemoteChild{Node: "c@localhost", Module: "echo"}},
	}})
	require.NoError(t, err)
	children, err := top.WhichChildren(ctxWait(t))
	require.NoError(t, err)
	require.Len(t, children, 1)
	standIn := children[0].PID
	first, err := sys.Call(ctxWait(t), standIn, testkit.Self{})
	require.NoError(t, err, "calls go through the stand-in")

	// The remote child, to watch it from here.
	p := actortest.NewProbe(t, sys)
	remoteChild := linkedOn(t, cl, standIn, "c@localhost")
	assert.Equal(t, first, int64(remoteChild.ID()))
	p.Monitor(remoteChild)

	require.NoError(t, sys.Send(standIn, testkit.Crash{Reason: "remote"}), "sends go through too")
	d := p.ExpectDown(remoteChild, nil)
	assert.EqualError(t, d.Reason, "crash: remote")
	s := within(t, restarted)
	assert.Equal(t, "remote", s.ID)
	second, err := sys.Call(ctxWait(t), s.PID, testkit.Self{})
	require.NoError(t, err)
	assert.NotEqual(t, first, second, "a new process on c")

	// Stopping the supervisor stops the remote child, with its reason.
	child2 := linkedOn(t, cl, s.PID, "c@localhost")
	p.Monitor(child2)
	require.NoError(t, sys.Stop(ctxWait(t), top.PID()))
	d = p.ExpectDown(child2, actor.Shutdown)
	assert.Equal(t, child2, d.PID)

	// A stand-in for this node, or with bad arguments, does not start.
	_, err = supervisor.Start(sys, supervisor.Flags{}, []supervisor.ChildSpec{{
		ID: "self", Start: supervisor.StartSpec{Module: cluster.RemoteChildModule, Args: cluster.RemoteChild{Node: "t@localhost", Module: "echo"}},
	}})
	require.ErrorIs(t, err, cluster.ErrBadOptions)
	_, err = supervisor.Start(sys, supervisor.Flags{}, []supervisor.ChildSpec{{
		ID: "bad", Start: supervisor.StartSpec{Module: cluster.RemoteChildModule, Args: "c@localhost"},
	}})
	require.ErrorIs(t, err, cluster.ErrBadOptions)
}

// linkedOn returns the process on node that the local process pid is
// linked to (a stand-in's remote child).
func linkedOn(t *testing.T, cl *cluster3, pid actor.PID, node string) actor.PID {
	t.Helper()
	info, err := cl.sys.Info(ctxWait(t), pid)
	require.NoError(t, err)
	for _, l := range info.Links {
		if on, _ := cl.n.NodeOf(l); on == node {
			return l
		}
	}
	t.Fatalf("%v is linked to no process on %s", pid, node)
	return actor.PID{}
}

// The node of a supervised remote child is killed: the stand-in exits with
// noconnection, the restarts fail (nothing answers there) and the
// supervisor gives up as its intensity says. Nothing hangs.
func TestSupervisedRemoteChildNodeKilled(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	exited := make(chan supervisor.ChildExited, 8)
	gaveUp := make(chan supervisor.MaxIntensityReached, 1)
	defer sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case supervisor.ChildExited:
			exited <- e
		case supervisor.MaxIntensityReached:
			gaveUp <- e
		}
	})()
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 2, Period: time.Minute}, []supervisor.ChildSpec{{
		ID:    "remote",
		Start: supervisor.StartSpec{Module: cluster.RemoteChildModule, Args: cluster.RemoteChild{Node: "d@localhost", Module: "echo"}},
	}})
	require.NoError(t, err)
	gone := sys.Watch(top.PID())
	cl.d.Kill(t)
	e := within(t, exited)
	assert.ErrorIs(t, e.Reason, actor.NoConnection)
	within(t, gaveUp)
	within(t, gone.Done())
	assert.ErrorIs(t, gone.Reason(), actor.Shutdown)
}

// A node leaves gracefully and hands its name "echo" to node b: {echo, c}
// reaches b's echo from then on; c's own processes are gone.
func TestLeaveHandsNamesOver(t *testing.T) {
	cl := newCluster3(t)
	sys := cl.sys.System
	left := make(chan cluster.NodeLeft, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if l, ok := e.(cluster.NodeLeft); ok {
			left <- l
		}
	})()
	oldEcho := cl.echo(t, "c@localhost")
	require.NoError(t, sys.Send(oldEcho, testkit.Leave{Name: "echo", To: "b@localhost"}))
	l := within(t, left)
	assert.Equal(t, cluster.NodeLeft{Node: "c@localhost", Handoff: map[string]string{"echo": "b@localhost"}}, l)

	viaC := cluster.Name{Name: "echo", Node: "c@localhost"}
	require.NoError(t, cl.n.SendNamed(viaC, testkit.Ping{From: "t", N: 1}))
	seen, err := cl.n.CallNamed(ctxWait(t), viaC, testkit.Seen{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), seen, "b's echo took it")
	pid, err := cl.n.Whereis(ctxWait(t), viaC)
	require.NoError(t, err)
	node, err := cl.n.NodeOf(pid)
	require.NoError(t, err)
	assert.Equal(t, "b@localhost", node)
	_, err = sys.Call(ctxWait(t), oldEcho, testkit.Seen{})
	require.Error(t, err, "c's processes are not handed over")
}
