package supervisor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// A child whose Terminate blocks past its shutdown timeout does not block
// the supervisor: after the kill it cannot take, and KillGrace, it is
// abandoned, declared killed, and the supervisor goes on (OTP's kill takes
// effect at once; a goroutine cannot be stopped, so it is left to finish).
func TestStuckTerminateIsAbandonedAfterTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shutdown supervisor.Shutdown
		advance  []time.Duration
	}{
		{"timeout", supervisor.Shutdown(2 * time.Second), []time.Duration{2 * time.Second, supervisor.KillGrace}},
		{"brutal_kill", supervisor.BrutalKill, []time.Duration{supervisor.KillGrace}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := actortest.NewSystem(t)
			gate, entered := make(chan struct{}), make(chan struct{}, 1)
			require.NoError(t, sys.Load(actor.Define("stuck", "v1", actor.Funcs[struct{}]{
				Init: func(ctx *actor.Context, _ any) (struct{}, error) {
					ctx.TrapExit(true)
					return struct{}{}, nil
				},
				Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
					if msg == "block" {
						entered <- struct{}{}
						<-gate
					}
					return s, nil
				},
				Terminate: func(ctx *actor.Context, s struct{}, reason error) {
					entered <- struct{}{}
					<-gate
				},
			})))
			events := make(chan supervisor.ChildShutdown, 4)
			defer sys.Subscribe(func(e actor.Event) {
				if sd, ok := e.(supervisor.ChildShutdown); ok {
					events <- sd
				}
			})()
			c := supervisor.ChildSpec{ID: "a", Start: supervisor.StartSpec{Module: "stuck", Options: []actor.SpawnOption{actor.WithName("acct")}}, Shutdown: tc.shutdown}
			h, err := supervisor.Start(sys.System, supervisor.Flags{}, []supervisor.ChildSpec{c})
			require.NoError(t, err)
			pid := children(t, h)["a"]
			if tc.shutdown == supervisor.BrutalKill {
				// brutal_kill runs no Terminate: stuck in a handler instead.
				require.NoError(t, sys.Send(pid, "block"))
				<-entered
			}

			ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- h.TerminateChild(ctx, "a") }()
			if tc.shutdown != supervisor.BrutalKill {
				<-entered // in Terminate
			}
			for _, d := range tc.advance {
				require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
				sys.Clock.Advance(d)
			}
			require.NoError(t, <-done)
			sd := <-events
			assert.Equal(t, actor.Killed, sd.Reason)
			assert.True(t, children(t, h)["a"].IsZero())
			_, named := sys.Whereis("acct")
			assert.False(t, named, "the name is free")
			assert.Equal(t, 1, sys.Abandoned())

			// The name can be taken again at once.
			_, err = h.RestartChild(ctx, "a")
			require.NoError(t, err)

			close(gate)
			require.Eventually(t, func() bool { return sys.Abandoned() == 0 }, actortest.DefaultWait, time.Millisecond)
		})
	}
}
