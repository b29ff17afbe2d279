package upgrade

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/graftrt/graft/actor"
)

// Processes is a Tree of a fixed set of processes, without supervisors:
// Hold lists those still alive that run one of the modules, each at level
// 1, with the version it runs (read without asking it). Use it to upgrade
// processes that no supervisor owns.
func Processes(sys *actor.System, pids ...actor.PID) Tree {
	return &processes{sys: sys, pids: slices.Clone(pids)}
}

type processes struct {
	sys  *actor.System
	pids []actor.PID
}

func (t *processes) Hold(_ context.Context, modules []string) ([]Proc, error) {
	out := make([]Proc, 0, len(t.pids))
	for _, pid := range t.pids {
		v, ok := t.sys.VersionOf(pid)
		if ok && slices.Contains(modules, v.Module) {
			out = append(out, Proc{PID: pid, Module: v.Module, Version: v.Version, Pinned: v.Pinned, Level: 1})
		}
	}
	return out, nil
}

func (t *processes) Release() {}

type locksKey struct{}

// moduleLocks records, per system, the modules a plan is running on.
type moduleLocks struct {
	mu   sync.Mutex
	held map[string]bool // guarded by mu
}

// lockModules takes every module of the plan, or none: ErrInProgress if
// another plan holds one.
func lockModules(sys *actor.System, p Plan) (unlock func(), err error) {
	l := sys.Extension(locksKey{}, func() any { return &moduleLocks{held: map[string]bool{}} }).(*moduleLocks)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range p.Changes {
		if l.held[c.Module] {
			return nil, fmt.Errorf("%w: module %s is being upgraded", ErrInProgress, c.Module)
		}
	}
	for _, c := range p.Changes {
		l.held[c.Module] = true
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range p.Changes {
			delete(l.held, c.Module)
		}
	}, nil
}
