package actor_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// selfSend's Init queues a message to itself, so that the process has
// work when it starts; its Handle forwards every message to the PID it was
// started with.
var selfSend = actor.Define("selfsend", "v1", actor.Funcs[actor.PID]{
	Init: func(ctx *actor.Context, args any) (actor.PID, error) {
		return args.(actor.PID), ctx.Send(ctx.Self(), "first")
	},
	Handle: func(ctx *actor.Context, to actor.PID, msg any) (actor.PID, error) {
		return to, ctx.Send(to, msg)
	},
})

// A process spawned WithDeferredStart from a handler, with work queued
// when its Init returns, starts once that handler has returned, not
// before.
func TestDeferredStartWaitsForTheHandler(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(runnerVersion))
	require.NoError(t, sys.Load(selfSend))
	parent, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	probe, err := sys.Spawn("worker", nil)
	require.NoError(t, err)

	gate := make(chan struct{})
	started := make(chan actor.PID, 1)
	require.NoError(t, sys.Send(parent, runIn(func(ctx *actor.Context) {
		child, err := ctx.Spawn("selfsend", probe, actor.WithDeferredStart())
		require.NoError(t, err)
		started <- child
		<-gate // the handler goes on: the child must not run yet
	})))
	child := <-started
	assert.Zero(t, actor.Taken(sys.System, child), "the child ran while its parent's handler had not returned")
	assert.Zero(t, actor.Pushed(sys.System, probe))
	close(gate)
	// The child runs now, and forwards its message to the probe.
	for actor.Pushed(sys.System, probe) == 0 {
		runtime.Gosched()
	}
	v, err := call(t, sys, probe, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{"first"}, v)
}

// A deferred child of a parent that stays busy after the handler that
// spawned it (more messages queued) starts on its own goroutine: the
// parent's next message waits for the child, which would never run if it
// waited for the parent to go idle.
func TestDeferredStartDoesNotWaitForABusyParent(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(runnerVersion))
	require.NoError(t, sys.Load(selfSend))
	parent, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	probe, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	hold := make(chan struct{})
	require.NoError(t, sys.Send(parent, runIn(func(ctx *actor.Context) {
		<-hold // so that the next message is queued before this one ends
		_, err := ctx.Spawn("selfsend", probe, actor.WithDeferredStart())
		require.NoError(t, err)
	})))
	done := make(chan struct{})
	require.NoError(t, sys.Send(parent, runIn(func(*actor.Context) {
		for actor.Pushed(sys.System, probe) == 0 { // the child has run
			runtime.Gosched()
		}
		close(done)
	})))
	close(hold)
	select {
	case <-done:
	case <-time.After(actortest.DefaultWait):
		t.Fatal("the deferred child waited for its busy parent")
	}
}

// Outside a handler (Init, or from outside any process) WithDeferredStart
// changes nothing: the process starts at once.
func TestDeferredStartOutsideAHandler(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithDeferredStart())
	require.NoError(t, err)
	v, err := call(t, sys, pid, echo{V: "up"})
	require.NoError(t, err)
	assert.Equal(t, "up", v)
}

// A deferred child of a parent whose handler ends the parent starts all
// the same.
func TestDeferredStartWhenTheParentExits(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(selfSend))
	require.NoError(t, sys.Load(actor.Define("spawnthenstop", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			_, err := ctx.Spawn("selfsend", msg.(actor.PID), actor.WithDeferredStart())
			if err != nil {
				return s, err
			}
			return s, actor.Normal
		},
	})))
	probe, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	parent, err := sys.Spawn("spawnthenstop", nil)
	require.NoError(t, err)
	w := sys.Watch(parent)
	require.NoError(t, sys.Send(parent, probe))
	<-w.Done()
	assert.Equal(t, actor.Normal, w.Reason())
	for actor.Pushed(sys.System, probe) == 0 {
		runtime.Gosched()
	}
	v, err := call(t, sys, probe, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{"first"}, v)
}
