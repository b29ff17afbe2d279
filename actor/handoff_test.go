package actor_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
)

// runIn is a message the "runner" module handles by running it.
type runIn func(ctx *actor.Context)

var runnerVersion = actor.Define("runner", "v1", actor.Funcs[struct{}]{
	Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
		if f, ok := msg.(runIn); ok {
			f(ctx)
		}
		return s, nil
	},
})

// A child spawned WithHandoff exits while its parent is exiting too: the
// child's exit signal, carrying its queued messages, is still waiting in
// the parent's system lane when the parent goes. Those messages are
// reported as dead letters with the child's reason, not dropped. (A chaos
// run lost a few messages this way when it killed a supervisor just as one
// of its Handoff children crashed.)
func TestHandoffToAnExitingParentIsReported(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(runnerVersion))
	letters := deadLetters(sys)
	parent, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	children := make(chan actor.PID, 1)
	require.NoError(t, sys.Send(parent, runIn(func(ctx *actor.Context) {
		ctx.TrapExit(true)
		child, err := ctx.SpawnLink("worker", nil, actor.WithHandoff())
		require.NoError(t, err)
		children <- child
	})))
	child := <-children

	releaseChild := hold(t, sys, child)
	require.NoError(t, sys.Send(child, "queued-1"))
	require.NoError(t, sys.Send(child, "queued-2"))
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(parent, runIn(func(*actor.Context) { close(entered); <-gate })))
	<-entered // the parent is busy: signals to it wait in its system lane

	pw, cw := sys.Watch(parent), sys.Watch(child)
	require.NoError(t, sys.Kill(parent)) // first in the parent's lane
	errBoom := errors.New("boom")
	require.NoError(t, sys.Exit(child, errBoom))
	releaseChild()
	<-cw.Done() // its exit signal, with the two messages, is queued behind the kill
	close(gate)
	<-pw.Done()

	got := letters()
	var queued []any
	for _, d := range got {
		if d.To == child {
			queued = append(queued, d.Message)
			assert.ErrorIs(t, d.Reason, errBoom)
		}
	}
	assert.Equal(t, []any{"queued-1", "queued-2"}, queued)
}
