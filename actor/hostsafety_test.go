package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/mailbox"
)

type myErr struct{ msg string }

func (e *myErr) Error() string { return e.msg } // panics on a nil *myErr

type panickyErr struct{}

func (panickyErr) Error() string { panic("Error exploded") }

// A typed nil or an error whose Error panics, returned by Handle, ends the
// process with a *BadError; an error-level logger formats it without
// crashing the host.
func TestHandlerBadErrorsBecomeBadError(t *testing.T) {
	for name, bad := range map[string]error{
		"typed nil":      (*myErr)(nil),
		"panicky Error":  panickyErr{},
		"typed nil wrap": fmt.Errorf("wrapped: %w", panickyErr{}),
	} {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zapcore.ErrorLevel)
			sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
			require.NoError(t, sys.Load(workerVersion(nil)))
			pid, err := sys.Spawn("worker", nil)
			require.NoError(t, err)
			w := sys.Watch(pid)
			require.NoError(t, sys.Send(pid, crash{Err: bad}))
			<-w.Done()
			var be *actor.BadError
			require.ErrorAs(t, w.Reason(), &be)
			assert.NotEmpty(t, w.Reason().Error())
			assert.Equal(t, 1, logs.FilterMessage("process crashed").Len())
		})
	}
}

func TestInitTypedNilErrorFailsSpawn(t *testing.T) {
	sys := newSys(t)
	_, err := sys.Spawn("worker", error((*myErr)(nil)))
	var be *actor.BadError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "*actor_test.myErr", be.Type)
	assert.Empty(t, be.Panic)
}

type panicBatch struct{}

func (panicBatch) Init(*actor.Context, any) (any, error)        { return nil, nil }
func (panicBatch) Handle(*actor.Context, any, any) (any, error) { return nil, nil }
func (panicBatch) HandleBatch(*actor.Context, any, *actor.Batch) (any, int, error) {
	return nil, 0, nil
}
func (panicBatch) MaxBatch() int { panic("MaxBatch exploded") }

func TestMaxBatchPanicIsALoadError(t *testing.T) {
	sys := actortest.NewSystem(t)
	err := sys.Load(actor.NewVersion("b", "v1", panicBatch{}))
	require.ErrorIs(t, err, actor.ErrInvalidVersion)
	assert.Contains(t, err.Error(), "MaxBatch exploded")
}

// A subscriber or OnHandled observer that panics is logged and removed;
// the process that emitted goes on.
func TestPanickingObserversAreRemoved(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
	require.NoError(t, sys.Load(workerVersion(nil)))
	var calls atomic.Int32
	cancel := sys.Subscribe(func(e actor.Event) {
		calls.Add(1)
		panic("subscriber exploded")
	})
	defer cancel()
	stop, err := sys.OnHandled(func(actor.PID, any) { panic("observer exploded") })
	require.NoError(t, err)
	defer stop()

	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(pid, "one"))
	v, err := call(t, sys, pid, echo{V: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	w := sys.Watch(pid)                                               // before the crash: a Watch made mid-exit finds no process
	require.NoError(t, sys.Send(pid, crash{Err: errors.New("boom")})) // a ProcessExited event
	<-w.Done()
	assert.Equal(t, int32(1), calls.Load(), "removed after its first panic")
	assert.Equal(t, 1, logs.FilterMessage("event subscriber panicked; unsubscribed").Len())
	assert.Equal(t, 1, logs.FilterMessage("OnHandled observer panicked; removed").Len())
	_, err = sys.OnHandled(func(actor.PID, any) {})
	assert.NoError(t, err, "the panicking observer is gone")
}

// SubscribeAsync runs the callback on its own goroutine: one that blocks
// does not hold up the process that caused the event, and sees every
// event, in order.
func TestSubscribeAsyncDoesNotBlockEmitter(t *testing.T) {
	sys := newSys(t)
	gate := make(chan struct{})
	got := make(chan actor.Event, 16)
	cancel := sys.SubscribeAsync(func(e actor.Event) {
		<-gate
		if ex, ok := e.(actor.ProcessExited); ok {
			got <- ex
		}
	})
	defer cancel()
	var pids []actor.PID
	for range 3 {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		require.NoError(t, sys.Stop(context.Background(), pid)) // would hang with a blocking sync subscriber
	}
	close(gate)
	for _, pid := range pids {
		e := <-got
		assert.Equal(t, pid, e.(actor.ProcessExited).PID)
	}
}

// Through the System a Context hands out, a process's requests to itself
// fail at once instead of hanging until their deadline.
func TestCallSelfThroughSystemFails(t *testing.T) {
	sys := actortest.NewSystem(t)
	type try struct {
		f func(ctx *actor.Context) error
	}
	require.NoError(t, sys.Load(actor.Define("self", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			ctx.Reply(msg.(try).f(ctx))
			return s, nil
		},
	})))
	pid, err := sys.Spawn("self", nil, actor.WithName("me"))
	require.NoError(t, err)
	bg := context.Background()
	for name, f := range map[string]func(ctx *actor.Context) error{
		"System.Call": func(ctx *actor.Context) error {
			_, err := ctx.System().Call(bg, ctx.Self(), "x")
			return err
		},
		"System.CallNamed": func(ctx *actor.Context) error {
			_, err := ctx.System().CallNamed(bg, "me", "x")
			return err
		},
		"Context.CallNamed": func(ctx *actor.Context) error {
			_, err := ctx.CallNamed(bg, "me", "x")
			return err
		},
		"Stop":    func(ctx *actor.Context) error { return ctx.System().Stop(bg, ctx.Self()) },
		"Suspend": func(ctx *actor.Context) error { return ctx.System().Suspend(bg, ctx.Self()) },
		"Info": func(ctx *actor.Context) error {
			_, err := ctx.System().Info(bg, ctx.Self())
			return err
		},
		"Inspect": func(ctx *actor.Context) error { return ctx.System().Inspect(bg, ctx.Self(), func(any) {}) },
	} {
		t.Run(name, func(t *testing.T) {
			v, err := sys.Call(bg, pid, try{f})
			require.NoError(t, err)
			assert.ErrorIs(t, v.(error), actor.ErrCallSelf)
		})
	}
	// The root System still calls the process.
	info, err := sys.Info(bg, pid)
	require.NoError(t, err)
	assert.Equal(t, "me", info.Name)
}

// A process's name is free before anyone can learn of its exit: a linked
// process trapping exits registers the name again as soon as it hears.
func TestNameIsFreeBeforeLinksHear(t *testing.T) {
	sys := newSys(t)
	probe := actortest.NewProbe(t, sys.System)
	for i := range 200 {
		pid, err := sys.Spawn("worker", nil, actor.WithName("acct"))
		require.NoError(t, err)
		probe.Link(pid)
		if i%2 == 0 {
			require.NoError(t, sys.Kill(pid))
		} else {
			require.NoError(t, sys.Send(pid, crash{Err: errors.New("boom")}))
		}
		probe.ExpectExit(pid, nil)
		_, taken := sys.Whereis("acct")
		require.False(t, taken, "round %d: the name outlived the exit signal", i)
	}
}

// Register racing the exit of its process never leaves the name bound to
// a dead process.
func TestRegisterRacingExitLeavesNoName(t *testing.T) {
	sys := newSys(t)
	for i := range 300 {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		w := sys.Watch(pid)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sys.Register(fmt.Sprint("n", i), pid)
		}()
		require.NoError(t, sys.Kill(pid))
		wg.Wait()
		<-w.Done()
		_, taken := sys.Whereis(fmt.Sprint("n", i))
		require.False(t, taken, "round %d", i)
	}
}

// A Watch of a process that is in the middle of its exit waits for the
// exit to finish and reports its real reason.
func TestWatchMidExitWaitsForTheExit(t *testing.T) {
	sys := newSys(t)
	gate := make(chan struct{})
	entered := make(chan struct{})
	cancel := sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(actor.DeadLetter); ok {
			select {
			case <-entered:
			default:
				close(entered)
				<-gate // hold the exit after its mailbox closed
			}
		}
	})
	defer cancel()
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	release := hold(t, sys, pid)
	require.NoError(t, sys.Send(pid, "queued")) // a dead letter at exit
	require.NoError(t, sys.Send(pid, crash{Err: errors.New("late")}))
	require.NoError(t, sys.Kill(pid))
	release()
	<-entered
	w := sys.Watch(pid)
	select {
	case <-w.Done():
		t.Fatal("Watch returned while the exit was under way")
	default:
	}
	close(gate)
	<-w.Done()
	assert.Equal(t, actor.Killed, w.Reason())
}

// In a bounded DropOldest mailbox, the ExitMsg a trapped exit becomes and
// a monitor's Down are never evicted and do not count towards the bound.
func TestDropOldestNeverEvictsSignals(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithMailbox(2, mailbox.DropOldest), actor.WithTrapExit())
	require.NoError(t, err)
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(pid, linkTo{PID: other}))
	_, err = call(t, sys, pid, getCount{})
	require.NoError(t, err)
	release := hold(t, sys, pid)
	w := sys.Watch(other)
	require.NoError(t, sys.Send(other, crash{Err: errors.New("boom")}))
	<-w.Done()
	// The exit signal turns into an ExitMsg when pid takes it, so pid
	// takes it before the flood.
	for i := range 10 {
		require.NoError(t, sys.Send(pid, i))
	}
	release()
	seen, err := call(t, sys, pid, getSeen{})
	require.NoError(t, err)
	var exits int
	for _, m := range seen.([]any) {
		if _, ok := m.(actor.ExitMsg); ok {
			exits++
		}
	}
	assert.Equal(t, 1, exits, "seen: %v", seen)
}

// A named process killed through its link with a killed parent has not
// taken that signal yet when the parent's replacement starts it again:
// Spawn waits for the holder to serve the signals it has queued, so the
// name is taken over instead of refused.
func TestSpawnWaitsForAHolderTakingItsExit(t *testing.T) {
	sys := newSys(t)
	for i := range 200 {
		parent, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		child, err := sys.Spawn("worker", nil, actor.WithName("x"))
		require.NoError(t, err)
		require.NoError(t, sys.Send(parent, linkTo{PID: child}))
		_, err = call(t, sys, parent, getCount{})
		require.NoError(t, err)
		w := sys.Watch(parent)
		require.NoError(t, sys.Kill(parent))
		<-w.Done()
		pid, err := sys.Spawn("worker", nil, actor.WithName("x"))
		require.NoError(t, err, "round %d", i)
		<-sys.Watch(child).Done()
		require.NoError(t, sys.Kill(pid))
		<-sys.Watch(pid).Done()
	}
}
