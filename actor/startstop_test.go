package actor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// startArgs drive module "starter": its Init ignores, hands back start
// info, or links to a watcher before ignoring.
type startArgs struct {
	ignore bool
	info   any
	link   actor.PID
	// exit is what its Terminate returns (TerminateReason).
	exit error
}

var starter = actor.Define("starter", "v1", actor.Funcs[startArgs]{
	Init: func(ctx *actor.Context, args any) (startArgs, error) {
		a, _ := args.(startArgs)
		if !a.link.IsZero() {
			if err := ctx.Link(a.link); err != nil {
				return a, err
			}
		}
		if a.info != nil {
			ctx.SetStartInfo(a.info)
		}
		if a.ignore {
			return a, actor.Ignore
		}
		ctx.TrapExit(true)
		return a, nil
	},
	Handle: func(ctx *actor.Context, a startArgs, msg any) (startArgs, error) {
		if e, ok := msg.(echo); ok {
			ctx.Reply(e.V)
		}
		return a, nil
	},
	TerminateReason: func(ctx *actor.Context, a startArgs, reason error) error { return a.exit },
})

func newStarterSys(t *testing.T) *actortest.System {
	t.Helper()
	sys := newSys(t)
	require.NoError(t, sys.Load(starter))
	return sys
}

// Init returning Ignore is not a failure: Spawn says so with an error
// wrapping Ignore, and the process exits normal, so a link Init made sees
// no crash (gen_server's ignore).
func TestInitIgnore(t *testing.T) {
	sys := newStarterSys(t)
	watcher, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(watcher, trap{}))
	_, err = call(t, sys, watcher, getCount{}) // trapping from here on
	require.NoError(t, err)
	exited := sys.Watch(watcher)

	pid, err := sys.Spawn("starter", startArgs{ignore: true, link: watcher})
	require.ErrorIs(t, err, actor.Ignore)
	assert.True(t, pid.IsZero())

	// The watcher traps exits: the link delivered the ignored process's
	// exit as a message, with reason normal.
	seen, err := call(t, sys, watcher, getSeen{})
	require.NoError(t, err)
	require.Len(t, seen, 1)
	assert.Equal(t, actor.Normal, seen.([]any)[0].(actor.ExitMsg).Reason)
	assert.True(t, sys.Alive(watcher))
	select {
	case <-exited.Done():
		t.Fatal("the watcher died of an ignored start")
	default:
	}

	// An ordinary Init failure is not Ignore.
	_, err = sys.Spawn("worker", errors.New("no"))
	assert.NotErrorIs(t, err, actor.Ignore)
}

// SetStartInfo in Init reaches the spawner through WithStartInfo
// ({ok, Pid, Info}); without the option it goes nowhere.
func TestStartInfo(t *testing.T) {
	sys := newStarterSys(t)
	var info any
	pid, err := sys.Spawn("starter", startArgs{info: "port 8080"}, actor.WithStartInfo(&info))
	require.NoError(t, err)
	assert.False(t, pid.IsZero())
	assert.Equal(t, "port 8080", info)

	info = "stale"
	_, err = sys.Spawn("starter", startArgs{}, actor.WithStartInfo(&info))
	require.NoError(t, err)
	assert.Nil(t, info, "no info set: nil")

	_, err = sys.Spawn("starter", startArgs{info: "x"})
	require.NoError(t, err, "info nobody asked for is dropped")

	info = "untouched"
	_, err = sys.Spawn("starter", startArgs{info: "x", ignore: true}, actor.WithStartInfo(&info))
	require.ErrorIs(t, err, actor.Ignore)
	assert.Equal(t, "untouched", info, "only a successful Spawn writes the info")
}

// StopWith stops a process with a reason: its Terminate sees it, and so
// do its watchers.
func TestStopWith(t *testing.T) {
	terminated := make(chan error, 1)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	ctx := context.Background()

	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	w := sys.Watch(pid)
	reason := actor.ShutdownReason{Detail: "maintenance"}
	require.NoError(t, sys.StopWith(ctx, pid, reason))
	assert.Equal(t, reason, <-terminated)
	<-w.Done()
	assert.Equal(t, reason, w.Reason())
	assert.False(t, sys.Alive(pid))

	err = sys.StopWith(ctx, pid, reason)
	assert.True(t, isExit(err, actor.NoProc), "a dead process: %v", err)

	pid, err = sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.StopWith(ctx, pid, nil), "nil is normal")
	assert.Equal(t, actor.Normal, <-terminated)
}

// A TerminateReason (exit(NewReason) inside terminate/2) changes the
// reason the process exits with: StopWith reports it, links see it.
func TestTerminateChoosesReason(t *testing.T) {
	sys := newStarterSys(t)
	ctx := context.Background()
	chosen := errors.New("flushed badly")
	pid, err := sys.Spawn("starter", startArgs{exit: chosen})
	require.NoError(t, err)
	w := sys.Watch(pid)
	err = sys.StopWith(ctx, pid, actor.Shutdown)
	require.True(t, isExit(err, chosen), "the reason Terminate chose: %v", err)
	<-w.Done()
	assert.Equal(t, chosen, w.Reason())

	// nil keeps the reason; so does a typed nil.
	pid, err = sys.Spawn("starter", startArgs{})
	require.NoError(t, err)
	require.NoError(t, sys.StopWith(ctx, pid, actor.Shutdown))
	var typedNil *actor.ExitError
	pid, err = sys.Spawn("starter", startArgs{exit: typedNil})
	require.NoError(t, err)
	require.NoError(t, sys.StopWith(ctx, pid, actor.Shutdown))

	// Terminate and TerminateReason together are refused.
	both := actor.Define("both", "v1", actor.Funcs[int]{
		Handle:          func(*actor.Context, int, any) (int, error) { return 0, nil },
		Terminate:       func(*actor.Context, int, error) {},
		TerminateReason: func(*actor.Context, int, error) error { return nil },
	})
	assert.ErrorIs(t, sys.Load(both), actor.ErrInvalidVersion)
}

// An untyped behaviour chooses its exit reason by implementing
// ReasonTerminator.
type reasonBehaviour struct{ reason error }

func (reasonBehaviour) Init(*actor.Context, any) (any, error) { return nil, nil }
func (reasonBehaviour) Handle(_ *actor.Context, s, _ any) (any, error) {
	return s, nil
}
func (b reasonBehaviour) Terminate(*actor.Context, any, error) error { return b.reason }

func TestReasonTerminatorBehaviour(t *testing.T) {
	sys := actortest.NewSystem(t)
	chosen := actor.ShutdownReason{Detail: "drained"}
	require.NoError(t, sys.Load(actor.NewVersion("rt", "v1", reasonBehaviour{reason: chosen})))
	pid, err := sys.Spawn("rt", nil)
	require.NoError(t, err)
	err = sys.StopWith(context.Background(), pid, actor.Normal)
	assert.True(t, isExit(err, chosen), "%v", err)
}

func TestStopAllStopsEveryProcessAtOnce(t *testing.T) {
	terminated := make(chan error, 100)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(workerVersion(terminated)))
	var pids []actor.PID
	for range 50 {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		require.NoError(t, sys.Send(pid, trap{})) // Terminate runs on a stop either way
		pids = append(pids, pid)
	}
	dead, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(t.Context(), dead))
	<-terminated

	// One of them is busy: StopAll waits for it too.
	release := hold(t, sys, pids[7])
	done := make(chan error, 1)
	go func() { done <- sys.StopAll(t.Context(), append(pids, dead)) }()
	for range 49 {
		assert.Equal(t, actor.Normal, <-terminated)
	}
	select {
	case err := <-done:
		t.Fatalf("StopAll returned before the busy process stopped: %v", err)
	default:
	}
	release()
	assert.Equal(t, actor.Normal, <-terminated)
	require.NoError(t, <-done)
	for _, pid := range pids {
		assert.False(t, sys.Alive(pid))
	}
}

func TestStopAllRefusesTheCallersOwnProcess(t *testing.T) {
	sys := newSys(t)
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	got := make(chan error, 1)
	v := actor.Define("self", "v1", actor.Funcs[int]{Handle: func(ctx *actor.Context, s int, _ any) (int, error) {
		got <- ctx.System().StopAll(context.Background(), []actor.PID{other, ctx.Self()})
		return s, nil
	}})
	require.NoError(t, sys.Load(v))
	me, err := sys.Spawn("self", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(me, "go"))
	assert.ErrorIs(t, <-got, actor.ErrCallSelf)
	assert.True(t, sys.Alive(other), "nothing touched")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release := hold(t, sys, other)
	defer release()
	assert.ErrorIs(t, sys.StopAll(ctx, []actor.PID{other}), context.Canceled)
}
