package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/graftrt/graft/actor"
)

// Mode is how a plan is applied.
type Mode uint8

const (
	// Atomic suspends every affected process, migrates each, and commits
	// all or rolls all back.
	Atomic Mode = iota
	// Lazy makes the new versions current at once; each process on the
	// outgoing current version migrates on its next message (per-message
	// pickup), and processes still on an older version (stragglers) are
	// migrated eagerly in the same transaction. The report follows
	// convergence.
	Lazy
	// Rolling upgrades in waves (Plan.Waves) with a health gate between
	// them (Plan.Gate): finished waves run the new version while the rest
	// stay on the old one; the new versions become current with the last
	// wave. A failure at any wave, or a failed gate, rolls every finished
	// wave back. A canary is a rolling upgrade whose first wave is small.
	Rolling
)

var modeNames = [...]string{"atomic", "lazy", "rolling"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// StragglerPolicy says what a plan does with processes that run another
// version of a changed module than its current one (a lazy upgrade left
// them behind, say; a process already on the plan's target is one too:
// until the commit its next message would move it to the current version).
type StragglerPolicy uint8

const (
	// MigrateStragglers (the default) makes them part of the transaction:
	// suspended and migrated along the lineage with the others.
	MigrateStragglers StragglerPolicy = iota
	// RefuseStragglers refuses the plan, before anything is touched, while
	// any exists.
	RefuseStragglers
	// KillStragglers suspends them with the others and kills them at the
	// commit; their supervisors restart them on the new version.
	KillStragglers
)

var stragglerNames = [...]string{"migrate", "refuse", "kill"}

func (s StragglerPolicy) String() string {
	if int(s) < len(stragglerNames) {
		return stragglerNames[s]
	}
	return "stragglers(?)"
}

// TimeoutPolicy says what a plan does with a process that does not answer
// the suspend in time. Either way that process never runs the migration
// later.
type TimeoutPolicy uint8

const (
	// RollBackOnTimeout (the default) rolls the whole plan back.
	RollBackOnTimeout TimeoutPolicy = iota
	// SkipOnTimeout leaves that process out, as OTP's release handler
	// does; it migrates on its next message after the commit. The report
	// marks it Skipped.
	SkipOnTimeout
)

// RollbackFailurePolicy says what a rolling upgrade does with a process of
// a finished wave whose migration back to the old version fails.
type RollbackFailurePolicy uint8

const (
	// KillOnRollbackFailure (the default) kills it, so that its supervisor
	// restarts it on the old version.
	KillOnRollbackFailure RollbackFailurePolicy = iota
	// KeepOnRollbackFailure leaves it running the new version (pinned
	// while the old one stays current); the report says so.
	KeepOnRollbackFailure
)

// Change moves one module to a version. Whether that is an upgrade or a
// downgrade, and through which versions, follows from the lineage the
// versions declare (see actor.Lineage).
type Change struct {
	Module string
	To     *actor.Version
	// Extra is passed to the migrations (OTP's Extra), to every step of
	// the route.
	Extra any
}

// Plan is an upgrade: module version changes, a mode, timeouts and
// policies. Plans are plain data; Check checks one without a system and
// Validate against a system, without changing anything.
type Plan struct {
	Changes []Change
	Mode    Mode
	// DryRun computes the schedule the plan would run and runs every
	// migration on the live states without keeping the results (no
	// process is suspended); it predicts every refusal the real run would
	// hit and changes nothing.
	DryRun bool
	// Timeout bounds each round of requests to the processes (suspend
	// and migrate; commit and resume), and the wait for convergence of a
	// lazy plan. Zero means DefaultTimeout.
	Timeout time.Duration

	// Waves (rolling mode) are cumulative fractions of the affected
	// processes, strictly increasing within (0, 1], the last one 1:
	// {0.01, 0.1, 1} upgrades 1%, then up to 10%, then the rest. Default
	// {0.1, 1}.
	Waves []float64
	// Gate (rolling mode) is checked after every wave but the last.
	Gate Gate

	Stragglers        StragglerPolicy
	OnTimeout         TimeoutPolicy
	OnRollbackFailure RollbackFailurePolicy
}

// Gate is the health check between the waves of a rolling upgrade.
type Gate struct {
	// Observe is how long to watch the wave's processes (system clock);
	// default 1 s. The tree is not held meanwhile: its supervisors restart
	// children as usual.
	Observe time.Duration
	// MaxCrashes is how many abnormal exits of processes running the new
	// version are tolerated, counted from the start of the upgrade
	// (default 0).
	MaxCrashes int
	// Check, if set, is asked after observing, with the plan's timeout;
	// an error, a panic or no answer in time fails the gate.
	Check func(ctx context.Context, w Wave) error
}

// Wave describes a finished wave to a Gate's Check.
type Wave struct {
	Index     int
	Processes []actor.PID // upgraded so far, this wave included
	Crashes   int         // abnormal exits on the new version so far
}

// DefaultTimeout is the round timeout of a plan that sets none.
const DefaultTimeout = 5 * time.Second

// Errors of planning. Use errors.Is.
var (
	// ErrInvalidPlan: the plan is malformed or does not fit the system.
	ErrInvalidPlan = errors.New("upgrade: invalid plan")
	// ErrInProgress: another upgrade holds a module or supervisor of this
	// one.
	ErrInProgress = errors.New("upgrade: another upgrade of an overlapping subtree is in progress")
	// ErrRefused: the plan is well formed but the system's state refuses
	// it (stragglers by policy, a missing lineage step for a version in
	// use, a version left in use too many, a suspended supervisor).
	ErrRefused = errors.New("upgrade: plan refused")
)

// Check checks everything about the plan that can be checked without a
// system: at least one change, each naming a module and a version of it,
// each module once; a known mode and policies; no negative duration; waves
// strictly increasing within (0, 1] and ending at 1. It changes nothing.
func (p Plan) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPlan, fmt.Sprintf(format, args...))
	}
	switch {
	case len(p.Changes) == 0:
		return bad("no changes")
	case p.Mode > Rolling:
		return bad("unknown mode %v", p.Mode)
	case p.Timeout < 0:
		return bad("negative timeout %v", p.Timeout)
	case p.Stragglers > KillStragglers:
		return bad("unknown straggler policy %d", p.Stragglers)
	case p.OnTimeout > SkipOnTimeout:
		return bad("unknown timeout policy %d", p.OnTimeout)
	case p.OnRollbackFailure > KeepOnRollbackFailure:
		return bad("unknown rollback failure policy %d", p.OnRollbackFailure)
	case p.Gate.Observe < 0 || p.Gate.MaxCrashes < 0:
		return bad("negative gate settings")
	}
	if err := checkWaves(p.Waves); err != nil {
		return bad("%v", err)
	}
	if len(p.Waves) > 0 && p.Mode != Rolling {
		return bad("waves are for rolling plans, not %v", p.Mode)
	}
	seen := map[string]bool{}
	for i, c := range p.Changes {
		switch {
		case c.Module == "":
			return bad("change %d: no module", i)
		case c.To == nil:
			return bad("change %d (%s): no version", i, c.Module)
		case c.To.Module() != c.Module:
			return bad("change %d: version %v is not of module %s", i, c.To, c.Module)
		case seen[c.Module]:
			return bad("module %s changed twice", c.Module)
		}
		seen[c.Module] = true
	}
	return nil
}

func checkWaves(waves []float64) error {
	prev := 0.0
	for i, w := range waves {
		if !(w > prev) || w > 1 || (i == len(waves)-1 && w != 1) {
			return fmt.Errorf("waves must increase strictly within (0, 1] and end at 1: %v", waves)
		}
		prev = w
	}
	return nil
}

// Validate checks the plan against sys (OTP's release handler check),
// without processes: Check, then every module is loaded, its version is
// not current already, and every version of it in use can reach the new
// one through declared steps (and back, for a rolling plan). It changes
// nothing. Execute checks the same and more (stragglers, purge) against
// the processes it upgrades.
func (p Plan) Validate(sys *actor.System) error {
	if err := p.Check(); err != nil {
		return err
	}
	_, err := NewSchedule(p, ModulesOf(sys, p))
	return err
}

func (p Plan) waves() []float64 {
	if len(p.Waves) == 0 {
		return []float64{0.1, 1}
	}
	return p.Waves
}

func (g Gate) observe() time.Duration {
	if g.Observe == 0 {
		return time.Second
	}
	return g.Observe
}

func (p Plan) timeout() time.Duration {
	if p.Timeout == 0 {
		return DefaultTimeout
	}
	return p.Timeout
}
