package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// acct is the test modules' state: a count, and the trail of the
// migrations it went through ("+v2" up into v2, "-v2" down out of v2).
type acct struct {
	N     int
	Trail string
}

// get asks a process for its version and state.
type get struct{}

type snapshot struct {
	Version string
	State   acct
}

// vs describes a version of a test module: its lineage, whether it has a
// Downgrade, and an optional hook run by its migrations (to fail, panic,
// block, or count).
type vs struct {
	follows        string
	upFrom, downTo []string
	down           bool
	hook           func(dir string, s acct) error
}

func ver(module, name string, s vs) *actor.Version {
	f := actor.Funcs[acct]{
		Follows: s.follows, UpgradesFrom: s.upFrom, DowngradesTo: s.downTo,
		Handle: func(ctx *actor.Context, a acct, msg any) (acct, error) {
			switch m := msg.(type) {
			case get:
				ctx.Reply(snapshot{ctx.Version(), a})
			case int:
				a.N += m
				ctx.Reply(a.N)
			case error:
				return a, m
			}
			return a, nil
		},
		CodeChange: func(_ string, old, _ any) (acct, error) {
			a, ok := old.(acct)
			if !ok {
				return acct{}, fmt.Errorf("state is %T", old)
			}
			if s.hook != nil {
				if err := s.hook("up", a); err != nil {
					return a, err
				}
			}
			a.Trail += "+" + name
			return a, nil
		},
	}
	if s.down {
		f.Downgrade = func(_ string, a acct, _ any) (any, error) {
			if s.hook != nil {
				if err := s.hook("down", a); err != nil {
					return a, err
				}
			}
			a.Trail += "-" + name
			return a, nil
		}
	}
	return actor.Define(module, name, f)
}

// chain makes v1..vn of module, each following the one before, all with
// Downgrade.
func chain(module string, n int) []*actor.Version {
	out := make([]*actor.Version, n)
	for i := range n {
		s := vs{down: true}
		if i > 0 {
			s.follows = fmt.Sprintf("v%d", i)
		}
		out[i] = ver(module, fmt.Sprintf("v%d", i+1), s)
	}
	return out
}

func ask(t *testing.T, sys *actortest.System, pid actor.PID) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	r, err := sys.Call(ctx, pid, get{})
	require.NoError(t, err)
	return r.(snapshot)
}

func spawn(t *testing.T, sys *actortest.System, module string, n int) []actor.PID {
	t.Helper()
	pids := make([]actor.PID, n)
	for i := range pids {
		pid, err := sys.Spawn(module, nil)
		require.NoError(t, err)
		pids[i] = pid
	}
	return pids
}

func plan(mode upgrade.Mode, changes ...*actor.Version) upgrade.Plan {
	p := upgrade.Plan{Mode: mode}
	for _, v := range changes {
		p.Changes = append(p.Changes, upgrade.Change{Module: v.Module(), To: v})
	}
	return p
}

// events records the upgrade events on the bus.
func events(sys *actortest.System) func() []upgrade.Event {
	var mu sync.Mutex
	var out []upgrade.Event
	cancel := sys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(upgrade.Event); ok {
			mu.Lock()
			out = append(out, ev)
			mu.Unlock()
		}
	})
	return func() []upgrade.Event {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

func TestCheckAndValidateRejectBadPlans(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 3)
	v1, v2 := m[0], m[1]
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Load(v2))
	other := ver("o", "v1", vs{})
	cases := map[string]upgrade.Plan{
		"no changes":        {},
		"nil version":       {Changes: []upgrade.Change{{Module: "m"}}},
		"no module":         {Changes: []upgrade.Change{{To: v1}}},
		"wrong module":      {Changes: []upgrade.Change{{Module: "m", To: other}}},
		"unknown module":    {Changes: []upgrade.Change{{Module: "o", To: other}}},
		"already current":   {Changes: []upgrade.Change{{Module: "m", To: v2}}},
		"twice":             {Changes: []upgrade.Change{{Module: "m", To: v1}, {Module: "m", To: v1}}},
		"unknown mode":      {Mode: 9, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"negative timeout":  {Timeout: -1, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"waves not rising":  {Mode: upgrade.Rolling, Waves: []float64{0.5, 0.2, 1}, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"waves past one":    {Mode: upgrade.Rolling, Waves: []float64{5, 1}, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"negative wave":     {Mode: upgrade.Rolling, Waves: []float64{-1, 1}, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"not ending at 1":   {Mode: upgrade.Rolling, Waves: []float64{0.5}, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"waves not rolling": {Waves: []float64{1}, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"bad policy":        {Stragglers: 7, Changes: []upgrade.Change{{Module: "m", To: m[2]}}},
		"name conflict":     {Changes: []upgrade.Change{{Module: "m", To: ver("m", "v1", vs{})}}},
	}
	for name, p := range cases {
		err := p.Validate(sys.System)
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		rep, err := upgrade.Execute(context.Background(), sys.System, p, upgrade.Processes(sys.System))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		assert.Equal(t, upgrade.Refused, rep.Outcome, name)
	}
	cur, _ := sys.Current("m")
	assert.Same(t, v2, cur, "bad plans change nothing")
	assert.NoError(t, plan(upgrade.Atomic, m[2]).Validate(sys.System))
}

// Execute works on any set of processes, without a supervisor; processes
// of other modules are left alone.
func TestExecuteOnPlainProcesses(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	require.NoError(t, sys.Load(ver("o", "v1", vs{})))
	pids := spawn(t, sys, "m", 5)
	bystander := spawn(t, sys, "o", 1)[0]

	rep, err := upgrade.Execute(context.Background(), sys.System, plan(upgrade.Atomic, m[1]), upgrade.Processes(sys.System, append(pids, bystander)...))
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Len(t, rep.Processes, 5, "only processes of changed modules take part")
	for _, pid := range pids {
		assert.Equal(t, snapshot{"v2", acct{Trail: "+v2"}}, ask(t, sys, pid))
	}
	assert.Equal(t, "v1", ask(t, sys, bystander).Version)

	// And back down, with v2's Downgrade.
	rep, err = upgrade.Execute(context.Background(), sys.System, plan(upgrade.Atomic, m[0]), upgrade.Processes(sys.System, pids...))
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Equal(t, actor.Downward, rep.Schedule.Direction["m"])
	assert.EqualValues(t, 5, sys.Activations("m", "v1"))
	assert.Equal(t, snapshot{"v1", acct{Trail: "+v2-v2"}}, ask(t, sys, pids[0]))
}

// The reported outcome and results follow what happened to each process.
func TestReportSaysWhatHappened(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 3)
	got := events(sys)
	rep, err := upgrade.Execute(context.Background(), sys.System, plan(upgrade.Atomic, m[1]), upgrade.Processes(sys.System, pids...))
	require.NoError(t, err)
	for _, r := range rep.Processes {
		assert.Equal(t, upgrade.Migrated, r.Result)
		assert.Equal(t, "v1", r.From)
		assert.Equal(t, "v2", r.To)
		assert.Positive(t, r.Pause+1, "pause is measured (fake clock: zero)")
	}
	evs := got()
	counts := map[string]int{}
	var plan []upgrade.Event
	for _, e := range evs {
		counts[fmt.Sprintf("%T", e)]++
		switch e.(type) {
		case upgrade.ProcessSuspended, upgrade.ProcessMigrated, upgrade.ProcessResumed:
		case upgrade.UpgradeFinished:
			assert.Equal(t, upgrade.UpgradeFinished{Mode: upgrade.Atomic, Outcome: upgrade.Committed, Processes: 3}, e)
		default:
			plan = append(plan, e)
		}
	}
	assert.Equal(t, map[string]int{"upgrade.PlanAccepted": 1, "upgrade.PlanPrepared": 1, "upgrade.ProcessSuspended": 3,
		"upgrade.ProcessMigrated": 3, "upgrade.UpgradeCommitted": 1, "upgrade.ProcessResumed": 3,
		"upgrade.UpgradeFinished": 1}, counts)
	assert.Equal(t, plan, rep.Events, "the report keeps the plan's steps; each process's, and the end, are on the bus")
}

var errNo = errors.New("no")

// Cancelling the caller's context during a rolling upgrade's gate rolls
// the finished waves back, to the end: the rollback does not inherit the
// cancellation (it once failed at once and killed the wave's processes).
func TestCancelledRollingUpgradeRollsBackCompletely(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 4)
	waved := make(chan struct{}, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(upgrade.WaveCommitted); ok {
			select {
			case waved <- struct{}{}:
			default:
			}
		}
	})()
	ctx, cancel := context.WithCancel(context.Background())
	p := plan(upgrade.Rolling, m[1])
	p.Waves, p.Gate.Observe = []float64{0.5, 1}, time.Hour // the fake clock never gets there
	go func() { <-waved; cancel() }()
	rep, err := upgrade.Execute(ctx, sys.System, p, upgrade.Processes(sys.System, pids...))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	assert.Equal(t, 2, rep.Count(upgrade.Restored), "the finished wave came back")
	assert.Equal(t, 2, rep.Count(upgrade.NotReached))
	for _, pid := range pids {
		assert.Equal(t, "v1", ask(t, sys, pid).Version)
	}
}
