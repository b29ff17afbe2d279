package supervisor_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Messages for module "w".
type (
	die    struct{ Reason error }
	whoAmI struct{}
	block  struct{ gate, entered chan struct{} }
)

type wState struct {
	Name string
}

var worker = actor.Define("w", "v1", actor.Funcs[wState]{
	Init: func(ctx *actor.Context, args any) (wState, error) {
		if err, ok := args.(error); ok {
			return wState{}, err
		}
		name, _ := args.(string)
		return wState{Name: name}, nil
	},
	Handle: func(ctx *actor.Context, s wState, msg any) (wState, error) {
		switch m := msg.(type) {
		case die:
			return s, m.Reason
		case whoAmI:
			ctx.Reply(s.Name)
		case block:
			close(m.entered)
			<-m.gate
		}
		return s, nil
	},
})

func spec(id string, r supervisor.Restart) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{Module: "w", Args: id}, Restart: r}
}

type rig struct {
	*actortest.System
	events chan any
}

func newRig(t *testing.T, opts ...actortest.Option) *rig {
	sys := actortest.NewSystem(t, opts...)
	require.NoError(t, sys.Load(worker))
	r := &rig{System: sys, events: make(chan any, 1024)}
	t.Cleanup(sys.Subscribe(func(e actor.Event) {
		switch e.(type) {
		case supervisor.ChildStarted, supervisor.ChildExited, supervisor.ChildShutdown, supervisor.MaxIntensityReached:
			r.events <- e
		}
	}))
	return r
}

func (r *rig) next(t *testing.T) any {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(actortest.DefaultWait):
		t.Fatal("no supervisor event")
		return nil
	}
}

func children(t *testing.T, h *supervisor.Handle) map[string]actor.PID {
	t.Helper()
	cs, err := h.WhichChildren(context.Background())
	require.NoError(t, err)
	out := map[string]actor.PID{}
	for _, c := range cs {
		out[c.ID] = c.PID
	}
	return out
}

func TestOneForOneRestartsOnlyTheCrashedChild(t *testing.T) {
	r := newRig(t)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent)})
	require.NoError(t, err)
	r.next(t)
	r.next(t)
	before := children(t, h)
	require.NoError(t, r.Send(before["a"], die{Reason: errors.New("boom")}))
	ex := r.next(t).(supervisor.ChildExited)
	assert.Equal(t, "a", ex.ID)
	st := r.next(t).(supervisor.ChildStarted)
	assert.Equal(t, "a", st.ID)
	assert.True(t, st.Restart)
	after := children(t, h)
	assert.NotEqual(t, before["a"], after["a"])
	assert.Equal(t, before["b"], after["b"])
}

func TestIntensityEscalates(t *testing.T) {
	r := newRig(t)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Intensity: 1, Period: 5 * time.Second},
		[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent)})
	require.NoError(t, err)
	probe := actortest.NewProbe(t, r.System.System)
	probe.Monitor(h.PID())
	r.next(t)
	r.next(t)
	require.NoError(t, r.Send(children(t, h)["a"], die{Reason: errors.New("1")}))
	r.next(t)
	r.next(t)
	require.NoError(t, r.Send(children(t, h)["a"], die{Reason: errors.New("2")}))
	r.next(t) // exited
	assert.IsType(t, supervisor.MaxIntensityReached{}, r.next(t))
	sd := r.next(t).(supervisor.ChildShutdown)
	assert.Equal(t, "b", sd.ID)
	probe.ExpectDown(h.PID(), actor.Shutdown)
}

// A child still busy when its shutdown timeout passes gets a kill. Go
// cannot stop a goroutine from outside, so the kill takes effect at the
// first point the child can be stopped (here the shutdown signal queued
// before it wins); the supervisor waits for the exit either way.
func TestShutdownTimeoutSendsKill(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
	require.NoError(t, sys.Load(worker))
	s := spec("a", supervisor.Permanent)
	s.Shutdown = supervisor.Shutdown(2 * time.Second)
	h, err := supervisor.Start(sys.System, supervisor.Flags{}, []supervisor.ChildSpec{s})
	require.NoError(t, err)
	pid := children(t, h)["a"]
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(pid, block{gate: gate, entered: entered}))
	<-entered

	// A deadline on the call's context: the only timer on the fake clock
	// is then the supervisor's shutdown timer.
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.TerminateChild(ctx, "a") }()
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
	sys.Clock.Advance(2 * time.Second)
	for logs.FilterMessage("shutdown timeout; killing child").Len() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no kill after the shutdown timeout")
		default:
			runtime.Gosched()
		}
	}
	close(gate)
	require.NoError(t, <-done)
	assert.True(t, children(t, h)["a"].IsZero(), "terminated, spec kept")
}

func TestInvalidSpecsStartNothing(t *testing.T) {
	r := newRig(t)
	bad := spec("a", supervisor.Permanent)
	bad.Significant = true
	_, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{bad})
	var se *supervisor.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "a", se.Child)
	assert.Equal(t, "significant", se.Field)
	assert.ErrorIs(t, err, supervisor.ErrInvalidSpec)
	assert.Equal(t, 0, r.ProcessCount())
}

// System.Shutdown stops the top supervisor first, which shuts its children
// down in reverse start order.
func TestSystemShutdownStopsTreeInOrder(t *testing.T) {
	r := newRig(t)
	_, err := supervisor.Start(r.System.System, supervisor.Flags{},
		[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent)})
	require.NoError(t, err)
	for range 3 {
		r.next(t) // started
	}
	require.NoError(t, r.Shutdown(context.Background()))
	var order []string
	for range 3 {
		e := r.next(t).(supervisor.ChildShutdown)
		assert.Equal(t, actor.Shutdown, e.Reason)
		order = append(order, e.ID)
	}
	assert.Equal(t, []string{"c", "b", "a"}, order)
}

// A restart whose Init fails is retried through the supervisor's own
// mailbox, each attempt counting against the intensity; requests are
// served between attempts, and a later success clears the way.
func TestFailedRestartIsRetried(t *testing.T) {
	r := newRig(t)
	var failing atomic.Int32 // Init attempts that must still fail
	require.NoError(t, r.Load(actor.Define("flaky", "v1", actor.Funcs[int]{
		Init: func(*actor.Context, any) (int, error) {
			if failing.Add(-1) >= 0 {
				return 0, errors.New("not yet")
			}
			return 0, nil
		},
		Handle: func(_ *actor.Context, n int, msg any) (int, error) { return n, errors.New("crash") },
	})))
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Intensity: 4, Period: time.Minute},
		[]supervisor.ChildSpec{{ID: "f", Start: supervisor.StartSpec{Module: "flaky"}}})
	require.NoError(t, err)
	r.next(t) // started

	failing.Store(2) // the restart and its first retry fail; the second retry works
	require.NoError(t, r.Send(children(t, h)["f"], "x"))
	for {
		if e, ok := r.next(t).(supervisor.ChildStarted); ok {
			assert.True(t, e.Restart)
			break
		}
	}
	assert.Less(t, failing.Load(), int32(0), "Init was tried three times")
	assert.False(t, children(t, h)["f"].IsZero())

	// Now every attempt fails: the supervisor gives up at the intensity.
	probe := actortest.NewProbe(t, r.System.System)
	probe.Monitor(h.PID())
	failing.Store(1 << 20)
	require.NoError(t, r.Send(children(t, h)["f"], "x"))
	probe.ExpectDown(h.PID(), actor.Shutdown)
}
