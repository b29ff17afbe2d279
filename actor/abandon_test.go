package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// A process stuck in a handler is declared killed at once by Abandon: its
// name, links, monitors, queued messages and callers all see the exit;
// its goroutine is reported, and when it returns nothing changes.
func TestAbandonStuckHandler(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
	require.NoError(t, sys.Load(workerVersion(nil)))
	events := make(chan actor.Event, 64)
	defer sys.Subscribe(func(e actor.Event) {
		switch e.(type) {
		case actor.ProcessAbandoned, actor.ProcessExited:
			events <- e
		}
	})()

	pid, err := sys.Spawn("worker", nil, actor.WithName("stuck"))
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	probe.Link(pid)
	ref := probe.Monitor(pid)

	// A call in flight: the handler blocks while serving it.
	gate, entered := make(chan struct{}), make(chan struct{})
	inflight := make(chan error, 1)
	go func() {
		_, err := sys.Call(context.Background(), pid, blockCall{Gate: gate, Entered: entered})
		inflight <- err
	}()
	<-entered
	// A call and a message queued behind it.
	queued := make(chan error, 1)
	go func() {
		_, err := sys.Call(context.Background(), pid, echo{V: 1})
		queued <- err
	}()
	letters := deadLetters(sys)
	require.NoError(t, sys.Send(pid, "queued"))

	require.NoError(t, sys.Abandon(pid))
	assert.Equal(t, 1, sys.Abandoned())
	_, named := sys.Whereis("stuck")
	assert.False(t, named)
	assert.ErrorIs(t, sys.Send(pid, "late"), actor.NoProc)
	probe.ExpectExit(pid, actor.Killed)
	probe.ExpectDown(pid, actor.Killed)
	_ = ref
	// The other call is answered at once: it was queued (Killed) or came
	// after the exit (NoProc).
	err = <-queued
	assert.True(t, isExit(err, actor.Killed) || isExit(err, actor.NoProc), "%v", err)
	assert.IsType(t, actor.ProcessAbandoned{}, <-events)
	ex := (<-events).(actor.ProcessExited)
	assert.Equal(t, actor.Killed, ex.Reason)
	dl := letters()
	require.NotEmpty(t, dl)
	assert.Equal(t, "queued", dl[0].Message)
	assert.Equal(t, 1, logs.FilterMessage("process abandoned: declared killed while its goroutine was running; the goroutine is left to finish").Len())

	close(gate) // the goroutine comes back
	assert.True(t, isExit(<-inflight, actor.Killed), "the call in flight gets the exit")
	require.Eventually(t, func() bool { return sys.Abandoned() == 0 }, actortest.DefaultWait, time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessage("abandoned process's goroutine returned").Len())
	assert.Zero(t, sys.ProcessCount()-1, "only the probe is left")
}

type blockCall struct{ Gate, Entered chan struct{} }

// Abandoning an idle process is a plain kill.
func TestAbandonIdleIsAKill(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	w := sys.Watch(pid)
	require.NoError(t, sys.Abandon(pid))
	<-w.Done()
	assert.Equal(t, actor.Killed, w.Reason())
	require.Eventually(t, func() bool { return sys.Abandoned() == 0 }, actortest.DefaultWait, time.Millisecond)
	assert.ErrorIs(t, sys.Abandon(pid), actor.NoProc)
}

// A stuck Terminate does not hold Shutdown past its context: what is left
// is abandoned and the system is empty when Shutdown returns.
func TestShutdownAbandonsStuckTerminate(t *testing.T) {
	sys := actortest.NewSystem(t)
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Load(actor.Define("t", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) { return s, nil },
		Terminate: func(ctx *actor.Context, s struct{}, reason error) {
			close(entered)
			<-gate
		},
	})))
	_, err := sys.Spawn("t", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sys.Shutdown(ctx) }()
	<-entered
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Zero(t, sys.ProcessCount())
	assert.Equal(t, 1, sys.Abandoned())
	close(gate)
	require.Eventually(t, func() bool { return sys.Abandoned() == 0 }, actortest.DefaultWait, time.Millisecond)
}
