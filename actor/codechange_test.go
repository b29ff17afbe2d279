package actor_test

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
)

// settle waits for every answer of a round.
func settle(t *testing.T, r *actor.Round) []actor.Answer {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(actortest.DefaultWait):
		t.Fatal("round not answered")
	}
	out := make([]actor.Answer, r.Len())
	for i := range out {
		out[i] = r.Answer(i)
		require.Equal(t, actor.Answered, out[i].Status)
	}
	return out
}

func change(t *testing.T, sys *actortest.System, to *actor.Version) *actor.Change {
	t.Helper()
	require.NoError(t, sys.Stage(to))
	return &actor.Change{To: to}
}

func requests(ch *actor.Change, pids ...actor.PID) []actor.Request {
	out := make([]actor.Request, len(pids))
	for i, pid := range pids {
		out[i] = actor.Request{PID: pid, Change: ch}
	}
	return out
}

// The primitives of a transactional upgrade: suspend and prepare every
// process, then either commit (after making the version current) and
// resume, or abort and resume with the original state.
func TestPrepareCommitAndAbort(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := counterVersion("v1", nil)
	bad := errors.New("refuses 2")
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) {
		if old.(int) == 2 {
			return 0, bad
		}
		return old.(int) * 10, nil
	})
	require.NoError(t, sys.Load(v1))
	var pids []actor.PID
	for i := range 3 {
		pid, err := sys.Spawn("ctr", nil)
		require.NoError(t, err)
		for range i + 1 {
			_, err := call(t, sys, pid, "x") // states 1, 2, 3
			require.NoError(t, err)
		}
		pids = append(pids, pid)
	}
	notStaged := settle(t, sys.Prepare(requests(&actor.Change{To: v2}, pids[0])))
	assert.ErrorIs(t, notStaged[0].Err, actor.ErrNotStaged, "v2 must be staged first")
	require.NoError(t, sys.Abort(pids[:1]).Wait(context.Background(), nil))

	ans := settle(t, sys.Prepare(requests(change(t, sys, v2), pids...)))
	assert.NoError(t, ans[0].Err)
	assert.ErrorIs(t, ans[1].Err, bad)
	assert.NoError(t, ans[2].Err)
	assert.Equal(t, "v1", ans[0].From)
	assert.False(t, ans[0].At.IsZero(), "when it suspended")

	// Suspended: messages wait.
	require.NoError(t, sys.Send(pids[0], "queued"))
	info, err := sys.Info(context.Background(), pids[0])
	require.NoError(t, err)
	assert.True(t, info.Suspended)
	assert.Equal(t, 1, info.Queued)

	// One failed: roll back everyone.
	for _, a := range settle(t, sys.Abort(pids)) {
		require.NoError(t, a.Err)
	}
	for i, pid := range pids {
		r, err := call(t, sys, pid, "x")
		require.NoError(t, err)
		want := []string{"v1:3", "v1:3", "v1:4"}[i] // pids[0] also handled "queued"
		assert.Equal(t, want, r, "original state and version")
	}

	// Now a good version: commit.
	v3 := actor.Define("ctr", "v3", actor.Funcs[int]{Follows: "v1",
		Handle:     counterHandle,
		CodeChange: func(_ string, old, _ any) (int, error) { return old.(int) * 10, nil }})
	for _, a := range settle(t, sys.Prepare(requests(change(t, sys, v3), pids...))) {
		require.NoError(t, a.Err)
	}
	require.NoError(t, sys.Load(v3), "the prepared processes are leaving v1: no purge conflict")
	for _, a := range settle(t, sys.Commit(pids)) {
		require.NoError(t, a.Err)
	}
	for i, pid := range pids {
		r, err := call(t, sys, pid, "x")
		require.NoError(t, err)
		assert.Equal(t, []string{"v3:31", "v3:31", "v3:41"}[i], r, "migrated exactly once, on commit")
	}
	assert.EqualValues(t, 3, sys.Activations("ctr", "v3"))
	assert.ErrorIs(t, settle(t, sys.Commit(pids[:1]))[0].Err, actor.ErrNoPending)
}

// A request the round gave up on before the process took it is never
// served: the migration of a process that answered too late never runs.
func TestCancelledRequestNeverRuns(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := actor.Define("ctr", "v1", actor.Funcs[int]{Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
		if b, ok := msg.(block); ok {
			close(b.Entered)
			<-b.Gate
		}
		return counterHandle(ctx, n, msg)
	}})
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	var ran atomic.Int32
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) {
		ran.Add(1)
		return old.(int), nil
	})
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(pid, block{Gate: gate, Entered: entered}))
	<-entered // busy in a handler: the system lane waits
	release := func() { close(gate) }
	deadline := make(chan time.Time)
	round := sys.Prepare(requests(change(t, sys, v2), pid))
	close(deadline)
	require.Error(t, round.Wait(context.Background(), deadline))
	assert.Equal(t, actor.Cancelled, round.Answer(0).Status)
	release()
	r, err := call(t, sys, pid, "x")
	require.NoError(t, err)
	assert.Equal(t, "v1:2", r, "not suspended, not migrated")
	assert.Zero(t, ran.Load(), "the migration never ran")
	info, err := sys.Info(context.Background(), pid)
	require.NoError(t, err)
	assert.False(t, info.Suspended)
}

// A prepare the round gave up on while its migration ran (Late) is
// aborted, never committed: however its migration ends, the process does
// not count as leaving its version, and a LoadAll before the abort is
// served must not make a third version current while two stay in use.
// One that answered in time does count as leaving.
func TestLatePrepareStaysOnItsVersion(t *testing.T) {
	sys := actortest.NewSystem(t)
	ctx := context.Background()
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	a, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Load(counterVersion("v2", nil)))
	b, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	v3 := counterVersion("v3", func(_ string, old, _ any) (int, error) {
		once.Do(func() { close(entered); <-gate })
		return old.(int), nil
	})
	round := sys.Prepare(requests(change(t, sys, v3), a))
	<-entered
	deadline := make(chan time.Time)
	close(deadline)
	require.Error(t, round.Wait(ctx, deadline))
	require.Equal(t, actor.Late, round.Answer(0).Status)
	close(gate)
	_, err = sys.Info(ctx, a) // served after the late prepare
	require.NoError(t, err)
	require.ErrorIs(t, sys.Load(v3), actor.ErrNotPurged, "a stays on v1 (its prepare is aborted), b on v2")
	settle(t, sys.Abort([]actor.PID{a}))
	v, _ := sys.VersionOf(a)
	assert.Equal(t, "v1", v.Version, "the abort keeps a on v1")

	require.NoError(t, settle(t, sys.Prepare(requests(&actor.Change{To: v3}, a)))[0].Err)
	require.NoError(t, sys.Load(v3), "prepared in time: a leaves v1, only b stays on v2")
	require.NoError(t, settle(t, sys.Commit([]actor.PID{a}))[0].Err)
	r, err := call(t, sys, a, "x")
	require.NoError(t, err)
	assert.Equal(t, "v3:1", r)
	r, err = call(t, sys, b, "x")
	require.NoError(t, err)
	assert.Equal(t, "v3:1", r, "b migrates at its next message")
}

// A process that exits with requests queued answers them with its exit
// reason; a dead one answers NoProc at once.
func TestRoundsAnswerForGoneProcesses(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	ch := change(t, sys, counterVersion("v2", nil))
	a := settle(t, sys.Prepare(requests(ch, actor.PID{})))
	var ee *actor.ExitError
	require.ErrorAs(t, a[0].Err, &ee)
	assert.Equal(t, actor.NoProc, ee.Reason)
	a = settle(t, sys.Simulate([]actor.Request{{PID: actor.PID{}}}))
	assert.Error(t, a[0].Err, "a request without a change is refused")
}

func TestSimulateChangesNothing(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	pid, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) { return old.(int) + 100, nil })
	require.NoError(t, settle(t, sys.Simulate(requests(change(t, sys, v2), pid)))[0].Err)
	info, err := sys.Info(context.Background(), pid)
	require.NoError(t, err)
	assert.False(t, info.Suspended)
	r, err := call(t, sys, pid, "x")
	require.NoError(t, err)
	assert.Equal(t, "v1:1", r)
}

// A Kill request suspends the process and counts it as leaving its
// version; the commit kills it, an abort resumes it untouched.
func TestPrepareKill(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	a, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	b, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	for _, ans := range settle(t, sys.Prepare([]actor.Request{{PID: a, Kill: true}, {PID: b, Kill: true}})) {
		require.NoError(t, ans.Err)
	}
	settle(t, sys.Abort([]actor.PID{b}))
	r, err := call(t, sys, b, "x")
	require.NoError(t, err)
	assert.Equal(t, "v1:1", r)
	gone := sys.Watch(a)
	require.NoError(t, settle(t, sys.Commit([]actor.PID{a}))[0].Err)
	<-gone.Done()
	assert.Equal(t, actor.Killed, gone.Reason())
}

// VersionOf reads what a process runs without asking it; TrySuspend
// refuses a process suspended already; Inspect works on a suspended one.
func TestVersionOfTrySuspendInspect(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	pid, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	_, err = call(t, sys, pid, "x")
	require.NoError(t, err)
	v, ok := sys.VersionOf(pid)
	require.True(t, ok)
	assert.Equal(t, actor.ProcessVersion{PID: pid, Module: "ctr", Version: "v1"}, v)

	ctx := context.Background()
	require.NoError(t, sys.TrySuspend(ctx, pid))
	assert.ErrorIs(t, sys.TrySuspend(ctx, pid), actor.ErrAlreadySuspended)
	var seen any
	require.NoError(t, sys.Inspect(ctx, pid, func(st any) { seen = st }))
	assert.Equal(t, 1, seen, "the plain state, while suspended")
	var pe *actor.PanicError
	assert.ErrorAs(t, sys.Inspect(ctx, pid, func(any) { panic("nosy") }), &pe)
	require.NoError(t, sys.Resume(ctx, pid))

	// Pinned ahead of the current version, then the pin lapses.
	v2 := counterVersion("v2", nil)
	require.NoError(t, settle(t, sys.Prepare(requests(change(t, sys, v2), pid)))[0].Err)
	require.NoError(t, settle(t, sys.CommitPinned([]actor.PID{pid}))[0].Err)
	v, _ = sys.VersionOf(pid)
	assert.Equal(t, actor.ProcessVersion{PID: pid, Module: "ctr", Version: "v2", Pinned: true}, v)
	require.NoError(t, sys.Load(v2))
	v, _ = sys.VersionOf(pid)
	assert.False(t, v.Pinned)
	_, ok = sys.VersionOf(actor.PID{})
	assert.False(t, ok)
}
