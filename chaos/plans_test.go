package chaos

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/upgrade"
)

func testVersions(module string) []*actor.Version {
	h := func(_ *actor.Context, n int, _ any) (int, error) { return n, nil }
	down := func(_ string, n int, _ any) (any, error) { return n, nil }
	return []*actor.Version{
		actor.Define(module, "v1", actor.Funcs[int]{Handle: h}),
		actor.Define(module, "v2", actor.Funcs[int]{Follows: "v1", Handle: h, Downgrade: down}),
	}
}

func TestConfigModules(t *testing.T) {
	m, o := testVersions("m"), testVersions("o")
	mods, err := (&Config{Module: "m", Versions: m, Modules: []Module{{Name: "o", Versions: o}}}).modules()
	require.NoError(t, err)
	assert.Equal(t, []Module{{Name: "m", Versions: m}, {Name: "o", Versions: o}}, mods)
	for name, c := range map[string]Config{
		"no module":        {},
		"twice":            {Module: "m", Modules: []Module{{Name: "m"}}},
		"nameless":         {Module: "m", Modules: []Module{{Versions: o}}},
		"another's":        {Module: "m", Versions: o},
		"another's, later": {Module: "m", Modules: []Module{{Name: "o", Versions: m}}},
	} {
		_, err := c.modules()
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

// result is a process result of module m, from v1, with the given result
// and where it ended.
func result(res upgrade.Result, to string) upgrade.ProcessResult {
	return upgrade.ProcessResult{Module: "m", From: "v1", To: to, Target: "v2", Result: res}
}

func TestResultProblem(t *testing.T) {
	targets := map[string]string{"m": "v2"}
	atomic := upgrade.Plan{Mode: upgrade.Atomic}
	lazy := upgrade.Plan{Mode: upgrade.Lazy}
	rollingKill := upgrade.Plan{Mode: upgrade.Rolling}
	rollingKeep := upgrade.Plan{Mode: upgrade.Rolling, OnRollbackFailure: upgrade.KeepOnRollbackFailure}
	skip := upgrade.Plan{Mode: upgrade.Atomic, OnTimeout: upgrade.SkipOnTimeout}
	dry := upgrade.Plan{Mode: upgrade.Atomic, DryRun: true}
	straggler := &upgrade.Planned{Straggler: true, Kill: true}
	failed := func(to string) upgrade.ProcessResult {
		r := result(upgrade.Failed, to)
		r.Err = errors.New("no")
		return r
	}
	cases := []struct {
		name string
		plan upgrade.Plan
		o    upgrade.Outcome
		pr   upgrade.ProcessResult
		pl   *upgrade.Planned
		ok   bool
	}{
		{"migrated, committed", atomic, upgrade.Committed, result(upgrade.Migrated, "v2"), nil, true},
		{"migrated, rolled back", atomic, upgrade.RolledBack, result(upgrade.Migrated, "v2"), nil, false},
		{"migrated elsewhere", atomic, upgrade.Committed, result(upgrade.Migrated, "v3"), nil, false},
		{"migrated, converged", lazy, upgrade.Converged, result(upgrade.Migrated, "v2"), nil, true},
		{"pending, unconverged", lazy, upgrade.Unconverged, result(upgrade.Pending, "v1"), nil, true},
		{"pending, converged", lazy, upgrade.Converged, result(upgrade.Pending, "v1"), nil, false},
		{"restored", atomic, upgrade.RolledBack, result(upgrade.Restored, "v1"), nil, true},
		{"restored elsewhere", atomic, upgrade.RolledBack, result(upgrade.Restored, "v2"), nil, false},
		{"restored, committed", atomic, upgrade.Committed, result(upgrade.Restored, "v1"), nil, false},
		{"not reached, committed", atomic, upgrade.Committed, result(upgrade.NotReached, "v1"), nil, false},
		{"not reached, rolled back", atomic, upgrade.RolledBack, result(upgrade.NotReached, "v1"), nil, true},
		{"no answer, rolled back", atomic, upgrade.RolledBack, result(upgrade.NoAnswer, "v1"), nil, true},
		{"no answer, committed", atomic, upgrade.Committed, result(upgrade.NoAnswer, "v1"), nil, false},
		{"no answer under skip", skip, upgrade.RolledBack, result(upgrade.NoAnswer, "v1"), nil, false},
		{"skipped under skip", skip, upgrade.Committed, result(upgrade.Skipped, "v1"), nil, true},
		{"skipped without skip", atomic, upgrade.Committed, result(upgrade.Skipped, "v1"), nil, false},
		{"straggler killed", upgrade.Plan{Stragglers: upgrade.KillStragglers}, upgrade.Committed, result(upgrade.Killed, "v1"), straggler, true},
		{"killed, not a straggler", atomic, upgrade.Committed, result(upgrade.Killed, "v1"), nil, false},
		{"killed by a rollback", rollingKill, upgrade.RolledBack, result(upgrade.Killed, "v2"), nil, true},
		{"killed by a rollback under keep", rollingKeep, upgrade.RolledBack, result(upgrade.Killed, "v2"), nil, false},
		{"kept by a rollback", rollingKeep, upgrade.RolledBack, failed("v2"), nil, true},
		{"kept by a rollback under kill", rollingKill, upgrade.RolledBack, failed("v2"), nil, false},
		{"failed, rolled back", atomic, upgrade.RolledBack, failed("v1"), nil, true},
		{"failed after the commit", atomic, upgrade.Committed, failed("v1"), nil, false},
		{"failed without an error", atomic, upgrade.RolledBack, result(upgrade.Failed, "v1"), nil, false},
		{"would migrate, dry run", dry, upgrade.Simulated, result(upgrade.WouldMigrate, "v1"), nil, true},
		{"would migrate, for real", atomic, upgrade.Committed, result(upgrade.WouldMigrate, "v1"), nil, false},
		{"unchanged", atomic, upgrade.Committed, upgrade.ProcessResult{Module: "m", From: "v2", To: "v2", Target: "v2", Result: upgrade.Unchanged}, nil, true},
		{"unchanged off the target", atomic, upgrade.Committed, result(upgrade.Unchanged, "v1"), nil, false},
		{"exited", atomic, upgrade.RolledBack, result(upgrade.Exited, "v1"), nil, true},
		{"exited, refused", atomic, upgrade.Refused, result(upgrade.Exited, "v1"), nil, false},
		{"another target", atomic, upgrade.Committed, upgrade.ProcessResult{Module: "m", Target: "v3", Result: upgrade.Migrated, To: "v3"}, nil, false},
		{"another module", atomic, upgrade.Committed, upgrade.ProcessResult{Module: "o", Target: "v2", Result: upgrade.Migrated, To: "v2"}, nil, false},
	}
	for _, c := range cases {
		msg := resultProblem(c.plan, c.o, c.pr, c.pl, targets)
		assert.Equal(t, c.ok, msg == "", "%s: %q", c.name, msg)
	}
}

func TestResultsProblem(t *testing.T) {
	m := testVersions("m")
	p := &planned{plan: upgrade.Plan{Mode: upgrade.Lazy, Changes: []upgrade.Change{{Module: "m", To: m[1]}}}}
	sched := &upgrade.Schedule{}
	assert.Empty(t, p.resultsProblem(&upgrade.Report{Mode: upgrade.Lazy, Outcome: upgrade.Converged, Schedule: sched}))
	assert.NotEmpty(t, p.resultsProblem(&upgrade.Report{Mode: upgrade.Lazy, Outcome: upgrade.Committed, Schedule: sched}), "lazy plans converge or not")
	assert.NotEmpty(t, p.resultsProblem(&upgrade.Report{Mode: upgrade.Atomic, Outcome: upgrade.Converged, Schedule: sched}), "the report's mode")
	assert.NotEmpty(t, p.resultsProblem(&upgrade.Report{Mode: upgrade.Lazy, Outcome: upgrade.Unconverged, Schedule: sched}), "unconverged, none pending")

	p.plan.Stragglers = upgrade.RefuseStragglers
	taken := &upgrade.Schedule{Procs: []upgrade.Planned{{Proc: upgrade.Proc{Module: "m", Version: "v0"}, Straggler: true}}}
	rep := &upgrade.Report{Mode: upgrade.Lazy, Outcome: upgrade.Converged, Schedule: taken,
		Processes: []upgrade.ProcessResult{{Module: "m", From: "v0", To: "v2", Target: "v2", Result: upgrade.Migrated}}}
	assert.Contains(t, p.resultsProblem(rep), "RefuseStragglers")
	p.plan.Stragglers = upgrade.MigrateStragglers
	assert.Empty(t, p.resultsProblem(rep))
	p.plan.Stragglers = upgrade.KillStragglers
	assert.Contains(t, p.resultsProblem(rep), "planned kill=false", "a straggler not marked to kill under KillStragglers")
}

func TestFaultProblem(t *testing.T) {
	m := testVersions("m")
	down := []actor.Step{{From: m[1], To: m[0], Down: true}}
	changes := []upgrade.Change{{Module: "m", To: m[1]}}
	gate := &planned{plan: upgrade.Plan{Mode: upgrade.Rolling, Changes: changes}, gate: "error", failAt: 0}
	withGate := &upgrade.Schedule{Steps: []upgrade.Step{{Kind: upgrade.StepGate}}}
	assert.NotEmpty(t, gate.faultProblem(&upgrade.Report{Outcome: upgrade.Committed, Schedule: withGate}), "a failing gate was reached")
	assert.Empty(t, gate.faultProblem(&upgrade.Report{Outcome: upgrade.RolledBack, Schedule: withGate}))
	assert.Empty(t, gate.faultProblem(&upgrade.Report{Outcome: upgrade.Committed, Schedule: &upgrade.Schedule{}}), "no gate to fail")

	// A finished wave restored through a Downgrade told to fail.
	p := &planned{plan: upgrade.Plan{Mode: upgrade.Rolling, Changes: changes}, mig: fault.Migration{Fault: fault.Fail, On: fault.OnDowngrade}}
	pid := actor.PID{}
	sched := &upgrade.Schedule{Procs: []upgrade.Planned{{Proc: upgrade.Proc{Module: "m", Version: "v1"}}},
		Back: map[string]*actor.Change{"m": {To: m[0], Routes: map[string][]actor.Step{"v2": down}}}}
	rep := &upgrade.Report{Outcome: upgrade.RolledBack, Schedule: sched,
		Processes: []upgrade.ProcessResult{{PID: pid, Module: "m", From: "v1", To: "v1", Target: "v2", Result: upgrade.Restored}},
		Events:    []upgrade.Event{upgrade.ProcessResumed{PID: pid, Module: "m", Version: "v2"}}}
	assert.NotEmpty(t, p.faultProblem(rep))
	rep.Processes[0].Result = upgrade.Killed
	assert.Empty(t, p.faultProblem(rep))

	// Migrated down through a Downgrade told to fail.
	sched.Procs[0].Route = down
	rep = &upgrade.Report{Outcome: upgrade.Committed, Schedule: sched,
		Processes: []upgrade.ProcessResult{{Module: "m", From: "v2", To: "v1", Target: "v1", Result: upgrade.Migrated}}}
	assert.NotEmpty(t, p.faultProblem(rep))
	p.mig.On = fault.OnCodeChange
	assert.Empty(t, p.faultProblem(rep), "the fault was aimed at CodeChange")
}

func TestFailingGate(t *testing.T) {
	check := failingGate(1, false)
	assert.NoError(t, check(context.Background(), upgrade.Wave{}))
	assert.ErrorIs(t, check(context.Background(), upgrade.Wave{}), errGate)
	assert.NoError(t, check(context.Background(), upgrade.Wave{}))
	assert.Panics(t, func() { _ = failingGate(0, true)(context.Background(), upgrade.Wave{}) })
}
