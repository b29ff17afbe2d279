package actor_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// The "steps" module logs every message it handles; a Continued step n
// below Last asks for step n+1.
type stepsState struct {
	Last int
	Log  []any
}

type startSteps struct{ Last int }
type stepsLog struct{}

var stepsVersion = actor.Define("steps", "v1", actor.Funcs[*stepsState]{
	Init: func(ctx *actor.Context, args any) (*stepsState, error) {
		if n, ok := args.(int); ok {
			ctx.Continue(1)
			return &stepsState{Last: n}, nil
		}
		return &stepsState{}, nil
	},
	Handle: func(ctx *actor.Context, s *stepsState, msg any) (*stepsState, error) {
		switch m := msg.(type) {
		case startSteps:
			s.Last = m.Last
			ctx.Continue(1)
		case actor.Continued:
			n := m.Step.(int)
			s.Log = append(s.Log, n)
			if n < s.Last {
				ctx.Continue(n + 1)
			}
		case stepsLog:
			ctx.Reply(append([]any(nil), s.Log...))
		default:
			s.Log = append(s.Log, msg)
		}
		return s, nil
	},
})

func stepsLogOf(t *testing.T, sys *actortest.System, pid actor.PID) []any {
	t.Helper()
	v, err := call(t, sys, pid, stepsLog{})
	require.NoError(t, err)
	return v.([]any)
}

// Every step runs before the user messages queued meanwhile, and the
// steps are not user messages for OnHandled.
func TestContinueRunsBeforeQueuedMessages(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(stepsVersion))
	var mu sync.Mutex
	var handled []any
	stop, err := sys.OnHandled(func(_ actor.PID, msg any) {
		mu.Lock()
		handled = append(handled, msg)
		mu.Unlock()
	})
	require.NoError(t, err)
	defer stop()
	pid, err := sys.Spawn("steps", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Suspend(context.Background(), pid))
	require.NoError(t, sys.Send(pid, startSteps{Last: 3}))
	require.NoError(t, sys.Send(pid, "a"))
	require.NoError(t, sys.Send(pid, "b"))
	require.NoError(t, sys.Resume(context.Background(), pid))
	// startSteps queues step 1 ahead of "a": steps 1-3 run, then a, b.
	assert.Equal(t, []any{1, 2, 3, "a", "b"}, stepsLogOf(t, sys, pid))
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(handled), 3)
	assert.Equal(t, []any{startSteps{Last: 3}, "a", "b"}, handled[:3], "steps are not reported")
}

// A step Init asks for runs before any message; a suspended process runs
// no step until it is resumed; a kill drops the pending step.
func TestContinueFromInitAndSuspension(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(stepsVersion))
	pid, err := sys.Spawn("steps", 2)
	require.NoError(t, err)
	assert.Equal(t, []any{1, 2}, stepsLogOf(t, sys, pid))

	// Suspended between two steps, the process takes no step.
	require.NoError(t, sys.Suspend(context.Background(), pid))
	require.NoError(t, sys.Send(pid, startSteps{Last: 2}))
	info, err := sys.Info(context.Background(), pid)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Queued)
	require.NoError(t, sys.Resume(context.Background(), pid))
	assert.Equal(t, []any{1, 2, 1, 2}, stepsLogOf(t, sys, pid))

	w := sys.Watch(pid)
	require.NoError(t, sys.Kill(pid))
	<-w.Done()
	assert.Equal(t, actor.Killed, w.Reason())
}
