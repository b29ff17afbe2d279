package test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// Hostile user code: every callback the runtime calls into, made to panic,
// to return a typed nil error, or to block past its deadline. In every
// case the host survives (the test process itself, with an error-level
// logger that formats every reason), and the right exit reason or error
// comes back.

type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg } // a nil *nilErr panics here

var typedNil error = (*nilErr)(nil)

// misbehaviour says how one callback misbehaves.
type misbehaviour int

const (
	behave misbehaviour = iota
	panics
	typedNilErr
	blocks
)

// hostile is a harness: a system logging at error level into an observer,
// and module "h" whose callbacks misbehave as the case says.
type hostile struct {
	sys    *actortest.System
	logs   *observer.ObservedLogs
	gate   chan struct{} // what blocking code waits on; closed at cleanup
	inside chan string   // blocking code reports where it blocks
	// ctx has a deadline, so that no call arms the default call timeout
	// on the fake clock: its timers are then the ones a case steps through.
	ctx context.Context
}

func newHostile(t *testing.T, opts ...actor.Option) *hostile {
	core, logs := observer.New(zapcore.ErrorLevel)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	h := &hostile{logs: logs, gate: make(chan struct{}), inside: make(chan string, 16), ctx: ctx}
	opts = append([]actor.Option{actor.WithLogger(zap.New(core)), actor.WithHookTimeout(50 * time.Millisecond)}, opts...)
	h.sys = actortest.NewSystem(t, actortest.WithSystemOptions(opts...))
	t.Cleanup(func() { close(h.gate) }) // registered after the system's: runs first
	return h
}

// misbehave acts out m in callback where; it returns the error to return.
func (h *hostile) misbehave(where string, m misbehaviour) error {
	switch m {
	case panics:
		panic(where + " exploded")
	case typedNilErr:
		return typedNil
	case blocks:
		h.inside <- where
		<-h.gate
	}
	return nil
}

type hState struct{ N int }

// version builds module "h" at name, misbehaving in the callbacks named in
// bad. Messages: "crash" stops it with an error from Handle; anything
// else is counted.
func (h *hostile) version(name, follows string, bad map[string]misbehaviour) *actor.Version {
	return actor.Define("h", name, actor.Funcs[hState]{
		Follows: follows,
		Init: func(ctx *actor.Context, args any) (hState, error) {
			ctx.TrapExit(true)
			return hState{}, h.misbehave("init", bad["init"])
		},
		Handle: func(ctx *actor.Context, s hState, msg any) (hState, error) {
			if msg == "go" {
				return s, h.misbehave("handle", bad["handle"])
			}
			s.N++
			ctx.Reply(s.N)
			return s, nil
		},
		TerminateReason: func(ctx *actor.Context, s hState, reason error) error {
			return h.misbehave("terminate", bad["terminate"])
		},
		CodeChange: func(from string, old, extra any) (hState, error) {
			return old.(hState), h.misbehave("code_change", bad["code_change"])
		},
		Downgrade: func(to string, s hState, extra any) (any, error) {
			return s, h.misbehave("downgrade", bad["downgrade"])
		},
	})
}

// start runs one child of module "h" under a one_for_one supervisor that
// restarts nothing (temporary), with a 1 s shutdown.
func (h *hostile) start(t *testing.T) (*supervisor.Handle, actor.PID) {
	sup, err := supervisor.Start(h.sys.System, supervisor.Flags{Intensity: 10, Period: time.Second},
		[]supervisor.ChildSpec{{ID: "c", Start: supervisor.StartSpec{Module: "h"}, Restart: supervisor.Temporary, Shutdown: supervisor.Shutdown(time.Second)}})
	require.NoError(t, err)
	kids, err := sup.WhichChildren(h.ctx)
	require.NoError(t, err)
	return sup, kids[0].PID
}

// advance steps the fake clock by each d, once a timer waits.
func (h *hostile) advance(t *testing.T, ds ...time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	for _, d := range ds {
		require.NoError(t, h.sys.Clock.WaitForTimers(ctx, 1))
		h.sys.Clock.Advance(d)
	}
}

func (h *hostile) exitOf(t *testing.T, pid actor.PID, send any) error {
	w := h.sys.Watch(pid)
	require.NoError(t, h.sys.Send(pid, send))
	<-w.Done()
	return w.Reason()
}

// driveUntil steps the fake clock by d whenever a timer waits, until done
// gives a value.
func driveUntil[T any](t *testing.T, h *hostile, d time.Duration, done <-chan T) T {
	t.Helper()
	giveUp := time.After(actortest.DefaultWait)
	for {
		select {
		case v := <-done:
			return v
		case <-giveUp:
			t.Fatal("not done")
		default:
		}
		if h.sys.Clock.Pending() > 0 {
			h.sys.Clock.Advance(d)
		} else {
			runtime.Gosched()
		}
	}
}

func asPanic(t *testing.T, err error) {
	t.Helper()
	var pe *actor.PanicError
	assert.ErrorAs(t, err, &pe, "%v", err)
}

func asBad(t *testing.T, err error) {
	t.Helper()
	var be *actor.BadError
	assert.ErrorAs(t, err, &be, "%v", err)
}

func TestHostileUserCode(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *hostile)
	}{
		{"init/panic", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"init": panics})))
			_, err := h.sys.Spawn("h", nil)
			asPanic(t, err)
		}},
		{"init/typed_nil", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"init": typedNilErr})))
			_, err := h.sys.Spawn("h", nil)
			asBad(t, err)
		}},
		{"handle/panic", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"handle": panics})))
			_, pid := h.start(t)
			asPanic(t, h.exitOf(t, pid, "go"))
			assert.Equal(t, 1, h.logs.FilterMessage("process crashed").Len())
		}},
		{"handle/typed_nil", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"handle": typedNilErr})))
			_, pid := h.start(t)
			asBad(t, h.exitOf(t, pid, "go"))
			assert.Equal(t, 1, h.logs.FilterMessage("process crashed").Len())
		}},
		{"handle/blocks", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"handle": blocks})))
			sup, pid := h.start(t)
			require.NoError(t, h.sys.Send(pid, "go"))
			<-h.inside
			w := h.sys.Watch(pid)
			done := make(chan error, 1)
			go func() { done <- sup.TerminateChild(h.ctx, "c") }()
			h.advance(t, time.Second, supervisor.KillGrace) // shutdown timeout, then the kill's grace
			require.NoError(t, <-done)
			<-w.Done()
			assert.Equal(t, actor.Killed, w.Reason())
			assert.Equal(t, 1, h.sys.Abandoned())
		}},
		{"terminate/panic", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"terminate": panics})))
			_, pid := h.start(t)
			w := h.sys.Watch(pid)
			require.Error(t, h.sys.StopWith(h.ctx, pid, actor.Normal))
			<-w.Done()
			asPanic(t, w.Reason())
		}},
		{"terminate/typed_nil", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"terminate": typedNilErr})))
			_, pid := h.start(t)
			require.NoError(t, h.sys.StopWith(h.ctx, pid, actor.Normal), "a typed nil keeps the reason")
		}},
		{"terminate/blocks", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", map[string]misbehaviour{"terminate": blocks})))
			sup, pid := h.start(t)
			w := h.sys.Watch(pid)
			done := make(chan error, 1)
			go func() { done <- sup.TerminateChild(h.ctx, "c") }()
			<-h.inside
			h.advance(t, time.Second, supervisor.KillGrace)
			require.NoError(t, <-done)
			<-w.Done()
			assert.Equal(t, actor.Killed, w.Reason())
		}},
		{"code_change/panic", func(t *testing.T, h *hostile) { migrationFails(t, h, panics, asPanic) }},
		{"code_change/typed_nil", func(t *testing.T, h *hostile) { migrationFails(t, h, typedNilErr, asBad) }},
		{"code_change/blocks", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
			sup, pid := h.start(t)
			plan := upgrade.Plan{Changes: []upgrade.Change{{Module: "h", To: h.version("v2", "v1", map[string]misbehaviour{"code_change": blocks})}}, Timeout: time.Second}
			done := make(chan *upgrade.Report, 1)
			go func() {
				rep, _ := sup.Upgrade(h.ctx, plan)
				done <- rep
			}()
			<-h.inside
			rep := driveUntil(t, h, time.Second, done) // the rounds' timeouts
			require.NotNil(t, rep)
			assert.NotEqual(t, upgrade.Committed, rep.Outcome)
			v, ok := h.sys.VersionOf(pid)
			require.True(t, ok)
			assert.Equal(t, "v1", v.Version)
		}},
		{"downgrade/panic", func(t *testing.T, h *hostile) { downgradeFails(t, h, panics, asPanic) }},
		{"downgrade/typed_nil", func(t *testing.T, h *hostile) { downgradeFails(t, h, typedNilErr, asBad) }},
		{"gate/panic", func(t *testing.T, _ *hostile) { gateFails(t, panics) }},
		{"gate/typed_nil", func(t *testing.T, _ *hostile) { gateFails(t, typedNilErr) }},
		{"gate/blocks", func(t *testing.T, _ *hostile) { gateFails(t, blocks) }},
		{"subscriber/panic", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
			defer h.sys.Subscribe(func(actor.Event) { panic("subscriber exploded") })()
			_, pid := h.start(t) // ChildStarted reaches the subscriber
			_, err := h.sys.Call(h.ctx, pid, "n")
			require.NoError(t, err)
			assert.Equal(t, 1, h.logs.FilterMessage("event subscriber panicked; unsubscribed").Len())
		}},
		{"subscriber_async/blocks_and_calls_the_supervisor", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
			var sup atomic.Pointer[supervisor.Handle]
			answered := make(chan error, 4)
			defer h.sys.SubscribeAsync(func(e actor.Event) {
				if _, ok := e.(supervisor.ChildStarted); ok {
					for sup.Load() == nil {
						<-h.inside // handed the supervisor below
					}
					_, err := sup.Load().WhichChildren(h.ctx)
					answered <- err
				}
			})()
			s, _ := h.start(t)
			sup.Store(s)
			h.inside <- "go"
			require.NoError(t, <-answered)
		}},
		{"on_handled/panic", func(t *testing.T, h *hostile) {
			require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
			stop, err := h.sys.OnHandled(func(actor.PID, any) { panic("observer exploded") })
			require.NoError(t, err)
			defer stop()
			_, pid := h.start(t)
			_, err = h.sys.Call(h.ctx, pid, "n")
			require.NoError(t, err)
			v, err := h.sys.Call(h.ctx, pid, "n")
			require.NoError(t, err)
			assert.Equal(t, 2, v)
			assert.Equal(t, 1, h.logs.FilterMessage("OnHandled observer panicked; removed").Len())
		}},
		{"max_batch/panic", func(t *testing.T, h *hostile) {
			err := h.sys.Load(actor.NewVersion("b", "v1", panicBatch{}))
			require.ErrorIs(t, err, actor.ErrInvalidVersion)
		}},
		{"handle_batch/panic", func(t *testing.T, h *hostile) { batchFails(t, h, panics, asPanic) }},
		{"handle_batch/typed_nil", func(t *testing.T, h *hostile) { batchFails(t, h, typedNilErr, asBad) }},
		{"on_retire/panic", func(t *testing.T, h *hostile) { retireHook(t, h, panics, "version hook panicked") }},
		{"on_retire/blocks", func(t *testing.T, h *hostile) {
			retireHook(t, h, blocks, "version hook did not return in time; left running")
		}},
		{"on_shutdown/panic", func(t *testing.T, h *hostile) {
			h.sys.OnShutdown(func(context.Context) { panic("hook exploded") })
			require.NoError(t, h.sys.Shutdown(h.ctx))
			assert.Equal(t, 1, h.logs.FilterMessage("shutdown hook panicked").Len())
		}},
		{"on_shutdown/blocks", func(t *testing.T, h *hostile) {
			h.sys.OnShutdown(func(context.Context) { <-h.gate })
			require.NoError(t, h.sys.Shutdown(h.ctx))
			assert.Equal(t, 1, h.logs.FilterMessage("shutdown hook did not return in time; left running").Len())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newHostile(t)) })
	}
}

// migrationFails loads a v2 whose CodeChange misbehaves: the process's
// pickup fails with that reason and it stays on v1, serving.
func migrationFails(t *testing.T, h *hostile, m misbehaviour, check func(*testing.T, error)) {
	require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
	_, pid := h.start(t)
	failed := make(chan actor.MigrationFailed, 1)
	defer h.sys.Subscribe(func(e actor.Event) {
		if f, ok := e.(actor.MigrationFailed); ok {
			failed <- f
		}
	})()
	require.NoError(t, h.sys.Load(h.version("v2", "v1", map[string]misbehaviour{"code_change": m})))
	v, err := h.sys.Call(h.ctx, pid, "n")
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	check(t, (<-failed).Err)
	pv, _ := h.sys.VersionOf(pid)
	assert.Equal(t, "v1", pv.Version)
}

// downgradeFails takes a process on v2 back to v1, whose way down is v2's
// misbehaving Downgrade: it stays on v2.
func downgradeFails(t *testing.T, h *hostile, m misbehaviour, check func(*testing.T, error)) {
	v1 := h.version("v1", "", nil)
	require.NoError(t, h.sys.Load(v1))
	require.NoError(t, h.sys.Load(h.version("v2", "v1", map[string]misbehaviour{"downgrade": m})))
	_, pid := h.start(t)
	failed := make(chan actor.MigrationFailed, 1)
	defer h.sys.Subscribe(func(e actor.Event) {
		if f, ok := e.(actor.MigrationFailed); ok {
			failed <- f
		}
	})()
	require.NoError(t, h.sys.Load(v1))
	_, err := h.sys.Call(h.ctx, pid, "n")
	require.NoError(t, err)
	check(t, (<-failed).Err)
	pv, _ := h.sys.VersionOf(pid)
	assert.Equal(t, "v2", pv.Version)
}

// gateFails runs a rolling upgrade of two processes whose gate
// misbehaves: the plan rolls back and both stay on v1. It runs on the
// real clock: a plan's rounds and its gate share one timeout, which a
// fake clock cannot step for the gate alone; the gate that blocks is
// given up on after that timeout.
func gateFails(t *testing.T, m misbehaviour) {
	h := newHostile(t, actor.WithClock(actor.RealClock{}))
	require.NoError(t, h.sys.Load(h.version("v1", "", nil)))
	sup, err := supervisor.Start(h.sys.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "h"}, Restart: supervisor.Temporary}})
	require.NoError(t, err)
	var pids []actor.PID
	for range 2 {
		pid, err := sup.StartSimpleChild(h.ctx, nil)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	plan := upgrade.Plan{
		Changes: []upgrade.Change{{Module: "h", To: h.version("v2", "v1", nil)}},
		Mode:    upgrade.Rolling, Waves: []float64{0.5, 1}, Timeout: 2 * time.Second,
		Gate: upgrade.Gate{Observe: time.Millisecond, Check: func(context.Context, upgrade.Wave) error {
			return h.misbehave("gate", m)
		}},
	}
	done := make(chan *upgrade.Report, 1)
	go func() {
		rep, _ := sup.Upgrade(h.ctx, plan)
		done <- rep
	}()
	rep := <-done
	require.NotNil(t, rep)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome, "%+v", rep.Processes)
	for _, pid := range pids {
		pv, _ := h.sys.VersionOf(pid)
		assert.Equal(t, "v1", pv.Version)
	}
}

// badBatch is a BatchHandler version whose HandleBatch misbehaves.
type badBatch struct {
	h *hostile
	m misbehaviour
}

func (b badBatch) Init(*actor.Context, any) (any, error)        { return nil, nil }
func (b badBatch) Handle(*actor.Context, any, any) (any, error) { return nil, nil }
func (b badBatch) MaxBatch() int                                { return 8 }
func (b badBatch) HandleBatch(_ *actor.Context, s any, _ *actor.Batch) (any, int, error) {
	return s, 0, b.h.misbehave("handle_batch", b.m)
}

type panicBatch struct{ badBatch }

func (panicBatch) MaxBatch() int { panic("MaxBatch exploded") }

func batchFails(t *testing.T, h *hostile, m misbehaviour, check func(*testing.T, error)) {
	require.NoError(t, h.sys.Load(actor.NewVersion("b", "v1", badBatch{h: h, m: m})))
	pid, err := h.sys.Spawn("b", nil)
	require.NoError(t, err)
	check(t, h.exitOf(t, pid, "go"))
}

// retireHook loads v2 over v1 with an OnRetire for v1 that misbehaves:
// v1 retires when its last process leaves it, the hook's failure is
// logged, and the process that let go of v1 goes on.
func retireHook(t *testing.T, h *hostile, m misbehaviour, logged string) {
	require.NoError(t, h.sys.Load(h.version("v1", "", nil), actor.OnRetire(func() { _ = h.misbehave("on_retire", m) })))
	_, pid := h.start(t)
	require.NoError(t, h.sys.Load(h.version("v2", "v1", nil)))
	v, err := h.sys.Call(h.ctx, pid, "n") // migrates; v1 retires
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	v, err = h.sys.Call(h.ctx, pid, "n")
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	require.Eventually(t, func() bool { return h.logs.FilterMessage(logged).Len() == 1 }, actortest.DefaultWait, time.Millisecond)
}
