package actor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// An exit signal that ends an idle process without running any of its
// code is served on the sender's goroutine: the exit is complete when
// Exit returns. What was queued while it was suspended is reported.
func TestExitOfAnIdleProcessEndsItAtOnce(t *testing.T) {
	sys := newSys(t)
	letters := deadLetters(sys)
	for _, reason := range []error{actor.Shutdown, actor.Kill} {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		require.NoError(t, sys.SuspendAll(waitCtx(t), []actor.PID{pid}))
		require.NoError(t, sys.Send(pid, "a"))
		require.NoError(t, sys.Send(pid, "b"))
		w := sys.Watch(pid) // a signal: it runs, then goes idle again
		require.Eventually(t, func() bool { return actor.Idle(sys.System, pid) }, actortest.DefaultWait, time.Millisecond)
		require.NoError(t, sys.Exit(pid, reason))
		assert.False(t, sys.Alive(pid), "%v: the exit ran on Exit's goroutine", reason)
		select {
		case <-w.Done():
		default:
			require.Fail(t, "the exit is not complete when Exit returns", "%v", reason)
		}
	}
	var msgs []any
	for _, l := range letters() {
		msgs = append(msgs, l.Message)
	}
	assert.Equal(t, []any{"a", "b", "a", "b"}, msgs, "queued messages reported, none handled")
}

// trapperGates is the "trapper" module's argument: its handler of an
// ExitMsg tells entered and waits for gate.
type trapperGates struct{ entered, gate chan struct{} }

var trapperVersion = actor.Define("trapper", "v1", actor.Funcs[trapperGates]{
	Init: func(ctx *actor.Context, args any) (trapperGates, error) {
		ctx.TrapExit(true)
		return args.(trapperGates), nil
	},
	Handle: func(ctx *actor.Context, g trapperGates, msg any) (trapperGates, error) {
		switch m := msg.(type) {
		case runIn:
			m(ctx)
		case actor.ExitMsg:
			close(g.entered)
			<-g.gate
		}
		return g, nil
	},
})

// Code of the process never runs on the sender's goroutine: a process
// that traps exits handles the ExitMsg on its own, and so does a parent
// that the exit wakes.
func TestExitRunsNoHandlerOnTheSendersGoroutine(t *testing.T) {
	for _, tc := range []string{"trapping", "parent woken"} {
		t.Run(tc, func(t *testing.T) {
			sys := newSys(t)
			require.NoError(t, sys.Load(trapperVersion))
			g := trapperGates{entered: make(chan struct{}), gate: make(chan struct{})}
			trapper, err := sys.Spawn("trapper", g)
			require.NoError(t, err)
			target := trapper
			if tc == "parent woken" {
				spawned := make(chan actor.PID, 1)
				require.NoError(t, sys.Send(trapper, runIn(func(ctx *actor.Context) {
					child, _ := ctx.SpawnLink("worker", nil)
					spawned <- child
				})))
				target = <-spawned
			}
			returned := make(chan error, 1)
			go func() { returned <- sys.Exit(target, actor.Shutdown) }()
			select {
			case err := <-returned:
				require.NoError(t, err)
			case <-time.After(actortest.DefaultWait):
				require.Fail(t, "Exit ran a handler that waits")
			}
			<-g.entered // the handler runs, on another goroutine
			close(g.gate)
		})
	}
}

// A Watch that comes while a process exits, after its mailbox closed, is
// done with the exit reason when the exit is, also for a process that had
// no links or monitors before (its exit then takes no procExt unless a
// Watch made one meanwhile).
func TestWatchDuringTheExitOfAProcessWithoutLinks(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.SuspendAll(waitCtx(t), []actor.PID{pid}))
	require.NoError(t, sys.Send(pid, "left"))
	require.Eventually(t, func() bool { return actor.Idle(sys.System, pid) }, actortest.DefaultWait, time.Millisecond)
	var during *actor.Exited
	cancel := sys.Subscribe(func(ev actor.Event) {
		// The queued message is reported while the process exits, after
		// its mailbox closed and before it leaves the process table.
		if dl, ok := ev.(actor.DeadLetter); ok && dl.To == pid && during == nil {
			during = sys.Watch(pid)
		}
	})
	defer cancel()
	require.NoError(t, sys.Exit(pid, actor.Shutdown)) // on this goroutine
	require.NotNil(t, during, "the dead letter was reported during the exit")
	select {
	case <-during.Done():
	default:
		require.Fail(t, "the Watch taken during the exit is done when the exit is")
	}
	assert.ErrorIs(t, during.Reason(), actor.Shutdown, "the exit reason, not NoProc")
}

// A process whose exit has begun (its mailbox closed, its queued messages
// being reported) has no version any more, as it has no Stat: a caller
// told of its exit (a failed request, say) does not then find it running.
func TestVersionOfAnExitingProcess(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	_, ok := sys.VersionOf(pid)
	require.True(t, ok)
	require.NoError(t, sys.SuspendAll(waitCtx(t), []actor.PID{pid}))
	require.NoError(t, sys.Send(pid, "left"))
	require.Eventually(t, func() bool { return actor.Idle(sys.System, pid) }, actortest.DefaultWait, time.Millisecond)
	seen, versioned, alive := false, true, false
	cancel := sys.Subscribe(func(ev actor.Event) {
		if dl, ok := ev.(actor.DeadLetter); ok && dl.To == pid && !seen {
			seen = true
			_, versioned = sys.VersionOf(pid)
			_, alive = sys.Stat(pid)
		}
	})
	defer cancel()
	require.NoError(t, sys.Exit(pid, actor.Shutdown)) // on this goroutine
	require.True(t, seen, "the queued message was reported during the exit")
	assert.False(t, alive, "no Stat during the exit")
	assert.False(t, versioned, "no version during the exit")
}
