package supervisor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// summary prints actions as "stop c", "rollback restart b", "start e
// FAILED": what each did, and whether it failed (the errors are checked
// on their own).
func summary(acts []supervisor.SpecAction) []string {
	var out []string
	for _, a := range acts {
		s := strings.TrimSpace(a.Op + " " + a.ID)
		if a.Rollback {
			s = "rollback " + s
		}
		if a.Err != nil {
			s += " FAILED"
		}
		out = append(out, s)
	}
	return out
}

// ids lists the supervisor's children in start order.
func ids(t *testing.T, h *supervisor.Handle) []string {
	t.Helper()
	cs, err := h.WhichChildren(context.Background())
	require.NoError(t, err)
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// listedAreLive checks that the processes alive are exactly the
// supervisor and the children it lists as running: nothing runs that it
// does not list, and nothing it lists is gone.
func listedAreLive(t *testing.T, r *rig, h *supervisor.Handle) {
	t.Helper()
	want := []actor.PID{h.PID()}
	for _, pid := range children(t, h) {
		if !pid.IsZero() {
			want = append(want, pid)
		}
	}
	assert.ElementsMatch(t, want, r.Processes(), "live processes are the supervisor and its listed children")
}

// drain returns the supervisor events recorded so far. Events are emitted
// synchronously, so after a call returns its events are all there.
func drain(r *rig) []any {
	var out []any
	for {
		select {
		case e := <-r.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func withArgs(s supervisor.ChildSpec, args any) supervisor.ChildSpec {
	s.Start.Args = args
	return s
}

// switchable is the start argument of module "sw": its Init fails while
// failures is positive, each failure using one up.
type switchable struct {
	name     string
	failures *atomic.Int32
}

var switchWorker = actor.Define("sw", "v1", actor.Funcs[string]{
	Init: func(_ *actor.Context, args any) (string, error) {
		a := args.(switchable)
		if a.failures.Add(-1) >= 0 {
			return "", errors.New("switched off")
		}
		return a.name, nil
	},
	Handle: func(ctx *actor.Context, name string, msg any) (string, error) {
		if _, ok := msg.(whoAmI); ok {
			ctx.Reply(name)
		}
		return name, nil
	},
})

func swSpec(id, name string, r supervisor.Restart) (supervisor.ChildSpec, *atomic.Int32) {
	n := new(atomic.Int32)
	return supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{Module: "sw", Args: switchable{name: name, failures: n}}, Restart: r}, n
}

func who(t *testing.T, r *rig, pid actor.PID) any {
	t.Helper()
	got, err := r.Call(context.Background(), pid, whoAmI{})
	require.NoError(t, err)
	return got
}

func TestChildSpecUpgrade(t *testing.T) {
	changedB := withArgs(spec("b", supervisor.Permanent), "b, reconfigured")
	cases := []struct {
		strategy supervisor.Strategy
		want     []string
	}{
		{supervisor.OneForOne, []string{"stop b", "restart b", "start d"}},
		{supervisor.RestForOne, []string{"stop c", "stop b", "restart b", "restart c", "start d"}},
		{supervisor.OneForAll, []string{"stop c", "stop b", "stop a", "restart a", "restart b", "restart c", "start d"}},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: tc.strategy},
				[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent)})
			require.NoError(t, err)
			before := children(t, h)

			acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), changedB, spec("c", supervisor.Permanent), spec("d", supervisor.Permanent)})
			require.NoError(t, err)
			assert.Equal(t, tc.want, summary(acts))
			after := children(t, h)
			restarted := map[string]bool{}
			for _, a := range acts {
				restarted[a.ID] = a.Op == "restart"
			}
			for _, id := range []string{"a", "b", "c"} {
				assert.Equal(t, restarted[id], before[id] != after[id], "child %s restarted iff the actions say so", id)
			}
			assert.Equal(t, "b, reconfigured", who(t, r, after["b"]), "b runs its new spec")

			// Removing a spec stops that child only, whatever the strategy.
			acts, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), changedB, spec("d", supervisor.Permanent)})
			require.NoError(t, err)
			assert.Equal(t, []string{"stop c", "delete c"}, summary(acts))
			assert.Equal(t, []string{"a", "b", "d"}, ids(t, h))
			assert.Equal(t, after["a"], children(t, h)["a"])
			listedAreLive(t, r, h)

			// Invalid specs change nothing.
			_, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("a", supervisor.Permanent)})
			assert.ErrorIs(t, err, supervisor.ErrInvalidSpec)
			assert.Len(t, children(t, h), 3)
		})
	}
}

// Every spec is checked, nested supervisors' and modules included, before
// anything is touched: an invalid spec in the middle of the new specs
// leaves every child, spec and process as it was. (It once stopped and
// deleted the children before it, and left later ones running unlisted.)
func TestUpgradeSpecsInvalidSpecChangesNothing(t *testing.T) {
	badRestart := spec("x", supervisor.Permanent)
	badRestart.Restart = 7
	cases := []struct {
		name string
		bad  supervisor.ChildSpec
		is   error
	}{
		{"field", badRestart, supervisor.ErrInvalidSpec},
		{"duplicate id", spec("a", supervisor.Permanent), supervisor.ErrInvalidSpec},
		{"nested child", supervisor.Spec("x", supervisor.Flags{}, []supervisor.ChildSpec{{ID: "y"}}), supervisor.ErrInvalidSpec},
		{"nested flags", supervisor.Spec("x", supervisor.Flags{Intensity: -1}, nil), supervisor.ErrInvalidSpec},
		{"supervisor args", supervisor.ChildSpec{ID: "x", Start: supervisor.StartSpec{Module: supervisor.ModuleName, Args: "nope"}}, supervisor.ErrInvalidSpec},
		{"unknown module", supervisor.ChildSpec{ID: "x", Start: supervisor.StartSpec{Module: "nope"}}, actor.ErrUnknownModule},
		{"nested unknown module", supervisor.Spec("x", supervisor.Flags{}, []supervisor.ChildSpec{{ID: "y", Start: supervisor.StartSpec{Module: "nope"}}}), actor.ErrUnknownModule},
	}
	for _, tc := range cases {
		for _, otp := range []bool{false, true} {
			name := tc.name
			var opts []supervisor.SpecOption
			if otp {
				name += "/specs only"
				opts = append(opts, supervisor.SpecsOnly())
			}
			t.Run(name, func(t *testing.T) {
				r := newRig(t)
				ctx := context.Background()
				h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.RestForOne},
					[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent)})
				require.NoError(t, err)
				before := children(t, h)
				drain(r)

				// a changes (so it and c would restart), b is removed, d is new.
				acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{withArgs(spec("a", supervisor.Permanent), "a2"), tc.bad, spec("c", supervisor.Permanent), spec("d", supervisor.Permanent)}, opts...)
				assert.ErrorIs(t, err, tc.is)
				assert.NotErrorIs(t, err, supervisor.ErrSpecsRolledBack)
				assert.Empty(t, acts)
				assert.Empty(t, drain(r), "no child started or stopped")
				assert.Equal(t, []string{"a", "b", "c"}, ids(t, h))
				assert.Equal(t, before, children(t, h))
				assert.Equal(t, "a", who(t, r, before["a"]), "a keeps its old spec")
				listedAreLive(t, r, h)
			})
		}
	}
}

// A start that fails halfway undoes everything done before it, in reverse,
// and restores the old specs and order; the actions say what happened,
// rollback included.
func TestUpgradeSpecsRollsBackAFailedStart(t *testing.T) {
	cases := []struct {
		strategy supervisor.Strategy
		want     []string
	}{
		{supervisor.OneForOne, []string{
			"stop c", "delete c", "stop b", "restart b", "start d", "start e FAILED",
			"rollback stop d", "rollback delete d", "rollback stop b", "rollback restart b", "rollback add c", "rollback restart c"}},
		{supervisor.RestForOne, []string{
			"stop c", "delete c", "stop b", "restart b", "start d", "start e FAILED",
			"rollback stop d", "rollback delete d", "rollback stop b", "rollback restart b", "rollback add c", "rollback restart c"}},
		{supervisor.OneForAll, []string{
			"stop c", "delete c", "stop b", "stop a", "restart a", "restart b", "start d", "start e FAILED",
			"rollback stop d", "rollback delete d", "rollback stop b", "rollback stop a",
			"rollback restart a", "rollback restart b", "rollback add c", "rollback restart c"}},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: tc.strategy},
				[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Transient)})
			require.NoError(t, err)
			drain(r)

			// b changes, c is removed, d is new and starts, e is new and fails.
			initErr := errors.New("e cannot start")
			acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent),
				withArgs(spec("b", supervisor.Permanent), "b2"), spec("d", supervisor.Permanent), withArgs(spec("e", supervisor.Permanent), initErr)})
			require.ErrorIs(t, err, supervisor.ErrSpecsRolledBack)
			assert.ErrorIs(t, err, initErr)
			assert.Equal(t, tc.want, summary(acts))
			assert.ErrorIs(t, acts[slices.IndexFunc(acts, func(a supervisor.SpecAction) bool { return a.Err != nil })].Err, initErr)

			// The old children, in the old order, each running its old spec.
			assert.Equal(t, []string{"a", "b", "c"}, ids(t, h))
			now := children(t, h)
			for _, id := range []string{"a", "b", "c"} {
				require.False(t, now[id].IsZero(), "%s runs", id)
				assert.Equal(t, id, who(t, r, now[id]), "%s runs its old spec", id)
			}
			cs, err := h.WhichChildren(ctx)
			require.NoError(t, err)
			assert.Equal(t, supervisor.Transient, cs[2].Restart, "c has its old spec back")
			listedAreLive(t, r, h)
			drain(r)

			// The supervisor goes on as before: a crash restarts c (with
			// its siblings under one_for_all) with its old spec.
			require.NoError(t, r.Send(now["c"], die{Reason: errors.New("boom")}))
			for {
				if e, ok := r.next(t).(supervisor.ChildStarted); ok && e.ID == "c" {
					assert.Equal(t, "c", who(t, r, e.PID))
					break
				}
			}
		})
	}
}

// An old spec that does not start again during a rollback is reported,
// and its child stays listed with its old spec, not running: a permanent
// one is retried by the supervisor as a failed restart is.
func TestUpgradeSpecsRollbackRestartFails(t *testing.T) {
	r := newRig(t)
	require.NoError(t, r.Load(switchWorker))
	ctx := context.Background()
	oldB, failures := swSpec("b", "b", supervisor.Permanent)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Intensity: 5, Period: time.Minute}, []supervisor.ChildSpec{spec("a", supervisor.Permanent), oldB})
	require.NoError(t, err)
	drain(r)

	newB, _ := swSpec("b", "b2", supervisor.Permanent)
	failures.Store(1) // b's old spec fails its next start: the one of the rollback
	acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), newB, withArgs(spec("x", supervisor.Permanent), errors.New("x cannot start"))})
	require.ErrorIs(t, err, supervisor.ErrSpecsRolledBack)
	assert.ErrorContains(t, err, `; not restored: supervisor: start child "b"`)
	assert.Equal(t, []string{"stop b", "restart b", "start x FAILED", "rollback stop b", "rollback restart b FAILED"}, summary(acts))

	// The retry was queued before the reply: by the time the supervisor
	// answers the next call, it has restarted b with its old spec.
	assert.Equal(t, []string{"a", "b"}, ids(t, h))
	b := children(t, h)["b"]
	require.False(t, b.IsZero())
	assert.Equal(t, "b", who(t, r, b))
	listedAreLive(t, r, h)
	var restarted bool
	for _, e := range drain(r) {
		if e, ok := e.(supervisor.ChildStarted); ok && e.PID == b {
			restarted = e.Restart
		}
	}
	assert.True(t, restarted, "b came back through the restart path")
}

// A temporary child is never restarted by the supervisor: after a failed
// rollback restart it stays listed, not running, until RestartChild.
func TestUpgradeSpecsRollbackRestartFailsTemporary(t *testing.T) {
	r := newRig(t)
	require.NoError(t, r.Load(switchWorker))
	ctx := context.Background()
	oldT, failures := swSpec("t", "t", supervisor.Temporary)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{oldT})
	require.NoError(t, err)

	newT, _ := swSpec("t", "t2", supervisor.Temporary)
	failures.Store(1)
	acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{newT, withArgs(spec("x", supervisor.Permanent), errors.New("x cannot start"))})
	require.ErrorIs(t, err, supervisor.ErrSpecsRolledBack)
	assert.Equal(t, []string{"stop t", "restart t", "start x FAILED", "rollback stop t", "rollback restart t FAILED"}, summary(acts))
	assert.True(t, children(t, h)["t"].IsZero(), "listed, not running")
	listedAreLive(t, r, h)

	pid, err := h.RestartChild(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, "t", who(t, r, pid), "its old spec")
}

// Children that are not running are not started by an upgrade: a changed
// spec is recorded, a removed one deleted.
func TestUpgradeSpecsLeavesStoppedChildrenStopped(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.OneForAll},
		[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent)})
	require.NoError(t, err)
	require.NoError(t, h.TerminateChild(ctx, "a"))
	require.NoError(t, h.TerminateChild(ctx, "c"))
	before := children(t, h)

	acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{withArgs(spec("a", supervisor.Permanent), "a2"), spec("b", supervisor.Permanent)})
	require.NoError(t, err)
	assert.Equal(t, []string{"delete c", "update a"}, summary(acts))
	assert.Equal(t, before["b"], children(t, h)["b"], "b untouched: a did not run, so nothing restarts with it")
	pid, err := h.RestartChild(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "a2", who(t, r, pid))
}

// SpecsOnly is OTP's supervisor code change: specs are replaced, nothing
// starts or stops; new specs come first in the start order, then the
// children whose spec is gone, kept with their old spec.
func TestUpgradeSpecsOnly(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 5, Period: time.Minute},
		[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent), spec("e", supervisor.Permanent)})
	require.NoError(t, err)
	require.NoError(t, h.TerminateChild(ctx, "e"))
	before := children(t, h)
	drain(r)

	acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{withArgs(spec("b", supervisor.Permanent), "b2"), spec("d", supervisor.Temporary), spec("a", supervisor.Permanent)},
		supervisor.SpecsOnly())
	require.NoError(t, err)
	assert.Equal(t, []string{"update b", "add d", "keep c", "keep e"}, summary(acts))
	assert.Empty(t, drain(r), "nothing started or stopped")
	assert.Equal(t, []string{"b", "d", "a", "c", "e"}, ids(t, h))
	now := children(t, h)
	for _, id := range []string{"a", "b", "c"} {
		assert.Equal(t, before[id], now[id], "%s keeps running", id)
	}
	assert.True(t, now["d"].IsZero(), "d is added, not started")
	assert.True(t, now["e"].IsZero())
	assert.Equal(t, "b", who(t, r, now["b"]), "b runs its old spec until it restarts")
	listedAreLive(t, r, h)

	// b picks up its new spec at its next restart.
	require.NoError(t, r.Send(now["b"], die{Reason: errors.New("boom")}))
	for {
		if e, ok := r.next(t).(supervisor.ChildStarted); ok {
			assert.Equal(t, "b2", who(t, r, e.PID))
			break
		}
	}
	// d starts when asked; c and e leave as OTP's release instructions
	// would remove them.
	_, err = h.RestartChild(ctx, "d")
	require.NoError(t, err)
	require.NoError(t, h.TerminateChild(ctx, "c"))
	require.NoError(t, h.DeleteChild(ctx, "c"))
	require.NoError(t, h.DeleteChild(ctx, "e"))
	assert.Equal(t, []string{"b", "d", "a"}, ids(t, h))
	listedAreLive(t, r, h)
}

// Under simple_one_for_one, SpecsOnly replaces the template for the
// running instances too (OTP keeps one child record): they restart with it
// and their own arguments. By default only new instances use it.
func TestUpgradeSpecsOnlySimpleOneForOne(t *testing.T) {
	for _, otp := range []bool{false, true} {
		t.Run(map[bool]string{false: "apply", true: "specs only"}[otp], func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			tmpl := supervisor.ChildSpec{ID: "w", Start: supervisor.StartSpec{Module: "w"}}
			h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne}, []supervisor.ChildSpec{tmpl})
			require.NoError(t, err)
			pid, err := h.StartSimpleChild(ctx, "x")
			require.NoError(t, err)

			var opts []supervisor.SpecOption
			if otp {
				opts = append(opts, supervisor.SpecsOnly())
			}
			tmpl.Restart = supervisor.Temporary
			acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{tmpl}, opts...)
			require.NoError(t, err)
			assert.Equal(t, []string{"update w"}, summary(acts))
			assert.Equal(t, "x", who(t, r, pid), "the instance keeps running")
			drain(r)

			require.NoError(t, r.Send(pid, die{Reason: errors.New("boom")}))
			r.next(t) // exited
			n, err := h.CountChildren(ctx)
			require.NoError(t, err)
			if otp {
				assert.Equal(t, 0, n.Active, "temporary now: not restarted")
				assert.Empty(t, drain(r))
			} else {
				assert.Equal(t, 1, n.Active, "still permanent: restarted")
			}
		})
	}
}

// A supervisor's nested specs are validated with their parent's.
func TestNestedSpecsAreValidatedUpFront(t *testing.T) {
	r := newRig(t)
	_, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{
		spec("a", supervisor.Permanent),
		supervisor.Spec("sub", supervisor.Flags{}, []supervisor.ChildSpec{spec("y", 9)}),
	})
	var se *supervisor.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "sub", se.Child)
	assert.Equal(t, "start", se.Field)
	assert.Equal(t, `supervisor: invalid child spec "sub": start: nested supervisor: invalid child spec "y": restart: unknown value restart(9)`, err.Error())
	assert.Empty(t, drain(r), "a was not started and stopped again")
	assert.Equal(t, 0, r.ProcessCount())
}
