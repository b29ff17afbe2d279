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

// Exit signals, unlink and demonitor across two nodes.
func TestSignalsAcrossNodes(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b := joinLocal(t, "b@localhost", reg)
	spawnFar := func() actor.PID {
		t.Helper()
		w, err := sysB.Spawn("echo", nil)
		require.NoError(t, err)
		name := "w" + w.String()
		require.NoError(t, sysB.Register(name, w))
		far, err := a.Whereis(ctxWait(t), cluster.Name{Name: name, Node: b.Name()})
		require.NoError(t, err)
		return far
	}
	p := actortest.NewProbe(t, sysA.System)

	// exit/2 from a process here, with a reason of its own.
	w1 := spawnFar()
	p.Monitor(w1)
	p.Do(func(ctx *actor.Context) { require.NoError(t, ctx.Exit(w1, errors.New("go away"))) })
	d := p.ExpectDown(w1, nil)
	assert.EqualError(t, d.Reason, "go away")

	// exit(Pid, kill) from outside any process.
	w2 := spawnFar()
	p.Monitor(w2)
	require.NoError(t, sysA.Exit(w2, actor.Kill))
	p.ExpectDown(w2, actor.Killed)

	// A normal exit signal is ignored by a process that does not trap.
	w3 := spawnFar()
	require.NoError(t, sysA.Exit(w3, actor.Normal))
	n, err := sysA.Call(ctxWait(t), w3, testkit.Seen{})
	require.NoError(t, err, "still alive")
	assert.Equal(t, int64(0), n)

	// Unlink: the crash that follows reaches the monitor only.
	p.Link(w3)
	p.Do(func(ctx *actor.Context) { ctx.Unlink(w3) })
	ref := p.Monitor(w3)
	require.NoError(t, sysA.Send(w3, testkit.Crash{Reason: "after unlink"}))
	d = p.ExpectDown(w3, nil)
	assert.Equal(t, ref, d.Ref, "the Down, and no exit signal before it")

	// Demonitor: withdrawn on the far node; only the new monitor's Down.
	w4 := spawnFar()
	old := p.Monitor(w4)
	p.Do(func(ctx *actor.Context) { ctx.Demonitor(old) })
	fresh := p.Monitor(w4)
	require.NoError(t, sysA.Send(w4, testkit.Crash{Reason: "x"}))
	d = p.ExpectDown(w4, nil)
	assert.Equal(t, fresh, d.Ref)

	// A trapping process there gets the exit signal as a message.
	w5 := spawnFar()
	_, err = sysA.Call(ctxWait(t), w5, testkit.LinkTo{Name: "reports", Node: a.Name(), Monitor: true, Trap: true, ReportName: "reports", ReportNode: a.Name()})
	require.ErrorIs(t, err, actor.ErrUnknownName, "no reports process: the echo still traps")
	rep := reports(t, sysA.System)
	_, err = sysA.Call(ctxWait(t), w5, testkit.LinkTo{Name: "reports", Node: a.Name(), Monitor: true, Trap: true, ReportName: "reports", ReportNode: a.Name()})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, sysA.Send(w5, testkit.Ping{From: "a", N: int64(i + 1)}))
	}
	require.NoError(t, sysA.Exit(w5, errors.New("trapped")))
	assert.Equal(t, "b@localhost: exit trapped", rep.Recv())
	seen, err := sysA.Call(ctxWait(t), w5, testkit.Seen{})
	require.NoError(t, err)
	assert.Equal(t, int64(50), seen)
}
