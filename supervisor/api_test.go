package supervisor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

func TestRuntimeAPI(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{spec("a", supervisor.Permanent)})
	require.NoError(t, err)

	b, err := h.StartChild(ctx, spec("b", supervisor.Transient))
	require.NoError(t, err)
	_, err = h.StartChild(ctx, spec("b", supervisor.Transient))
	assert.ErrorIs(t, err, supervisor.ErrAlreadyStarted)
	_, err = h.StartChild(ctx, supervisor.ChildSpec{ID: "c"})
	assert.ErrorIs(t, err, supervisor.ErrInvalidSpec, "no module")
	_, err = h.StartChild(ctx, supervisor.ChildSpec{ID: "d", Start: supervisor.StartSpec{Module: "nope"}})
	assert.ErrorIs(t, err, actor.ErrUnknownModule)
	initErr := errors.New("cannot start")
	_, err = h.StartChild(ctx, supervisor.ChildSpec{ID: "e", Start: supervisor.StartSpec{Module: "w", Args: initErr}})
	assert.ErrorIs(t, err, initErr)

	infos, err := h.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 2, "failed starts add nothing")
	assert.Equal(t, supervisor.ChildInfo{ID: "b", PID: b, Type: supervisor.Worker, Restart: supervisor.Transient,
		Modules: []string{"w"}, Module: "w", Version: "v1"}, infos[1])

	require.NoError(t, h.TerminateChild(ctx, "b"))
	_, err = h.StartChild(ctx, spec("b", supervisor.Transient))
	assert.ErrorIs(t, err, supervisor.ErrAlreadyPresent)
	n, err := h.CountChildren(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Counts{Specs: 2, Active: 1, Workers: 2}, n)
	flags, err := h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, flags.Intensity, "OTP's default intensity filled in")
	assert.Equal(t, 5*time.Second, flags.Period)

	assert.ErrorIs(t, h.DeleteChild(ctx, "a"), supervisor.ErrRunning)
	b2, err := h.RestartChild(ctx, "b")
	require.NoError(t, err)
	assert.NotEqual(t, b, b2)
	_, err = h.RestartChild(ctx, "b")
	assert.ErrorIs(t, err, supervisor.ErrRunning)
	require.NoError(t, h.TerminateChild(ctx, "b"))
	require.NoError(t, h.DeleteChild(ctx, "b"))
	assert.ErrorIs(t, h.DeleteChild(ctx, "b"), supervisor.ErrNotFound)
	assert.ErrorIs(t, h.TerminateChild(ctx, "zz"), supervisor.ErrNotFound)
	_, err = h.StartSimpleChild(ctx, nil)
	assert.ErrorIs(t, err, supervisor.ErrNotSimple)

	// A temporary child's spec goes when it is terminated.
	_, err = h.StartChild(ctx, spec("t", supervisor.Temporary))
	require.NoError(t, err)
	require.NoError(t, h.TerminateChild(ctx, "t"))
	assert.NotContains(t, children(t, h), "t")
}

func TestSimpleOneForOne(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tmpl := supervisor.ChildSpec{Start: supervisor.StartSpec{Module: "w"}, Restart: supervisor.Transient}
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne}, []supervisor.ChildSpec{tmpl})
	require.NoError(t, err)
	var pids []actor.PID
	for _, name := range []string{"x", "y", "z"} {
		pid, err := h.StartSimpleChild(ctx, name)
		require.NoError(t, err)
		got, err := r.Call(ctx, pid, whoAmI{})
		require.NoError(t, err)
		assert.Equal(t, name, got, "each instance gets its own args")
		pids = append(pids, pid)
	}
	_, err = h.StartChild(ctx, spec("a", supervisor.Permanent))
	assert.ErrorIs(t, err, supervisor.ErrSimple)

	// A crash restarts that instance only; a normal exit of a transient
	// instance removes it.
	require.NoError(t, r.Send(pids[0], die{Reason: errors.New("boom")}))
	for {
		if e, ok := r.next(t).(supervisor.ChildStarted); ok && e.Restart {
			break
		}
	}
	require.NoError(t, r.Send(pids[1], die{Reason: actor.Normal}))
	for {
		if _, ok := r.next(t).(supervisor.ChildExited); ok {
			break
		}
	}
	n, err := h.CountChildren(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Counts{Specs: 1, Active: 2, Workers: 2}, n)
	require.NoError(t, h.TerminateSimpleChild(ctx, pids[2]))
	n, err = h.CountChildren(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n.Active)
}

func TestAutoShutdown(t *testing.T) {
	for _, tc := range []struct {
		mode       supervisor.AutoShutdown
		stopsAfter int // significant children that must end before it stops
	}{{supervisor.AnySignificant, 1}, {supervisor.AllSignificant, 2}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			r := newRig(t)
			a, b := spec("a", supervisor.Transient), spec("b", supervisor.Temporary)
			a.Significant, b.Significant = true, true
			h, err := supervisor.Start(r.System.System, supervisor.Flags{AutoShutdown: tc.mode},
				[]supervisor.ChildSpec{a, b, spec("c", supervisor.Permanent)})
			require.NoError(t, err)
			probe := actortest.NewProbe(t, r.System.System)
			probe.Monitor(h.PID())
			cs := children(t, h)
			require.NoError(t, r.Send(cs["a"], die{Reason: actor.Normal}))
			for {
				if e, ok := r.next(t).(supervisor.ChildExited); ok && e.ID == "a" {
					break
				}
			}
			if tc.stopsAfter == 2 {
				n, err := h.CountChildren(context.Background())
				require.NoError(t, err, "still running after one significant child ended")
				assert.Equal(t, 2, n.Active)
				require.NoError(t, r.Send(cs["b"], die{Reason: actor.Normal}))
			}
			probe.ExpectDown(h.PID(), actor.Shutdown)
		})
	}
}

func TestNestedSupervisorEscalation(t *testing.T) {
	r := newRig(t)
	inner := supervisor.Spec("inner", supervisor.Flags{Intensity: 0, Period: 1}, []supervisor.ChildSpec{spec("leaf", supervisor.Permanent)})
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Intensity: 5, Period: 60e9}, []supervisor.ChildSpec{inner})
	require.NoError(t, err)
	cs, err := h.WhichChildren(context.Background())
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, supervisor.Supervisor, cs[0].Type)
	innerH := supervisor.Of(r.System.System, cs[0].PID)
	leaf := children(t, innerH)["leaf"]
	assert.Zero(t, cs[0].Restarts)

	// Intensity 0: the inner supervisor gives up on the first crash, and
	// the outer one restarts it with a fresh leaf.
	require.NoError(t, r.Send(leaf, die{Reason: errors.New("boom")}))
	for {
		if e, ok := r.next(t).(supervisor.ChildStarted); ok && e.ID == "inner" && e.Restart {
			break
		}
	}
	cs, err = h.WhichChildren(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, innerH.PID(), cs[0].PID)
	assert.Equal(t, 1, cs[0].Restarts)
	assert.NotEqual(t, leaf, children(t, supervisor.Of(r.System.System, cs[0].PID))["leaf"])
}
