package supervisor_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// A Handoff child's queued messages survive its crash: the replacement
// handles them, in order, before anything sent to it afterwards.
func TestHandoffPassesQueuedMessagesToTheReplacement(t *testing.T) {
	sys := actortest.NewSystem(t)
	var mu sync.Mutex
	var handled []int
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Load(actor.Define("rec", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			switch m := msg.(type) {
			case int:
				mu.Lock()
				handled = append(handled, m)
				mu.Unlock()
			case string:
				switch m {
				case "block":
					close(entered)
					<-gate
				case "crash":
					return s, errors.New("crash")
				case "ping":
					ctx.Reply("pong")
				}
			}
			return s, nil
		},
	})))
	var letters atomic.Int32
	restarted := make(chan struct{}, 1)
	defer sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case actor.DeadLetter:
			letters.Add(1)
		case supervisor.ChildStarted:
			if e.Restart {
				restarted <- struct{}{}
			}
		}
	})()
	h, err := supervisor.Start(sys.System, supervisor.Flags{}, []supervisor.ChildSpec{{
		ID: "rec", Handoff: true,
		Start: supervisor.StartSpec{Module: "rec", Options: []actor.SpawnOption{actor.WithName("rec")}},
	}})
	require.NoError(t, err)
	first := children(t, h)["rec"]

	require.NoError(t, sys.Send(first, "block"))
	<-entered
	require.NoError(t, sys.Send(first, 1))
	require.NoError(t, sys.Send(first, "crash"))
	for i := 2; i <= 5; i++ {
		require.NoError(t, sys.Send(first, i))
	}
	close(gate)
	<-restarted
	// The replacement answers once it has handled what it inherited.
	r, err := sys.CallNamed(context.Background(), "rec", "ping")
	require.NoError(t, err)
	assert.Equal(t, "pong", r)
	second := children(t, h)["rec"]
	assert.NotEqual(t, first, second)
	require.NoError(t, sys.SendNamed("rec", 6))
	_, err = sys.Call(context.Background(), second, "ping")
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, handled, "nothing lost, order kept across the crash")
	assert.Zero(t, letters.Load())
}

// A one_for_all restart that fails at an earlier sibling leaves a Handoff
// child's queue waiting for the retry; if the supervisor is killed then,
// the queue's messages are reported, not lost.
func TestHandoffQueueHeldForARetryIsReportedWhenTheSupervisorIsKilled(t *testing.T) {
	sys := actortest.NewSystem(t)
	var failInit atomic.Bool
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Load(actor.Define("q", "v1", actor.Funcs[struct{}]{
		Init: func(ctx *actor.Context, args any) (struct{}, error) {
			if args == "first" && failInit.Load() {
				return struct{}{}, errors.New("no restart now")
			}
			return struct{}{}, nil
		},
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			switch msg {
			case "block":
				close(entered)
				<-gate
			case "crash":
				return s, errors.New("crash")
			}
			return s, nil
		},
	})))
	var mu sync.Mutex
	var letters []any
	defer sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			if _, ok := d.Message.(int); ok {
				mu.Lock()
				letters = append(letters, d.Message)
				mu.Unlock()
			}
		}
	})()
	h, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.OneForAll, Intensity: 1000, Period: time.Hour},
		[]supervisor.ChildSpec{
			{ID: "first", Start: supervisor.StartSpec{Module: "q", Args: "first"}},
			{ID: "second", Handoff: true, Start: supervisor.StartSpec{Module: "q", Args: "second"}},
		})
	require.NoError(t, err)
	second := children(t, h)["second"]
	require.NoError(t, sys.Send(second, "block"))
	<-entered
	require.NoError(t, sys.Send(second, "crash"))
	for i := range 5 {
		require.NoError(t, sys.Send(second, i))
	}
	// Suspended, the supervisor takes signals only: the ExitMsg waits.
	ctx := context.Background()
	require.NoError(t, sys.Suspend(ctx, h.PID()))
	failInit.Store(true)
	w := sys.Watch(second)
	close(gate)
	<-w.Done()
	require.NoError(t, sys.Resume(ctx, h.PID()))
	// The restart fails at "first" and is retried at once, again and
	// again, with the queue held; the kill ends that.
	require.Eventually(t, func() bool {
		cs, err := h.WhichChildren(ctx)
		for _, c := range cs {
			if c.Restarting {
				return true
			}
		}
		_ = err
		return false
	}, actortest.DefaultWait, time.Millisecond)
	sw := sys.Watch(h.PID())
	require.NoError(t, sys.Kill(h.PID()))
	<-sw.Done()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []any{0, 1, 2, 3, 4}, letters, "every queued message is reported")
}
