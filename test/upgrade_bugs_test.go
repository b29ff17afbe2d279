package test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// Regression tests for bugs in the upgrade engine that the chaos
// schedule's stragglers, per-plan checks and background plans brought out.
// Each test states what the engine does now.

// Found: a process that already ran a plan's target while another version
// was current (a straggler left there by a lazy downgrade, say) was
// scheduled as unchanged and never held: until the commit, per-message
// pickup still moved it to the current version, and after the commit it
// ran the old version while the report said it ran the target. Now it is
// held with the others, with an empty route.
func TestStragglerOnTheTargetStaysThereThroughTheCommit(t *testing.T) {
	sys := actortest.NewSystem(t)
	var block atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	handle := func(ctx *actor.Context, n int, _ any) (int, error) {
		ctx.Reply(ctx.Version())
		return n + 1, nil
	}
	v1 := actor.Define("m", "v1", actor.Funcs[int]{Handle: handle})
	v2 := actor.Define("m", "v2", actor.Funcs[int]{Follows: "v1", Handle: handle,
		CodeChange: func(_ string, old, _ any) (int, error) {
			if block.CompareAndSwap(true, false) { // the plan's migration of a
				close(entered)
				<-release
			}
			return old.(int), nil
		},
		Downgrade: func(_ string, n int, _ any) (any, error) { return n, nil },
	})
	call := func(pid actor.PID) string {
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		defer cancel()
		r, err := sys.Call(ctx, pid, "which version?")
		require.NoError(t, err)
		return r.(string)
	}
	require.NoError(t, sys.Load(v1))
	a, err := sys.Spawn("m", nil)
	require.NoError(t, err)
	b, err := sys.Spawn("m", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Load(v2))
	require.Equal(t, "v2", call(b), "b picks v2 up; a, idle, stays on v1")
	require.NoError(t, sys.Load(v1))
	// v1 is current; a runs v1; b runs v2, and no message reaches it.

	block.Store(true)
	done := make(chan *upgrade.Report)
	go func() {
		rep, err := upgrade.Execute(context.Background(), sys.System,
			upgrade.Plan{Changes: []upgrade.Change{{Module: "m", To: v2}}}, upgrade.Processes(sys.System, a, b))
		assert.NoError(t, err)
		done <- rep
	}()
	<-entered // a is suspended and migrating: the plan has not committed
	// b is held with the others: a message to it waits for the commit
	// (were it not held, it would pick the current v1 up on it).
	require.NoError(t, sys.Send(b, "a message"))
	close(release)
	rep := <-done
	require.Equal(t, upgrade.Committed, rep.Outcome)
	require.Len(t, rep.Processes, 2)
	assert.Equal(t, upgrade.Unchanged, rep.Processes[1].Result)
	assert.Equal(t, "v2", rep.Processes[1].To, "the report: b runs v2")
	v, ok := sys.VersionOf(b)
	require.True(t, ok)
	assert.Equal(t, "v2", v.Version, "b runs what its report says after the commit")
}

// Found: a rolling wave whose switch (CommitPinned) was not confirmed
// within the plan's timeout failed the plan, and the rollback aborted the
// wave's processes as if they were only prepared and reported them
// restored, but the switch was still queued: served first, it pinned the
// process to the new version. Now a queued switch counts as done, and the
// rollback migrates the process back. A request that blocks the process
// stands in for a goroutine that does not run within the timeout.
func TestUnconfirmedWaveSwitchIsRolledBack(t *testing.T) {
	sys := actortest.NewSystem(t)
	var a atomic.Value // actor.PID
	var once atomic.Bool
	unblock := make(chan struct{})
	handle := func(ctx *actor.Context, n int, _ any) (int, error) { return n + 1, nil }
	v1 := actor.Define("m", "v1", actor.Funcs[int]{Handle: handle})
	v2 := actor.Define("m", "v2", actor.Funcs[int]{Follows: "v1", Handle: handle,
		CodeChange: func(_ string, old, _ any) (int, error) {
			if once.CompareAndSwap(false, true) {
				// Queue a request that holds the process, ahead of the
				// switch the runner sends once this prepare is answered:
				// a cancelled context returns as soon as it is queued.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = sys.Inspect(ctx, a.Load().(actor.PID), func(any) { <-unblock })
			}
			return old.(int), nil
		},
		Downgrade: func(_ string, n int, _ any) (any, error) { return n, nil },
	})
	require.NoError(t, sys.Load(v1))
	pids := make([]actor.PID, 2)
	for i := range pids {
		pid, err := sys.Spawn("m", nil)
		require.NoError(t, err)
		pids[i] = pid
	}
	a.Store(pids[0])
	migrated := make(chan struct{}, 4)
	cancel := sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(upgrade.ProcessMigrated); ok {
			migrated <- struct{}{}
		}
	})
	defer cancel()

	done := make(chan *upgrade.Report)
	go func() {
		rep, _ := upgrade.Execute(context.Background(), sys.System, upgrade.Plan{Mode: upgrade.Rolling,
			Waves: []float64{0.5, 1}, Timeout: time.Second, Changes: []upgrade.Change{{Module: "m", To: v2}}},
			upgrade.Processes(sys.System, pids...))
		done <- rep
	}()
	<-migrated // wave 0 (pids[0]) prepared; its switch is sent next
	ctx, stop := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer stop()
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
	sys.Clock.Advance(time.Second) // the switch is not confirmed in time
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
	close(unblock) // the process runs again: the switch, then the abort
	rep := <-done
	require.Equal(t, upgrade.RolledBack, rep.Outcome)
	assert.Equal(t, upgrade.Restored, rep.Processes[0].Result)
	assert.Equal(t, "v1", rep.Processes[0].To, "the report: back on v1")
	v, ok := sys.VersionOf(pids[0])
	require.True(t, ok)
	assert.Equal(t, actor.ProcessVersion{PID: pids[0], Module: "m", Version: "v1"}, v,
		"the process runs what its report says after the rollback")
}

// Found (chaos seed 1796551363249316348, once, timing-dependent): a
// rolling plan rolled back and reported a process not_reached on v1, and
// after it the process ran v3, a version neither current nor pinned. A
// process that took a message while v3 was current migrated to v3 at it,
// slowly (a plugin process starting, say); another version was made
// current and the rolling plan read the process's version meanwhile, and
// when the migration returned the process published the version it had
// read at the start of the message. Now it drops that result and migrates
// to the version current then. A migration blocked until the plan has
// ended stands in for the slow one.
func TestPickupOutlastingAChangeOfCurrentVersionDoesNotMoveTheProcessThere(t *testing.T) {
	sys := actortest.NewSystem(t)
	entered, release := make(chan struct{}), make(chan struct{})
	const a, b, c = 1, 2, 3 // the workers' states: their ids
	handle := func(ctx *actor.Context, id int, _ any) (int, error) {
		ctx.Reply(ctx.Version())
		return id, nil
	}
	v1 := actor.Define("m", "v1", actor.Funcs[int]{
		Init:   func(_ *actor.Context, args any) (int, error) { return args.(int), nil },
		Handle: handle,
	})
	v2 := actor.Define("m", "v2", actor.Funcs[int]{Follows: "v1", Handle: handle,
		CodeChange: func(_ string, old, extra any) (int, error) {
			switch id := old.(int); {
			case id == a && extra == nil: // a's pickup, the first time
				close(entered)
				<-release
			case id == b && extra == "fail": // the rolling plan's first wave
				return 0, errors.New("migration refused")
			}
			return old.(int), nil
		},
		Downgrade: func(_ string, id int, _ any) (any, error) { return id, nil },
	})
	spawn := func(id int) actor.PID {
		pid, err := sys.Spawn("m", id)
		require.NoError(t, err)
		return pid
	}
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	require.NoError(t, sys.Load(v1))
	pa, pb := spawn(a), spawn(b)
	require.NoError(t, sys.Load(v2))
	spawn(c) // on v2, outside the plans' trees: v2 stays in use

	// a takes a message while v2 is current: it migrates to v2 first.
	replied := make(chan string, 1)
	go func() {
		r, err := sys.Call(ctx, pa, "which version?")
		assert.NoError(t, err)
		s, _ := r.(string)
		replied <- s
	}()
	<-entered

	// Meanwhile a plan makes v1 current again: a, busy, does not answer in
	// time and is skipped (b runs v1 already and is only held).
	back := make(chan *upgrade.Report, 1)
	go func() {
		rep, err := upgrade.Execute(ctx, sys.System, upgrade.Plan{Timeout: time.Second, OnTimeout: upgrade.SkipOnTimeout,
			Changes: []upgrade.Change{{Module: "m", To: v1}}}, upgrade.Processes(sys.System, pb, pa))
		assert.NoError(t, err)
		back <- rep
	}()
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1)) // its prepare requests are out
	_, err := sys.Info(ctx, pb)                         // served after b's
	require.NoError(t, err)
	sys.Clock.Advance(time.Second)
	rep := <-back
	require.Equal(t, upgrade.Committed, rep.Outcome)
	require.Equal(t, upgrade.Skipped, rep.Processes[1].Result)

	// Then a rolling plan to v2 fails at its first wave (b) before it
	// reaches a: a is not reached, on v1.
	rep, err = upgrade.Execute(ctx, sys.System, upgrade.Plan{Mode: upgrade.Rolling, Waves: []float64{0.5, 1},
		Timeout: time.Second, Changes: []upgrade.Change{{Module: "m", To: v2, Extra: "fail"}}},
		upgrade.Processes(sys.System, pb, pa))
	require.Error(t, err)
	require.Equal(t, upgrade.RolledBack, rep.Outcome)
	require.Len(t, rep.Processes, 2)
	ra := rep.Processes[1]
	require.Equal(t, pa, ra.PID)
	assert.Equal(t, upgrade.NotReached, ra.Result)
	assert.Equal(t, "v1", ra.To, "the report: a runs v1")

	close(release) // a's migration returns
	assert.Equal(t, "v1", <-replied, "a handles its message on the version current when its migration returned")
	v, ok := sys.VersionOf(pa)
	require.True(t, ok)
	assert.Equal(t, actor.ProcessVersion{PID: pa, Module: "m", Version: ra.To}, v,
		"a runs what its report says after the plan")
}

// Found: a plan that could not hold a busy supervisor within its timeout
// was refused, but the suspend request it queued stayed queued: served
// once the supervisor was free, it suspended the supervisor with no one
// left to resume it. Now a suspend given up on is withdrawn. A request
// that blocks the supervisor stands in for one busy past the plan's
// timeout (restarting children, say).
func TestPlanThatCannotHoldATreeLeavesItRunning(t *testing.T) {
	sys := actortest.NewSystem(t)
	handle := func(_ *actor.Context, n int, _ any) (int, error) { return n + 1, nil }
	v1 := actor.Define("m", "v1", actor.Funcs[int]{Handle: handle})
	v2 := actor.Define("m", "v2", actor.Funcs[int]{Follows: "v1", Handle: handle})
	require.NoError(t, sys.Load(v1))
	root, err := supervisor.Start(sys.System, supervisor.Flags{Intensity: 10, Period: time.Second},
		[]supervisor.ChildSpec{{ID: "w", Start: supervisor.StartSpec{Module: "m"}}})
	require.NoError(t, err)

	busy, unblock := make(chan struct{}), make(chan struct{})
	go func() {
		_ = sys.Inspect(context.Background(), root.PID(), func(any) { close(busy); <-unblock })
	}()
	<-busy
	_, err = root.Upgrade(context.Background(), upgrade.Plan{Timeout: 20 * time.Millisecond,
		Changes: []upgrade.Change{{Module: "m", To: v2}}})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the tree could not be held in time")
	close(unblock)

	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	info, err := sys.Info(ctx, root.PID()) // served after what was queued before it
	require.NoError(t, err)
	assert.False(t, info.Suspended, "the refused plan left the supervisor suspended")
}

// Found: a plugin version that left the module table and was staged again
// by a plan's own stage step (System.Hold stages it with no options) lost
// the loader's hooks: when it retired again, its plugin process kept
// running until the system shut down. Now the plugin's behaviour carries
// them (actor.Releaser), however the version is staged.
func TestPluginProcessStopsWhenAVersionStagedAgainRetires(t *testing.T) {
	exe, err := plugintest.Build(t.TempDir(), "chaosmod-v3", "./testdata/chaosmod", nil)
	require.NoError(t, err)
	sys := actortest.NewSystem(t)
	v1, v2 := chaosVersion("v1", ""), chaosVersion("v2", "v1")
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Stage(v2))
	v3, err := plugin.NewLoader().Load(context.Background(), sys.System, exe.Ref("chaosmod", "v3"))
	require.NoError(t, err)
	pid, err := sys.Spawn("chaosmod", nil)
	require.NoError(t, err)
	move := func(to *actor.Version) {
		t.Helper()
		rep, err := upgrade.Execute(context.Background(), sys.System, upgrade.Plan{Timeout: 5 * time.Second,
			Changes: []upgrade.Change{{Module: "chaosmod", To: to}}}, upgrade.Processes(sys.System, pid))
		require.NoError(t, err)
		require.Equal(t, upgrade.Committed, rep.Outcome)
	}
	osPID := func() int {
		for _, p := range plugin.Processes(sys.System) {
			if p.Version == "v3" {
				return p.OSPID
			}
		}
		return -1 // not listed
	}
	move(v3)
	move(v1)
	require.Equal(t, 0, osPID(), "v3 retired: its process stopped")
	move(v2)
	require.Equal(t, int64(-1), sys.Activations("chaosmod", "v3"), "v3 left the table")
	move(v3) // staged again by the plan
	require.Positive(t, osPID())
	move(v1)
	require.Zero(t, sys.Activations("chaosmod", "v3"))
	assert.Equal(t, 0, osPID(), "v3 retired again: its process stopped")
}
