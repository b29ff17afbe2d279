package supervisor

import (
	"context"
	"fmt"
	"sync"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
)

// Upgrade applies plan to this supervisor's subtree and returns the report
// (see upgrade.Execute for the steps of each mode). It finds the affected
// processes by walking the tree: every child, at any depth, whose process
// runs a module the plan changes, dynamic children of simple_one_for_one
// supervisors included. The subtree's supervisors stay suspended for the
// whole upgrade, so a child that crashes meanwhile is restarted only after
// the commit or rollback, on the version then current.
//
// One upgrade per subtree at a time: a plan whose subtree overlaps one
// being upgraded fails at once with upgrade.ErrInProgress.
//
// As in OTP, a module's current version is system-wide: once an upgrade
// commits, processes outside the subtree that run the module migrate on
// their next message.
func (h *Handle) Upgrade(ctx context.Context, plan upgrade.Plan) (*upgrade.Report, error) {
	if err := plan.Validate(h.sys); err != nil {
		return nil, err
	}
	modules := map[string]bool{}
	for _, c := range plan.Changes {
		modules[c.Module] = true
	}
	locks := h.sys.Extension(upgradeLocksKey{}, func() any { return &upgradeLocks{held: map[actor.PID]bool{}} }).(*upgradeLocks)
	var targets []upgrade.Target
	var sups []actor.PID
	defer func() { locks.release(sups) }()
	// Each supervisor is locked before it is asked for its children: one
	// that another upgrade holds is suspended and would not answer.
	var walk func(pid actor.PID, level int) error
	walk = func(pid actor.PID, level int) error {
		if !locks.acquire(pid) {
			return fmt.Errorf("%w: %v is being upgraded", upgrade.ErrInProgress, pid)
		}
		sups = append(sups, pid)
		children, err := Of(h.sys, pid).list(ctx)
		if err != nil {
			return fmt.Errorf("supervisor: upgrade: walking %v: %w", pid, err)
		}
		for _, c := range children {
			switch {
			case c.PID.IsZero():
			case c.Type == Supervisor:
				if err := walk(c.PID, level+1); err != nil {
					return err
				}
			case modules[c.Module]:
				targets = append(targets, upgrade.Target{PID: c.PID, Module: c.Module, Level: level})
			}
		}
		return nil
	}
	if err := walk(h.pid, 1); err != nil {
		return nil, err
	}
	rep, err := upgrade.Execute(ctx, h.sys, plan, targets, sups)
	if err != nil || rep.Outcome != upgrade.Committed {
		return rep, err
	}
	// Children restarted between the walk and the hold are on the old
	// version: walk again (the tree is released now) and catch them up.
	locks.release(sups)
	sups, targets = nil, nil
	if err := walk(h.pid, 1); err == nil {
		upgrade.CatchUp(ctx, h.sys, plan, targets, rep)
	}
	return rep, nil
}

type upgradeLocksKey struct{}

// upgradeLocks records, per system, the supervisors whose subtree is being
// upgraded; two overlapping subtrees share at least one supervisor.
type upgradeLocks struct {
	mu   sync.Mutex
	held map[actor.PID]bool
}

func (l *upgradeLocks) acquire(pid actor.PID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[pid] {
		return false
	}
	l.held[pid] = true
	return true
}

func (l *upgradeLocks) release(pids []actor.PID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pids {
		delete(l.held, p)
	}
}
