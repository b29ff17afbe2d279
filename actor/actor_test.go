package actor_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/mailbox"
)

func TestPID(t *testing.T) {
	sys := newSys(t)
	a, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	b, err := sys.Spawn("worker", nil)
	require.NoError(t, err)

	assert.NotEqual(t, a, b)
	assert.False(t, a.IsZero())
	assert.True(t, actor.PID{}.IsZero())
	assert.Regexp(t, `^<0\.\d+\.0>$`, a.String())
	m := map[actor.PID]int{a: 1, b: 2}
	assert.Equal(t, 1, m[a], "PIDs work as map keys")

	wire, err := a.MarshalBinary()
	require.NoError(t, err)
	var back actor.PID
	require.NoError(t, back.UnmarshalBinary(wire))
	assert.Equal(t, a, back)
	assert.Error(t, back.UnmarshalBinary([]byte{1, 2, 3}))
}

func TestLoadRejectsBadVersions(t *testing.T) {
	sys := actortest.NewSystem(t)
	handle := func(*actor.Context, int, any) (int, error) { return 0, nil }

	assert.ErrorIs(t, sys.Load(nil), actor.ErrNilVersion)
	assert.ErrorIs(t, sys.Load(actor.Define("", "v1", actor.Funcs[int]{Handle: handle})), actor.ErrInvalidVersion)
	assert.ErrorIs(t, sys.Load(actor.Define("m", "", actor.Funcs[int]{Handle: handle})), actor.ErrInvalidVersion)
	assert.ErrorIs(t, sys.Load(actor.Define("m", "v1", actor.Funcs[int]{})), actor.ErrInvalidVersion)
	assert.ErrorIs(t, sys.Load(actor.NewVersion("m", "v1", nil)), actor.ErrInvalidVersion)
	assert.Empty(t, sys.Modules(), "nothing was loaded")

	v1 := actor.Define("m", "v1", actor.Funcs[int]{Handle: handle})
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Load(v1), "loading the current version again is a no-op")
	other := actor.Define("m", "v1", actor.Funcs[int]{Handle: handle})
	assert.ErrorIs(t, sys.Load(other), actor.ErrVersionConflict)
	cur, ok := sys.Current("m")
	require.True(t, ok)
	assert.Same(t, v1, cur)
	_, ok = sys.Current("nope")
	assert.False(t, ok)
}

func TestSpawnErrors(t *testing.T) {
	sys := newSys(t)
	_, err := sys.Spawn("no-such-module", nil)
	assert.ErrorIs(t, err, actor.ErrUnknownModule)

	_, err = sys.Spawn("worker", nil, actor.WithName("svc"))
	require.NoError(t, err)
	_, err = sys.Spawn("worker", nil, actor.WithName("svc"))
	assert.ErrorIs(t, err, actor.ErrNameTaken)
	_, err = sys.Spawn("worker", nil, actor.WithMailbox(-1, mailbox.Reject))
	assert.Error(t, err)

	before := sys.ProcessCount()
	initErr := errors.New("no database")
	_, err = sys.Spawn("worker", initErr)
	assert.ErrorIs(t, err, initErr)
	_, err = sys.Spawn("worker", "panic")
	var pe *actor.PanicError
	require.ErrorAs(t, err, &pe, "a panicking Init is an error, not a crash")
	assert.Equal(t, "init exploded", pe.Value)
	assert.Equal(t, before, sys.ProcessCount(), "failed spawns leave no process")
	assert.EqualValues(t, 1, sys.Activations("worker", "v1"), "failed spawns hold no activation")
}

func TestSendKeepsOrderAndCallReplies(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	for i := range 1000 {
		require.NoError(t, sys.Send(pid, i))
	}
	seen, err := call(t, sys, pid, getSeen{})
	require.NoError(t, err)
	want := make([]any, 1000)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, seen)
	assert.ErrorIs(t, sys.Send(pid, nil), actor.ErrNilMessage)
}

// One rule for every send: an error means refused (the sender knows), not
// a dead letter; an accepted message is handled or reported once.
func TestSendToDeadProcessIsRefusedNotADeadLetter(t *testing.T) {
	sys := newSys(t)
	letters := deadLetters(sys)
	pid, err := sys.Spawn("worker", nil, actor.WithName("w"))
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), pid))

	assert.ErrorIs(t, sys.Send(pid, "late"), actor.NoProc)
	assert.ErrorIs(t, sys.SendNamed("w", "late"), actor.ErrUnknownName)
	assert.Empty(t, letters())
	assert.Zero(t, sys.DeadLetters())

	// A timer's message has no sender left to tell: a dead letter.
	letters = deadLetters(sys)
	sys.SendAfter(pid, time.Second, "timed")
	sys.Clock.Advance(time.Second)
	assert.Equal(t, []actor.DeadLetter{{To: pid, Message: "timed", Reason: actor.NoProc}}, letters())
	assert.EqualValues(t, 1, sys.DeadLetters())
}

func TestQueuedMessagesOfADyingProcessAreDeadLetters(t *testing.T) {
	sys := newSys(t)
	letters := deadLetters(sys)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	release := hold(t, sys, pid)
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(pid) // queued on the system lane before the kill
	require.NoError(t, sys.Send(pid, "m1"))
	require.NoError(t, sys.Send(pid, "m2"))
	require.NoError(t, sys.Kill(pid))
	release()
	probe.ExpectDown(pid, actor.Killed)

	assert.Equal(t, []actor.DeadLetter{
		{To: pid, Message: "m1", Reason: actor.Killed},
		{To: pid, Message: "m2", Reason: actor.Killed},
	}, letters())
}

func TestCallErrors(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithName("w"))
	require.NoError(t, err)

	v, err := sys.CallNamed(context.Background(), "w", echo{V: "hi"})
	require.NoError(t, err)
	assert.Equal(t, "hi", v)
	_, err = sys.CallNamed(context.Background(), "nobody", echo{V: "hi"})
	assert.ErrorIs(t, err, actor.ErrUnknownName)
	assert.ErrorIs(t, sys.SendNamed("nobody", 1), actor.ErrUnknownName)
	_, err = sys.Call(context.Background(), pid, nil)
	assert.ErrorIs(t, err, actor.ErrNilMessage)

	_, err = call(t, sys, pid, "not answered")
	assert.ErrorIs(t, err, actor.ErrNoReply)

	// The target dies while handling the call.
	_, err = call(t, sys, pid, boom{V: "in call"})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, pid, ee.PID)
	var pe *actor.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "in call", pe.Value)

	// The target is dead already.
	_, err = call(t, sys, pid, echo{V: 1})
	assert.True(t, isExit(err, actor.NoProc), "got %v", err)
}

func TestDeferredCallIsAnsweredOrFailedOnExit(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)

	got := make(chan error, 1)
	go func() {
		_, err := call(t, sys, pid, deferReply{})
		got <- err
	}()
	waitPending := func() {
		for { // each call is an event: the answer says whether deferReply was handled
			ok, err := call(t, sys, pid, hasPending{})
			require.NoError(t, err)
			if ok.(bool) {
				return
			}
		}
	}
	// Answer later from another message.
	waitPending()
	require.NoError(t, sys.Send(pid, answerDeferred{V: "later"}))
	require.NoError(t, <-got)

	// A deferred call whose process dies gets the exit reason.
	go func() {
		_, err := call(t, sys, pid, deferReply{})
		got <- err
	}()
	waitPending()
	stopErr := errors.New("giving up")
	require.NoError(t, sys.Send(pid, crash{Err: stopErr}))
	err = <-got
	assert.ErrorIs(t, err, stopErr)
	var ee *actor.ExitError
	assert.ErrorAs(t, err, &ee)
}

func TestCallDefaultTimeoutUsesTheClock(t *testing.T) {
	sys := newSys(t)
	joined := make(chan struct{}, 1)
	actor.OnDeadlineJoined(sys.System, func() { joined <- struct{}{} })
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := sys.Call(context.Background(), pid, deferReply{}) // never answered
		got <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	select { // the call waits under the default timeout
	case <-joined:
	case <-ctx.Done():
		t.Fatal("the call never waited under the default timeout")
	}
	sys.Clock.Advance(4 * time.Second)
	select {
	case err := <-got:
		t.Fatalf("call ended before its timeout: %v", err)
	default:
	}
	sys.Clock.Advance(time.Second)
	assert.ErrorIs(t, <-got, actor.ErrTimeout)
}

func TestCallContextCancel(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := sys.Call(ctx, pid, deferReply{})
		got <- err
	}()
	cancel()
	assert.ErrorIs(t, <-got, context.Canceled)
	// The process is fine afterwards.
	v, err := call(t, sys, pid, echo{V: 7})
	require.NoError(t, err)
	assert.Equal(t, 7, v)
}

// deepPanic recurses n times, then panics.
//
//go:noinline
func deepPanic(n int) {
	if n == 0 {
		panic("deep")
	}
	deepPanic(n - 1)
}

// A panic's stack keeps its innermost 32 frames: the panicking function
// first, however deep it was called.
func TestPanicStackKeepsTheInnermostFrames(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(runnerVersion))
	pid, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(pid)
	require.NoError(t, sys.Send(pid, runIn(func(*actor.Context) { deepPanic(100) })))
	var pe *actor.PanicError
	require.ErrorAs(t, probe.ExpectDown(pid, nil).Reason, &pe)
	lines := strings.Split(strings.TrimSuffix(string(pe.Stack()), "\n"), "\n")
	require.Len(t, lines, 2*32, "function and file:line per frame")
	assert.Equal(t, "runtime.gopanic", lines[0])
	assert.True(t, strings.HasSuffix(lines[2], ".deepPanic"), "the panicking function next: %s", lines[2])
}

func TestPanicBecomesExitReasonAndIsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
	require.NoError(t, sys.Load(workerVersion(nil)))
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(pid)

	require.NoError(t, sys.Send(pid, boom{V: "kaboom"}))
	d := probe.ExpectDown(pid, nil)
	var pe *actor.PanicError
	require.ErrorAs(t, d.Reason, &pe)
	assert.Equal(t, "kaboom", pe.Value)
	assert.Contains(t, string(pe.Stack()), "helpers_test.go", "the stack points at the handler")

	crashes := logs.FilterMessage("process crashed").All()
	require.Len(t, crashes, 1)
	fields := crashes[0].ContextMap()
	assert.Equal(t, pid.String(), fields["pid"])
	assert.Equal(t, "worker", fields["module"])
	assert.Equal(t, "v1", fields["version"])
	assert.Equal(t, "panic: kaboom", fields["reason"])
	assert.Contains(t, fields, "stack")
}

// TestExitSignalSemantics is OTP's table of what an exit signal does to
// the receiving process, by trap_exit, how the signal came (through a link
// when the linked process exits, or sent with exit/2) and its reason.
func TestExitSignalSemantics(t *testing.T) {
	custom := errors.New("custom")
	type outcome struct {
		dies    error // exit reason of the receiver, or nil if it lives
		trapped bool  // it received an ExitMsg with the signal's reason
	}
	cases := []struct {
		trap   bool
		link   bool
		reason error
		want   outcome
	}{
		{false, true, actor.Normal, outcome{}},
		{false, true, actor.Shutdown, outcome{dies: actor.Shutdown}},
		{false, true, custom, outcome{dies: custom}},
		{false, true, actor.Kill, outcome{dies: actor.Kill}}, // a process that exited with reason kill: trappable, not "killed"
		{true, true, actor.Normal, outcome{trapped: true}},
		{true, true, custom, outcome{trapped: true}},
		{true, true, actor.Kill, outcome{trapped: true}},
		{false, false, actor.Normal, outcome{}},
		{false, false, custom, outcome{dies: custom}},
		{false, false, actor.Kill, outcome{dies: actor.Killed}},
		{true, false, actor.Normal, outcome{trapped: true}},
		{true, false, custom, outcome{trapped: true}},
		{true, false, actor.Kill, outcome{dies: actor.Killed}}, // untrappable
	}
	for _, tc := range cases {
		name := fmt.Sprintf("trap=%v/link=%v/%v", tc.trap, tc.link, tc.reason)
		t.Run(name, func(t *testing.T) {
			terminated := make(chan error, 4)
			sys := actortest.NewSystem(t)
			require.NoError(t, sys.Load(workerVersion(terminated)))
			probe := actortest.NewProbe(t, sys.System)
			target, err := sys.Spawn("worker", nil)
			require.NoError(t, err)
			if tc.trap {
				require.NoError(t, sys.Send(target, trap{}))
				_, err = call(t, sys, target, getCount{}) // trap{} handled
				require.NoError(t, err)
			}
			probe.Monitor(target)

			var from actor.PID
			if tc.link {
				from, err = sys.Spawn("worker", nil)
				require.NoError(t, err)
				_, err = call(t, sys, target, linkTo{PID: from})
				require.ErrorIs(t, err, actor.ErrNoReply) // linked; no reply expected
				// A probe of its own: the two Downs may arrive in either order.
				fromProbe := actortest.NewProbe(t, sys.System)
				fromProbe.Monitor(from)
				// The monitor is a signal from the probe, the crash a
				// message from this goroutine: two senders, whose order
				// nothing promises (nor does OTP). A call answered after
				// the monitor was asked for puts the monitor first: the
				// system lane goes first at the next turn.
				_, err = call(t, sys, from, getCount{})
				require.NoError(t, err)
				require.NoError(t, sys.Send(from, crash{Err: tc.reason}))
				fromProbe.ExpectDown(from, tc.reason)
				<-terminated // the linked process's own Terminate
			} else {
				require.NoError(t, sys.Exit(target, tc.reason))
			}

			if tc.want.dies != nil {
				probe.ExpectDown(target, tc.want.dies)
				select {
				case r := <-terminated:
					t.Fatalf("Terminate ran for an exit signal: %v", r)
				default:
				}
				return
			}
			// It lives: a call is answered after the signal was handled
			// (the system lane goes first).
			seen, err := call(t, sys, target, getSeen{})
			require.NoError(t, err)
			if tc.want.trapped {
				assert.Equal(t, []any{actor.ExitMsg{From: from, Reason: tc.reason}}, seen)
			} else {
				assert.Empty(t, seen)
			}
		})
	}
}

func TestLinkToDeadProcess(t *testing.T) {
	sys := newSys(t)
	dead, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), dead))

	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	_, err = call(t, sys, pid, linkTo{PID: dead})
	assert.ErrorIs(t, err, actor.NoProc, "not trapping: link fails with noproc")

	probe := actortest.NewProbe(t, sys.System) // traps exits
	probe.Link(dead)
	probe.ExpectExit(dead, actor.NoProc)
}

func TestUnlinkIgnoresExit(t *testing.T) {
	sys := newSys(t)
	probe := actortest.NewProbe(t, sys.System)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	probe.Link(pid)
	probe.Do(func(ctx *actor.Context) { ctx.Unlink(pid) })
	probe.Monitor(pid)
	require.NoError(t, sys.Send(pid, crash{Err: errors.New("bye")}))
	d := probe.Recv()
	assert.IsType(t, actor.Down{}, d, "only the monitor fires, no exit signal through the removed link")
	info, err := sys.Info(context.Background(), probe.PID())
	require.NoError(t, err)
	assert.Empty(t, info.Links)
}

func TestLinkIsBidirectional(t *testing.T) {
	sys := newSys(t)
	probe := actortest.NewProbe(t, sys.System)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	probe.Link(pid)
	info, err := sys.Info(context.Background(), pid)
	require.NoError(t, err)
	assert.Equal(t, []actor.PID{probe.PID()}, info.Links)

	// The probe's exit takes the worker down with it.
	watcher := actortest.NewProbe(t, sys.System)
	watcher.Monitor(pid)
	require.NoError(t, sys.Exit(probe.PID(), actor.Kill))
	watcher.ExpectDown(pid, actor.Killed)
}

func TestMonitors(t *testing.T) {
	sys := newSys(t)
	probe := actortest.NewProbe(t, sys.System)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)

	ref := probe.Monitor(pid)
	require.NoError(t, sys.Send(pid, crash{Err: actor.Shutdown}))
	d := probe.ExpectDown(pid, actor.Shutdown)
	assert.Equal(t, ref, d.Ref)

	// Monitoring a dead process gives noproc at once.
	ref2 := probe.Monitor(pid)
	d = probe.ExpectDown(pid, actor.NoProc)
	assert.Equal(t, ref2, d.Ref)

	// Demonitor: no Down arrives, even if the exit raced with it.
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	probe.Do(func(ctx *actor.Context) {
		r := ctx.Monitor(other)
		ctx.Demonitor(r)
	})
	third, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	probe.Monitor(third)
	require.NoError(t, sys.Kill(other))
	require.NoError(t, sys.Kill(third))
	probe.ExpectDown(third, actor.Killed) // the only message
	assert.Empty(t, probe.Received())
}

func TestTrappingChildStopsWithParentAndTerminates(t *testing.T) {
	terminated := make(chan error, 2)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	probe := actortest.NewProbe(t, sys.System)
	var child actor.PID
	probe.Do(func(ctx *actor.Context) {
		var err error
		child, err = ctx.SpawnLink("worker", nil, actor.WithTrapExit())
		require.NoError(t, err)
	})
	info, err := sys.Info(context.Background(), child)
	require.NoError(t, err)
	assert.Equal(t, probe.PID(), info.Parent)
	assert.True(t, info.TrapExit)

	watcher := actortest.NewProbe(t, sys.System)
	watcher.Monitor(child)
	require.NoError(t, sys.Exit(probe.PID(), actor.Kill))
	watcher.ExpectDown(child, actor.Killed)
	assert.ErrorIs(t, <-terminated, actor.Killed, "gen_server semantics: Terminate runs on the parent's exit")
}

// A process knows its parent however it was spawned: linked (kept with its
// links), unlinked (kept apart), or from outside any process (none). The
// parent's exit signal ends a trapping child either way.
func TestParentOfEveryKindOfChild(t *testing.T) {
	terminated := make(chan error, 3)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	require.NoError(t, sys.Load(runnerVersion))
	probe := actortest.NewProbe(t, sys.System)
	var linked, unlinked actor.PID
	probe.Do(func(ctx *actor.Context) {
		var err error
		linked, err = ctx.SpawnLink("worker", nil, actor.WithTrapExit())
		require.NoError(t, err)
		unlinked, err = ctx.Spawn("worker", nil, actor.WithTrapExit())
		require.NoError(t, err)
	})
	orphan, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	seen := make(chan actor.PID, 1)
	require.NoError(t, sys.Send(orphan, runIn(func(ctx *actor.Context) { seen <- ctx.Parent() })))
	assert.True(t, (<-seen).IsZero(), "spawned from outside: no parent")

	for _, child := range []actor.PID{linked, unlinked} {
		info, err := sys.Info(context.Background(), child)
		require.NoError(t, err)
		assert.Equal(t, probe.PID(), info.Parent, "%v", child)
		stat, ok := sys.Stat(child)
		require.True(t, ok)
		assert.Equal(t, probe.PID(), stat.Parent, "%v", child)
	}

	// The parent's exit/2 ends the unlinked trapping child, Terminate
	// included, as it does a linked one.
	watcher := actortest.NewProbe(t, sys.System)
	watcher.Monitor(unlinked)
	probe.Do(func(ctx *actor.Context) { require.NoError(t, ctx.Exit(unlinked, actor.Shutdown)) })
	watcher.ExpectDown(unlinked, actor.Shutdown)
	assert.ErrorIs(t, <-terminated, actor.Shutdown)
}

func TestKillIsUntrappableAndSkipsTerminate(t *testing.T) {
	terminated := make(chan error, 1)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	pid, err := sys.Spawn("worker", nil, actor.WithTrapExit())
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(pid)
	require.NoError(t, sys.Kill(pid))
	probe.ExpectDown(pid, actor.Killed)
	select {
	case r := <-terminated:
		t.Fatalf("Terminate ran on kill: %v", r)
	default:
	}
	assert.ErrorIs(t, sys.Kill(pid), actor.NoProc)
}

func TestStopRunsTerminate(t *testing.T) {
	terminated := make(chan error, 1)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), pid))
	assert.Equal(t, actor.Normal, <-terminated)
	err = sys.Stop(context.Background(), pid)
	assert.True(t, isExit(err, actor.NoProc), "got %v", err)
}

func TestRegisteredNames(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithName("db"))
	require.NoError(t, err)
	got, ok := sys.Whereis("db")
	require.True(t, ok)
	assert.Equal(t, pid, got)
	require.NoError(t, sys.SendNamed("db", "hello"))
	seen, err := call(t, sys, pid, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{"hello"}, seen)

	assert.ErrorIs(t, sys.Register("db2", pid), actor.ErrInvalidName, "one name per process")
	assert.ErrorIs(t, sys.Register("", pid), actor.ErrInvalidName)
	assert.ErrorIs(t, sys.Register("x", actor.PID{}), actor.NoProc)

	require.NoError(t, sys.Stop(context.Background(), pid))
	_, ok = sys.Whereis("db")
	assert.False(t, ok, "the name is released at exit")
	again, err := sys.Spawn("worker", nil, actor.WithName("db"))
	require.NoError(t, err, "and can be taken again")
	require.NoError(t, sys.Unregister("db"))
	assert.ErrorIs(t, sys.Unregister("db"), actor.ErrUnknownName)
	require.NoError(t, sys.Register("db", again))
}

func TestBoundedMailboxReject(t *testing.T) {
	sys := newSys(t)
	letters := deadLetters(sys)
	pid, err := sys.Spawn("worker", nil, actor.WithMailbox(2, mailbox.Reject))
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	require.NoError(t, sys.Send(pid, tee{To: probe.PID()}))
	release := hold(t, sys, pid)
	require.NoError(t, sys.Send(pid, 1))
	require.NoError(t, sys.Send(pid, 2))
	assert.ErrorIs(t, sys.Send(pid, 3), actor.ErrMailboxFull, "the sender sees the overflow")
	_, err = sys.Call(context.Background(), pid, echo{V: 4})
	assert.ErrorIs(t, err, actor.ErrMailboxFull, "so does a caller")
	release()
	assert.Equal(t, []any{1, 2}, probe.ExpectN(2))
	assert.Empty(t, letters(), "refused at send: the sender was told, no dead letter")
}

func TestBoundedMailboxDropOldest(t *testing.T) {
	sys := newSys(t)
	letters := deadLetters(sys)
	pid, err := sys.Spawn("worker", nil, actor.WithMailbox(2, mailbox.DropOldest))
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	require.NoError(t, sys.Send(pid, tee{To: probe.PID()}))
	release := hold(t, sys, pid)
	for i := 1; i <= 4; i++ {
		require.NoError(t, sys.Send(pid, i))
	}
	release()
	assert.Equal(t, []any{3, 4}, probe.ExpectN(2))
	assert.Equal(t, []actor.DeadLetter{
		{To: pid, Message: 1, Reason: actor.ErrMailboxFull},
		{To: pid, Message: 2, Reason: actor.ErrMailboxFull},
	}, letters())
}

func TestSuspendQueuesUserMessagesButServesSystemLane(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, sys.Suspend(ctx, pid))
	for i := range 5 {
		require.NoError(t, sys.Send(pid, i))
	}
	info, err := sys.Info(ctx, pid) // system lane: answered while suspended
	require.NoError(t, err)
	assert.True(t, info.Suspended)
	assert.Equal(t, 5, info.Queued)

	require.NoError(t, sys.Resume(ctx, pid))
	seen, err := call(t, sys, pid, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{0, 1, 2, 3, 4}, seen)
}

func TestShutdownStopsEverything(t *testing.T) {
	terminated := make(chan error, 100)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	for range 50 {
		_, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
	}
	require.NoError(t, sys.Shutdown(context.Background()))
	assert.Equal(t, 0, sys.ProcessCount())
	assert.Len(t, terminated, 50)
	for range 50 {
		assert.Equal(t, actor.Shutdown, <-terminated)
	}
	_, err := sys.Spawn("worker", nil)
	assert.ErrorIs(t, err, actor.ErrStopping)
	require.NoError(t, sys.Shutdown(context.Background()), "shutdown twice is fine")
}

func TestShutdownDeadlineKills(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	release := hold(t, sys, pid)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, sys.Shutdown(ctx), context.Canceled, "a handler is stuck")
	release() // it returns; the kill then takes it down
	require.NoError(t, sys.Shutdown(context.Background()))
	assert.Equal(t, 0, sys.ProcessCount())
}

func TestShutdownHooksRunAfterTheLastExit(t *testing.T) {
	terminated := make(chan error, 10)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	for range 3 {
		_, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
	}
	var order []string
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "shutdown's")
	sys.OnShutdown(func(hctx context.Context) {
		assert.Equal(t, 0, sys.ProcessCount(), "hooks run after every process exited")
		assert.Len(t, terminated, 3)
		assert.Equal(t, "shutdown's", hctx.Value(key{}), "hooks get Shutdown's context")
		order = append(order, "first")
	})
	sys.OnShutdown(func(context.Context) { order = append(order, "second"); panic("a faulty hook") })
	require.NoError(t, sys.Shutdown(ctx))
	assert.Equal(t, []string{"second", "first"}, order, "reverse order; a panic does not stop the rest")
	require.NoError(t, sys.Shutdown(context.Background()))
	assert.Len(t, order, 2, "once")
	sys.OnShutdown(func(hctx context.Context) {
		assert.NoError(t, hctx.Err())
		order = append(order, "late")
	})
	assert.Equal(t, "late", order[2], "a hook registered after shutdown runs at once")
}

func TestShutdownHooksRunWhenTheDeadlinePasses(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	release := hold(t, sys, pid)
	ran := false
	sys.OnShutdown(func(hctx context.Context) {
		ran = true
		assert.ErrorIs(t, hctx.Err(), context.Canceled, "the hook is told there is no time left")
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, sys.Shutdown(ctx), context.Canceled)
	assert.True(t, ran, "what hooks free must not outlive a shutdown that gave up waiting")
	release()
	require.NoError(t, sys.Shutdown(context.Background()))
}

func TestSendAfterUsesTheClock(t *testing.T) {
	sys := newSys(t)
	probe := actortest.NewProbe(t, sys.System)
	timer := sys.SendAfter(probe.PID(), time.Minute, "tick")
	sys.SendAfter(probe.PID(), 2*time.Minute, "cancelled").Stop()
	sys.Clock.Advance(59 * time.Second)
	assert.Empty(t, probe.Received())
	sys.Clock.Advance(2 * time.Minute)
	probe.Expect("tick")
	assert.False(t, timer.Stop(), "already fired")
	assert.Equal(t, 0, sys.Clock.Pending())
}

func TestIdleProcessesHoldNoGoroutine(t *testing.T) {
	sys := newSys(t)
	before := runtime.NumGoroutine()
	pids := make([]actor.PID, 2000)
	for i := range pids {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		pids[i] = pid
		require.NoError(t, sys.Send(pid, "wake"))
	}
	// Every process has handled its message once a call to it returns
	// (FIFO), and then goes idle: its goroutine ends soon after. Wait for
	// that (bounded), yielding instead of sleeping.
	for _, pid := range pids {
		_, err := call(t, sys, pid, getCount{})
		require.NoError(t, err)
	}
	deadline := time.Now().Add(actortest.DefaultWait)
	for runtime.NumGoroutine()-before >= 100 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	assert.Less(t, runtime.NumGoroutine()-before, 100, "2000 idle processes, no goroutine each")
	assert.Equal(t, 2000, sys.ProcessCount())
}

func TestEventsUnsubscribe(t *testing.T) {
	sys := newSys(t)
	var mu sync.Mutex
	var n int
	cancel := sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(actor.ProcessExited); ok {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), pid))
	cancel()
	cancel()
	pid, err = sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), pid))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, n)
}

func TestMillionIdleActors(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 1,000,000 processes")
	}
	sys := actortest.NewSystem(t)
	v := actor.Define("idle", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			ctx.Reply(n + 1)
			return n + 1, nil
		},
	})
	require.NoError(t, sys.Load(v))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	const n = 1_000_000
	var last actor.PID
	for range n {
		pid, err := sys.Spawn("idle", nil)
		if err != nil {
			require.NoError(t, err)
		}
		last = pid
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perActor := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per idle actor", perActor)
	assert.Equal(t, n, sys.ProcessCount())
	assert.Less(t, runtime.NumGoroutine()-goroutines, 100)
	assert.Less(t, perActor, 1024.0, "an idle actor must stay small")
	v1, err := call(t, sys, last, "ping")
	require.NoError(t, err)
	assert.Equal(t, 1, v1)
	// Stopping a million processes takes a while under the race detector;
	// give it more than the test kit's default.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))
}

func TestWatch(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	w := sys.Watch(pid)
	select {
	case <-w.Done():
		t.Fatal("done before the process exited")
	default:
	}
	require.NoError(t, sys.Exit(pid, actor.Shutdown))
	<-w.Done()
	assert.Equal(t, actor.Shutdown, w.Reason())
	assert.Equal(t, 0, sys.ProcessCount(), "the exit is complete when Done closes")

	w = sys.Watch(pid)
	<-w.Done()
	assert.Equal(t, actor.NoProc, w.Reason())
}

// A Watch asked for while a signal that ends the process waits before it
// (the watch request is still queued when the process exits) is done
// when the exit is complete, not as the exit begins: the process's links
// and subscribers have heard of the exit by then.
func TestWatchQueuedBehindAFatalSignal(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	release := hold(t, sys, pid)
	require.NoError(t, sys.Kill(pid)) // queued: the process is busy
	w := sys.Watch(pid)               // queued behind the kill
	early := make(chan bool, 1)
	cancel := sys.Subscribe(func(e actor.Event) {
		if e, ok := e.(actor.ProcessExited); ok && e.PID == pid {
			select {
			case <-w.Done():
				early <- true
			default:
				early <- false
			}
		}
	})
	defer cancel()
	release()
	<-w.Done()
	assert.False(t, <-early, "Done closed before the exit was reported")
	assert.Equal(t, actor.Killed, w.Reason())
}

func TestCallTimeoutOption(t *testing.T) {
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithCallTimeout(time.Second)))
	joined := make(chan struct{}, 1)
	actor.OnDeadlineJoined(sys.System, func() { joined <- struct{}{} })
	require.NoError(t, sys.Load(workerVersion(nil)))
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := sys.Call(context.Background(), pid, deferReply{})
		got <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	select { // the call waits under the default timeout
	case <-joined:
	case <-ctx.Done():
		t.Fatal("the call never waited under the default timeout")
	}
	sys.Clock.Advance(time.Second)
	assert.ErrorIs(t, <-got, actor.ErrTimeout, "the configured timeout, not OTP's 5 s")
}
