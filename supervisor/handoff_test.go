package supervisor_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

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
