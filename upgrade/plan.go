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
	// Lazy makes the new versions current at once; each process migrates
	// on its next message (per-message pickup). The report follows
	// convergence.
	Lazy
	// DryRun runs every migration on the live states without keeping the
	// results and reports what would happen; nothing changes.
	DryRun
	// Rolling upgrades in waves (Plan.Waves) with a health gate between
	// them (Plan.Gate): finished waves run the new version while the rest
	// stay on the old one; the new version becomes current with the last
	// wave. A failed gate or migration rolls every wave done so far back.
	// A canary is a rolling upgrade whose first wave is small.
	Rolling
)

var modeNames = [...]string{"atomic", "lazy", "dry_run", "rolling"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Change moves one module to a version: up (CodeChange of To) or down
// (Downgrade of the version being left), decided by load order.
type Change struct {
	Module string
	To     *actor.Version
	// Extra is passed to the migrations (OTP's Extra).
	Extra any
}

// Plan is an upgrade: module version changes, a mode and timeouts. Plans
// are plain data; Validate checks one against a system without changing
// anything.
type Plan struct {
	Changes []Change
	Mode    Mode
	// Timeout bounds each phase (suspend and migrate; commit and resume)
	// of an atomic upgrade, and the wait for convergence of a lazy one.
	// Zero means DefaultTimeout.
	Timeout time.Duration

	// Waves (rolling mode) are cumulative fractions of the affected
	// processes, increasing, the last one 1: {0.01, 0.1, 1} upgrades 1%,
	// then up to 10%, then the rest. Default {0.1, 1}.
	Waves []float64
	// Gate (rolling mode) is checked after every wave but the last.
	Gate Gate
}

// Gate is the health check between the waves of a rolling upgrade.
type Gate struct {
	// Observe is how long to watch the wave's processes (system clock);
	// default 1 s.
	Observe time.Duration
	// MaxCrashes is how many abnormal exits of processes running the new
	// version are tolerated, counted from the start of the upgrade
	// (default 0).
	MaxCrashes int
	// Check, if set, is asked after observing; an error fails the gate.
	Check func(ctx context.Context, w Wave) error
}

// Wave describes a finished wave to a Gate's Check.
type Wave struct {
	Index     int
	Processes []actor.PID // upgraded so far, this wave included
	Crashes   int         // abnormal exits on the new version so far
}

// DefaultTimeout is the phase timeout of a plan that sets none.
const DefaultTimeout = 5 * time.Second

// Errors of planning. Use errors.Is.
var (
	ErrInvalidPlan = errors.New("upgrade: invalid plan")
	ErrInProgress  = errors.New("upgrade: another upgrade of an overlapping subtree is in progress")
)

// Validate checks the plan against sys (OTP's release handler check):
// every change names a loaded module and a version of it that is not
// already current, each module once, and a downgrade only from a version
// that has a Downgrade migration. It changes nothing.
func (p Plan) Validate(sys *actor.System) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPlan, fmt.Sprintf(format, args...))
	}
	if len(p.Changes) == 0 {
		return bad("no changes")
	}
	if p.Mode > Rolling {
		return bad("unknown mode %v", p.Mode)
	}
	if p.Timeout < 0 {
		return bad("negative timeout %v", p.Timeout)
	}
	if p.Mode == Rolling {
		prev := 0.0
		for i, w := range p.Waves {
			if w <= prev || w > 1 || (i == len(p.Waves)-1 && w != 1) {
				return bad("waves must increase within (0, 1] and end at 1: %v", p.Waves)
			}
			prev = w
		}
		if p.Gate.Observe < 0 || p.Gate.MaxCrashes < 0 {
			return bad("negative gate settings")
		}
	}
	seen := map[string]bool{}
	for i, c := range p.Changes {
		switch {
		case c.To == nil:
			return bad("change %d (%s): no version", i, c.Module)
		case c.Module == "":
			return bad("change %d: no module", i)
		case c.To.Module() != c.Module:
			return bad("change %d: version %v is not of module %s", i, c.To, c.Module)
		case seen[c.Module]:
			return bad("module %s changed twice", c.Module)
		}
		seen[c.Module] = true
		cur, ok := sys.Current(c.Module)
		switch {
		case !ok:
			return bad("unknown module %s", c.Module)
		case cur == c.To:
			return bad("%v is already current", c.To)
		case sys.IsDowngrade(c.To) && !cur.CanDowngrade():
			return bad("downgrade of %s from %s to %s: %s has no Downgrade", c.Module, cur.Name(), c.To.Name(), cur.Name())
		case p.Mode == Rolling && !sys.IsDowngrade(c.To) && !c.To.CanDowngrade():
			return bad("rolling upgrade of %s to %s: %s has no Downgrade to roll finished waves back with", c.Module, c.To.Name(), c.To.Name())
		}
	}
	return nil
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
