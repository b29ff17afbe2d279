package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
)

// Upgrade applies plan to this supervisor's subtree and returns the report
// (upgrade.Execute has the sequence; docs/upgrades.md each mode's
// guarantee). The subtree is held while the plan runs: each supervisor in
// it, top-down, is suspended (its children's exits wait in its mailbox, so
// a child that crashes meanwhile is restarted only after the commit or
// rollback, on the version then current) and asked for its children on its
// system lane. The affected processes are every child, at any depth,
// running a module the plan changes, dynamic children of
// simple_one_for_one supervisors included.
//
// A supervisor in the subtree that is suspended already (sys:suspend)
// refuses the plan at once; one held by another upgrade fails it with
// upgrade.ErrInProgress. Either way nothing is touched.
//
// As in OTP, a module's current version is system-wide: once an upgrade
// commits, processes outside the subtree that run the module migrate on
// their next message.
func (h *Handle) Upgrade(ctx context.Context, plan upgrade.Plan) (*upgrade.Report, error) {
	return upgrade.Execute(ctx, h.sys, plan, &tree{h: h})
}

// tree is a supervision subtree as the upgrade runner holds it.
type tree struct {
	h    *Handle
	held []actor.PID // suspended by Hold, top-down
}

// Hold suspends the subtree's supervisors top-down and lists the
// processes that run one of modules.
func (t *tree) Hold(ctx context.Context, modules []string) ([]upgrade.Proc, error) {
	locks := t.h.sys.Extension(upgradeLocksKey{}, func() any { return &upgradeLocks{held: map[actor.PID]bool{}} }).(*upgradeLocks)
	var procs []upgrade.Proc
	var walk func(pid actor.PID, level int) error
	walk = func(pid actor.PID, level int) error {
		if !locks.acquire(pid) {
			return fmt.Errorf("%w: %v is being upgraded", upgrade.ErrInProgress, pid)
		}
		if err := t.h.sys.TrySuspend(ctx, pid); err != nil {
			locks.release([]actor.PID{pid})
			if errors.Is(err, actor.ErrAlreadySuspended) {
				return fmt.Errorf("%w: supervisor %v is suspended (sys:suspend); resume it first", upgrade.ErrRefused, pid)
			}
			return fmt.Errorf("supervisor: upgrade: holding %v: %w", pid, err)
		}
		t.held = append(t.held, pid)
		list := make(chan []*child, 1) // Inspect's f may run after a timeout: never into our variables
		err := t.h.sys.Inspect(ctx, pid, func(st any) {
			s, _ := st.(*state)
			if s != nil {
				list <- slices.Clone(s.children)
			} else {
				list <- nil
			}
		})
		if err != nil {
			return fmt.Errorf("supervisor: upgrade: walking %v: %w", pid, err)
		}
		children := <-list
		for _, c := range children {
			// The supervisor is suspended: its child records do not change
			// under us.
			switch {
			case c.pid.IsZero():
			case c.spec.Type == Supervisor:
				if err := walk(c.pid, level+1); err != nil {
					return err
				}
			case slices.Contains(modules, c.spec.Start.Module):
				if v, ok := t.h.sys.VersionOf(c.pid); ok && v.Module == c.spec.Start.Module {
					procs = append(procs, upgrade.Proc{PID: c.pid, Module: v.Module, Version: v.Version, Pinned: v.Pinned, Level: level})
				}
			}
		}
		return nil
	}
	if err := walk(t.h.pid, 1); err != nil {
		t.Release()
		return nil, err
	}
	return procs, nil
}

// Release resumes the held supervisors bottom-up.
func (t *tree) Release() {
	locks := t.h.sys.Extension(upgradeLocksKey{}, func() any { return &upgradeLocks{held: map[actor.PID]bool{}} }).(*upgradeLocks)
	for i := len(t.held) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), upgrade.DefaultTimeout)
		_ = t.h.sys.Resume(ctx, t.held[i]) // one that exited needs no resume
		cancel()
	}
	locks.release(t.held)
	t.held = nil
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
