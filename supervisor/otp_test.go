package supervisor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Tests of OTP's edges: the restarting state, ignore and start info from
// a child's start, get_childspec, per-instance spawn options, flags.

// flaky is module "flaky": its Init counts attempts, fails while fail is
// positive, returns actor.Ignore while ignore is positive (each using one
// up), and hands its arguments back as start info.
type flaky struct {
	attempts, fail, ignore atomic.Int32
}

func (f *flaky) version() *actor.Version {
	return actor.Define("flaky", "v1", actor.Funcs[any]{
		Init: func(ctx *actor.Context, args any) (any, error) {
			f.attempts.Add(1)
			if f.fail.Add(-1) >= 0 {
				return nil, errors.New("not now")
			}
			if f.ignore.Add(-1) >= 0 {
				return nil, actor.Ignore
			}
			ctx.SetStartInfo(args)
			return args, nil
		},
		Handle: func(ctx *actor.Context, s any, msg any) (any, error) {
			switch m := msg.(type) {
			case die:
				return s, m.Reason
			case whoAmI:
				ctx.Reply(s)
			}
			return s, nil
		},
	})
}

// newFlakyRig is a rig with module flaky loaded. A restart that keeps
// failing is retried at once, over and over, each attempt logged: the log
// is kept to fatal errors.
func newFlakyRig(t *testing.T) (*rig, *flaky) {
	r := newRig(t, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.FatalLevel)))
	f := &flaky{}
	require.NoError(t, r.Load(f.version()))
	return r, f
}

func flakySpec(id string, r supervisor.Restart) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{Module: "flaky", Args: id}, Restart: r}
}

// lots allows restarts without limit for as long as a test runs (the fake
// clock does not move).
var lots = supervisor.Flags{Intensity: 1 << 30, Period: time.Hour}

func info(t *testing.T, h *supervisor.Handle, id string) supervisor.ChildInfo {
	t.Helper()
	cs, err := h.WhichChildren(context.Background())
	require.NoError(t, err)
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no child %q", id)
	return supervisor.ChildInfo{}
}

// crashAndWait makes pid exit with an error and waits for its
// supervisor's ChildExited.
func crashAndWait(t *testing.T, r *rig, pid actor.PID) {
	t.Helper()
	require.NoError(t, r.Send(pid, die{Reason: errors.New("boom")}))
	for {
		if e, ok := r.next(t).(supervisor.ChildExited); ok && e.PID == pid {
			return
		}
	}
}

// A child whose restart failed and is queued to be tried again is
// restarting (OTP's {restarting, Pid}): listed so, not active, refused by
// RestartChild and DeleteChild; TerminateChild cancels the retry, so the
// child does not come back.
func TestRestartingChild(t *testing.T) {
	r, f := newFlakyRig(t)
	ctx := context.Background()
	h, err := supervisor.Start(r.System.System, lots, []supervisor.ChildSpec{flakySpec("f", supervisor.Permanent), spec("w", supervisor.Permanent)})
	require.NoError(t, err)
	pid := children(t, h)["f"]

	f.fail.Store(1 << 30) // every restart fails from now on
	crashAndWait(t, r, pid)
	// Each attempt re-queues the next behind whatever is waiting, so every
	// call is served while the child is restarting.
	got := info(t, h, "f")
	assert.True(t, got.Restarting)
	assert.True(t, got.PID.IsZero())
	n, err := h.CountChildren(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Counts{Specs: 2, Active: 1, Workers: 2}, n, "a restarting child is not active")
	_, err = h.RestartChild(ctx, "f")
	assert.ErrorIs(t, err, supervisor.ErrRestarting)
	assert.ErrorIs(t, h.DeleteChild(ctx, "f"), supervisor.ErrRestarting)
	_, err = h.StartChild(ctx, flakySpec("f", supervisor.Permanent))
	assert.ErrorIs(t, err, supervisor.ErrAlreadyPresent, "as OTP: a restarting child is present")

	require.NoError(t, h.TerminateChild(ctx, "f"))
	tried := f.attempts.Load()
	// The retry queued before TerminateChild is served before this call:
	// it must not try again.
	got = info(t, h, "f")
	assert.False(t, got.Restarting)
	assert.True(t, got.PID.IsZero())
	assert.Equal(t, tried, f.attempts.Load(), "the pending restart was cancelled")

	f.fail.Store(0)
	again, err := h.RestartChild(ctx, "f")
	require.NoError(t, err)
	assert.False(t, again.IsZero())
	require.NoError(t, h.TerminateChild(ctx, "f"))
	require.NoError(t, h.DeleteChild(ctx, "f"))
}

// A simple_one_for_one instance that is restarting is listed so, and
// TerminateSimpleChild finds it by the PID that exited and cancels it.
func TestRestartingSimpleChild(t *testing.T) {
	r, f := newFlakyRig(t)
	ctx := context.Background()
	tmpl := supervisor.ChildSpec{ID: "s", Start: supervisor.StartSpec{Module: "flaky"}}
	flags := lots
	flags.Strategy = supervisor.SimpleOneForOne
	h, err := supervisor.Start(r.System.System, flags, []supervisor.ChildSpec{tmpl})
	require.NoError(t, err)
	a, err := h.StartSimpleChild(ctx, "a")
	require.NoError(t, err)
	b, err := h.StartSimpleChild(ctx, "b")
	require.NoError(t, err)

	f.fail.Store(1 << 30)
	crashAndWait(t, r, a)
	cs, err := h.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	assert.True(t, cs[0].Restarting)
	assert.Equal(t, b, cs[1].PID)
	n, err := h.CountChildren(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Counts{Specs: 1, Active: 1, Workers: 2}, n)
	sp, err := h.SimpleChildSpec(ctx, a)
	require.NoError(t, err, "a restarting instance is found by the PID that exited")
	assert.Equal(t, "a", sp.Start.Args)

	require.NoError(t, h.TerminateSimpleChild(ctx, a))
	tried := f.attempts.Load()
	cs, err = h.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, b, cs[0].PID)
	assert.Equal(t, tried, f.attempts.Load(), "the pending restart was cancelled")
}

// TerminateSimpleChild with the PID of a process that has exited is ok,
// as in OTP (there is nothing left to terminate); a live process that is
// not an instance is not found.
func TestTerminateSimpleChildThatExited(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tmpl := supervisor.ChildSpec{Start: supervisor.StartSpec{Module: "w"}, Restart: supervisor.Transient}
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 10, Period: time.Minute}, []supervisor.ChildSpec{tmpl})
	require.NoError(t, err)
	gone, err := h.StartSimpleChild(ctx, "gone")
	require.NoError(t, err)
	crashed, err := h.StartSimpleChild(ctx, "crashed")
	require.NoError(t, err)

	// A transient instance that exits normally is forgotten.
	w := r.Watch(gone)
	require.NoError(t, r.Send(gone, die{Reason: actor.Normal}))
	<-w.Done()
	for {
		if e, ok := r.next(t).(supervisor.ChildExited); ok && e.PID == gone {
			break
		}
	}
	assert.NoError(t, h.TerminateSimpleChild(ctx, gone))

	// A crashed instance is restarted under a new PID; its old PID is
	// dead, the new process is not touched.
	crashAndWait(t, r, crashed)
	assert.NoError(t, h.TerminateSimpleChild(ctx, crashed))
	cs, err := h.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.NotEqual(t, crashed, cs[0].PID)

	stranger, err := r.Spawn("w", "stranger")
	require.NoError(t, err)
	assert.ErrorIs(t, h.TerminateSimpleChild(ctx, stranger), supervisor.ErrNotFound)
	assert.ErrorIs(t, h.TerminateSimpleChild(ctx, actor.PID{}), supervisor.ErrSimple)
}

// An intensity needs a period: Go cannot tell a period left out from a
// zero one, and OTP refuses a period that is not positive. A zero Flags
// is OTP's defaults; intensity 0 with a period allows no restart.
func TestFlagsIntensityNeedsPeriod(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, err := supervisor.Start(r.System.System, supervisor.Flags{Intensity: 10}, []supervisor.ChildSpec{spec("a", supervisor.Permanent)})
	require.ErrorIs(t, err, supervisor.ErrInvalidSpec)
	var se *supervisor.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "period", se.Field)
	assert.Zero(t, r.ProcessCount(), "nothing started")

	_, err = supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{
		supervisor.Spec("inner", supervisor.Flags{Intensity: 3}, nil)})
	assert.ErrorIs(t, err, supervisor.ErrInvalidSpec, "nested flags too")

	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, nil)
	require.NoError(t, err)
	f, err := h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Flags{Intensity: 1, Period: 5 * time.Second}, f)

	h, err = supervisor.Start(r.System.System, supervisor.Flags{Period: time.Second}, nil)
	require.NoError(t, err)
	f, err = h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Flags{Intensity: 0, Period: time.Second}, f)
}

// A child whose Init returns actor.Ignore is not started, not a failure:
// its spec is kept and it is listed as not running (a temporary one is
// not kept); a restart that is ignored leaves it so, without retries; a
// simple_one_for_one instance that is ignored is not kept.
func TestIgnoredStart(t *testing.T) {
	r, f := newFlakyRig(t)
	ctx := context.Background()
	f.ignore.Store(2) // a and t, at Start
	h, err := supervisor.Start(r.System.System, lots, []supervisor.ChildSpec{
		flakySpec("a", supervisor.Permanent), flakySpec("t", supervisor.Temporary), flakySpec("b", supervisor.Permanent)})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, ids(t, h), "an ignored temporary child is not kept")
	assert.True(t, children(t, h)["a"].IsZero())
	assert.False(t, children(t, h)["b"].IsZero())

	f.ignore.Store(1)
	pid, err := h.RestartChild(ctx, "a")
	require.NoError(t, err)
	assert.True(t, pid.IsZero(), "ignored again: {ok, undefined}")
	pid, err = h.RestartChild(ctx, "a")
	require.NoError(t, err)
	assert.False(t, pid.IsZero())

	f.ignore.Store(2)
	pid, err = h.StartChild(ctx, flakySpec("c", supervisor.Transient))
	require.NoError(t, err)
	assert.True(t, pid.IsZero())
	pid, err = h.StartChild(ctx, flakySpec("d", supervisor.Temporary))
	require.NoError(t, err)
	assert.True(t, pid.IsZero())
	assert.Equal(t, []string{"a", "b", "c"}, ids(t, h))

	// A restart that is ignored: not running, not restarting, no retry.
	tried := f.attempts.Load()
	f.ignore.Store(1)
	crashAndWait(t, r, children(t, h)["b"])
	got := info(t, h, "b")
	assert.True(t, got.PID.IsZero())
	assert.False(t, got.Restarting)
	assert.Equal(t, tried+1, f.attempts.Load(), "one attempt, ignored")

	// simple_one_for_one: an ignored instance is not kept.
	flags := lots
	flags.Strategy = supervisor.SimpleOneForOne
	s, err := supervisor.Start(r.System.System, flags, []supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "flaky"}}})
	require.NoError(t, err)
	f.ignore.Store(1)
	pid, err = s.StartSimpleChild(ctx, "x")
	require.NoError(t, err)
	assert.True(t, pid.IsZero())
	assert.Empty(t, children(t, s))
	pid, err = s.StartSimpleChild(ctx, "y")
	require.NoError(t, err)
	f.ignore.Store(1)
	crashAndWait(t, r, pid)
	cs, err := s.WhichChildren(ctx)
	require.NoError(t, err)
	assert.Empty(t, cs, "an instance whose restart is ignored is dropped")
}

// Init's start info comes back from StartChild, RestartChild and
// StartSimpleChild ({ok, Pid, Info}).
func TestStartInfoFromChildren(t *testing.T) {
	r, _ := newFlakyRig(t)
	ctx := context.Background()
	h, err := supervisor.Start(r.System.System, lots, nil)
	require.NoError(t, err)
	var got any
	pid, err := h.StartChild(ctx, flakySpec("a", supervisor.Permanent), supervisor.StartInfo(&got))
	require.NoError(t, err)
	assert.False(t, pid.IsZero())
	assert.Equal(t, "a", got)
	require.NoError(t, h.TerminateChild(ctx, "a"))
	got = nil
	_, err = h.RestartChild(ctx, "a", supervisor.StartInfo(&got))
	require.NoError(t, err)
	assert.Equal(t, "a", got)

	_, err = h.StartChild(ctx, flakySpec("b", supervisor.Permanent), supervisor.SpawnOptions(actor.WithName("b")))
	assert.ErrorIs(t, err, supervisor.ErrNotSimple, "a spec has its own Start.Options")
	_, err = h.RestartChild(ctx, "a", supervisor.SpawnOptions(actor.WithName("b")))
	assert.ErrorIs(t, err, supervisor.ErrNotSimple)

	flags := lots
	flags.Strategy = supervisor.SimpleOneForOne
	s, err := supervisor.Start(r.System.System, flags, []supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "flaky"}}})
	require.NoError(t, err)
	got = nil
	_, err = s.StartSimpleChild(ctx, "inst", supervisor.StartInfo(&got))
	require.NoError(t, err)
	assert.Equal(t, "inst", got)
}

// ChildSpec returns a child's spec with every field (get_childspec).
func TestChildSpecLookup(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	nested := supervisor.Spec("inner", supervisor.Flags{}, nil)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{
		{ID: "a", Start: supervisor.StartSpec{Module: "w", Args: "a", Options: []actor.SpawnOption{actor.WithName("a")}}, Restart: supervisor.Transient},
		nested})
	require.NoError(t, err)

	sp, err := h.ChildSpec(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "a", sp.ID)
	assert.Equal(t, "w", sp.Start.Module)
	assert.Equal(t, "a", sp.Start.Args)
	assert.Len(t, sp.Start.Options, 1)
	assert.Equal(t, supervisor.Transient, sp.Restart)
	assert.Equal(t, supervisor.Shutdown(5*time.Second), sp.Shutdown, "defaults filled in")
	assert.Equal(t, supervisor.Worker, sp.Type)
	assert.Equal(t, []string{"w"}, sp.Modules)
	sp.Modules[0] = "changed"
	sp, err = h.ChildSpec(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"w"}, sp.Modules, "a copy")

	sp, err = h.ChildSpec(ctx, "inner")
	require.NoError(t, err)
	assert.Equal(t, supervisor.Supervisor, sp.Type)
	assert.Equal(t, supervisor.Infinity, sp.Shutdown)

	_, err = h.ChildSpec(ctx, "zz")
	assert.ErrorIs(t, err, supervisor.ErrNotFound)
	_, err = h.SimpleChildSpec(ctx, children(t, h)["a"])
	assert.ErrorIs(t, err, supervisor.ErrNotFound, "OTP looks PIDs up under simple_one_for_one only")
}

// Each simple_one_for_one instance can have spawn options of its own: a
// registered name per instance, which its restarts keep, also after the
// template is replaced.
func TestSimpleChildOwnName(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tmpl := supervisor.ChildSpec{ID: "acct", Start: supervisor.StartSpec{Module: "w"}}
	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 10, Period: time.Minute}, []supervisor.ChildSpec{tmpl})
	require.NoError(t, err)
	a, err := h.StartSimpleChild(ctx, "a", supervisor.SpawnOptions(actor.WithName("acct-a")))
	require.NoError(t, err)
	b, err := h.StartSimpleChild(ctx, "b", supervisor.SpawnOptions(actor.WithName("acct-b")))
	require.NoError(t, err)
	where := func(name string) actor.PID {
		pid, _ := r.Whereis(name)
		return pid
	}
	assert.Equal(t, a, where("acct-a"))
	assert.Equal(t, b, where("acct-b"))
	_, err = h.StartSimpleChild(ctx, "c", supervisor.SpawnOptions(actor.WithName("acct-a")))
	assert.ErrorIs(t, err, actor.ErrNameTaken)

	sp, err := h.SimpleChildSpec(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "a", sp.Start.Args)
	assert.Len(t, sp.Start.Options, 1, "its own name")
	sp, err = h.ChildSpec(ctx, "acct")
	require.NoError(t, err)
	assert.Empty(t, sp.Start.Options, "the template has none")

	restarted := func(old actor.PID) actor.PID {
		require.NoError(t, r.Send(old, die{Reason: errors.New("boom")}))
		for {
			if e, ok := r.next(t).(supervisor.ChildStarted); ok && e.Restart {
				return e.PID
			}
		}
	}
	a2 := restarted(a)
	assert.Equal(t, a2, where("acct-a"), "the restart takes its own name again")
	assert.Equal(t, "a", who(t, r, a2))

	_, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{withArgs(tmpl, "ignored")}, supervisor.SpecsOnly())
	require.NoError(t, err)
	b2 := restarted(b)
	assert.Equal(t, b2, where("acct-b"), "a new template keeps each instance's options")
	assert.Equal(t, "b", who(t, r, b2))
}

// WithFlags changes a running supervisor's flags through the spec upgrade
// (OTP's code change takes init/1's new flags); not to or from
// simple_one_for_one.
func TestUpgradeSpecsWithFlags(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	specs := []supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent)}
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, specs)
	require.NoError(t, err)
	before := children(t, h)
	drain(r)

	for _, bad := range []supervisor.Flags{
		{Intensity: 3},
		{Strategy: supervisor.SimpleOneForOne, Intensity: 3, Period: time.Minute},
		{Intensity: -1, Period: time.Minute},
	} {
		for _, opts := range [][]supervisor.SpecOption{{supervisor.WithFlags(bad)}, {supervisor.WithFlags(bad), supervisor.SpecsOnly()}} {
			acts, err := h.UpgradeSpecs(ctx, specs, opts...)
			assert.ErrorIs(t, err, supervisor.ErrInvalidSpec, "%+v", bad)
			assert.Empty(t, acts)
		}
	}
	f, err := h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.Flags{Intensity: 1, Period: 5 * time.Second}, f, "unchanged")

	want := supervisor.Flags{Strategy: supervisor.OneForAll, Intensity: 3, Period: time.Minute}
	acts, err := h.UpgradeSpecs(ctx, specs, supervisor.WithFlags(want))
	require.NoError(t, err)
	assert.Equal(t, []string{"flags"}, summary(acts))
	f, err = h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, f)
	assert.Equal(t, before, children(t, h), "no child touched")
	assert.Empty(t, drain(r))
	acts, err = h.UpgradeSpecs(ctx, specs, supervisor.WithFlags(want))
	require.NoError(t, err)
	assert.Empty(t, acts, "same flags: nothing to do")

	// one_for_all from the next restart: a's crash restarts b too, and
	// three restarts in the minute are allowed.
	for i := 0; i < 3; i++ {
		crashAndWait(t, r, children(t, h)["a"])
	}
	after := children(t, h)
	assert.NotEqual(t, before["b"], after["b"], "b restarted with a")
	assert.False(t, after["a"].IsZero())

	// A rolled-back upgrade keeps the old flags.
	acts, err = h.UpgradeSpecs(ctx, append(specs, withArgs(spec("x", supervisor.Permanent), errors.New("x cannot start"))),
		supervisor.WithFlags(supervisor.Flags{}))
	require.ErrorIs(t, err, supervisor.ErrSpecsRolledBack)
	assert.NotContains(t, summary(acts), "flags")
	f, err = h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, f)

	// A simple_one_for_one supervisor changes its intensity, not its
	// strategy.
	tmpl := supervisor.ChildSpec{Start: supervisor.StartSpec{Module: "w"}}
	s, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne}, []supervisor.ChildSpec{tmpl})
	require.NoError(t, err)
	_, err = s.UpgradeSpecs(ctx, []supervisor.ChildSpec{tmpl}, supervisor.WithFlags(supervisor.Flags{}))
	assert.ErrorIs(t, err, supervisor.ErrInvalidSpec)
	acts, err = s.UpgradeSpecs(ctx, []supervisor.ChildSpec{tmpl}, supervisor.WithFlags(supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 9, Period: time.Minute}))
	require.NoError(t, err)
	assert.Equal(t, []string{"flags"}, summary(acts))
}

// With SpecsOnly and new flags, a child kept with its old spec must still
// be valid under them.
func TestUpgradeSpecsWithFlagsChecksKeptChildren(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	sig := spec("s", supervisor.Transient)
	sig.Significant = true
	h, err := supervisor.Start(r.System.System, supervisor.Flags{AutoShutdown: supervisor.AnySignificant},
		[]supervisor.ChildSpec{spec("a", supervisor.Permanent), sig})
	require.NoError(t, err)
	_, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent)}, supervisor.SpecsOnly(), supervisor.WithFlags(supervisor.Flags{}))
	assert.ErrorIs(t, err, supervisor.ErrInvalidSpec, "s would stay significant under auto_shutdown never")
	assert.Equal(t, []string{"a", "s"}, ids(t, h))
}

// A one_for_all restart that fails halfway forgets the temporary siblings
// it shut down (OTP's terminate_children), instead of listing them until
// the restart gets that far.
func TestFailedGroupRestartForgetsTemporarySiblings(t *testing.T) {
	r, f := newFlakyRig(t)
	flags := lots
	flags.Strategy = supervisor.OneForAll
	h, err := supervisor.Start(r.System.System, flags, []supervisor.ChildSpec{
		spec("a", supervisor.Permanent), flakySpec("b", supervisor.Permanent), spec("t", supervisor.Temporary)})
	require.NoError(t, err)
	f.fail.Store(1 << 30)
	crashAndWait(t, r, children(t, h)["a"])
	assert.Equal(t, []string{"a", "b"}, ids(t, h))
	assert.True(t, info(t, h, "b").Restarting)
	require.NoError(t, h.TerminateChild(context.Background(), "b"))
}
