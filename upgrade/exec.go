package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// Target is a process a plan affects, with its depth in the supervision
// tree (1 for a top supervisor's children, 2 for their children, ...).
type Target struct {
	PID    actor.PID
	Module string
	Level  int
}

// Outcome is how an upgrade ended.
type Outcome uint8

const (
	Committed   Outcome = iota // every affected process runs the new version
	RolledBack                 // every affected process runs its old version, with its original state
	Simulated                  // dry run: nothing changed
	Converged                  // lazy: every affected process has migrated
	Unconverged                // lazy: the timeout passed with processes still on the old version
)

var outcomeNames = [...]string{"committed", "rolled_back", "simulated", "converged", "unconverged"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(?)"
}

// ProcessResult is one process's part in an upgrade.
type ProcessResult struct {
	PID      actor.PID
	Module   string
	From, To string
	// Pause is how long the process was suspended (atomic mode).
	Pause time.Duration
	// Err is its migration's failure, or an *actor.ExitError if it exited
	// during the upgrade (then it is restarted afterwards by its
	// supervisor, on the version then current).
	Err error
	// Late marks a process that joined after the affected processes were
	// found (restarted by its supervisor just before the tree was held)
	// and was caught up after the commit (see CatchUp).
	Late bool
}

// Report is what an upgrade did: per process, totals, and the events in
// order.
type Report struct {
	Mode      Mode
	Outcome   Outcome
	Processes []ProcessResult
	Elapsed   time.Duration
	MaxPause  time.Duration
	Events    []Event
}

// Failed returns the results with an error that was a migration failure
// (not an exit).
func (r *Report) Failed() []ProcessResult {
	var out []ProcessResult
	for _, p := range r.Processes {
		var ee *actor.ExitError
		if p.Err != nil && !errors.As(p.Err, &ee) {
			out = append(out, p)
		}
	}
	return out
}

// Execute applies plan to targets: the engine behind supervisor.Upgrade,
// usable on any set of processes. hold lists processes to keep suspended
// for the whole upgrade (the subtree's supervisors: a child that crashes
// meanwhile is then restarted only after the commit or rollback, on the
// version then current). Steps, each logged and reported as an Event:
//
//	atomic:  accept → stage → suspend hold → suspend and migrate targets,
//	         level by level top-down, in parallel within a level →
//	         commit (make the versions current: the point of no return) →
//	         switch and resume, bottom-up → resume hold;
//	         any failure, panic or timeout before the commit → abort and
//	         resume every target, bottom-up: original state and version.
//	lazy:    accept → load → wait until every target has migrated.
//	dry run: accept → run every migration, keep nothing.
func Execute(ctx context.Context, sys *actor.System, plan Plan, targets []Target, hold []actor.PID) (*Report, error) {
	e := &engine{sys: sys, plan: plan, log: sys.Logger().With(zap.String("upgrade", plan.Mode.String())),
		report: &Report{Mode: plan.Mode}, start: sys.Clock().Now()}
	if err := plan.Validate(sys); err != nil {
		return nil, err
	}
	e.versions = map[string]Change{}
	for _, c := range plan.Changes {
		e.versions[c.Module] = c
	}
	// Sized up front: with 10,000 processes these are the engine's
	// largest allocations, and fresh memory is slow to touch.
	e.targets = make([]Target, 0, len(targets))
	e.report.Processes = make([]ProcessResult, 0, len(targets))
	e.report.Events = make([]Event, 0, 3*len(targets)+8)
	for _, t := range targets {
		if c, ok := e.versions[t.Module]; ok {
			e.targets = append(e.targets, t)
			e.report.Processes = append(e.report.Processes, ProcessResult{PID: t.PID, Module: t.Module, To: c.To.Name()})
		}
	}
	e.event(PlanAccepted{Mode: plan.Mode, Processes: len(e.targets)})
	var err error
	switch plan.Mode {
	case Atomic:
		err = e.atomic(ctx, hold)
	case Lazy:
		err = e.lazy(ctx)
	case DryRun:
		err = e.dryRun(ctx)
	case Rolling:
		err = e.rolling(ctx)
	}
	e.report.Elapsed = sys.Clock().Now().Sub(e.start)
	return e.report, err
}

type engine struct {
	sys      *actor.System
	plan     Plan
	log      *zap.Logger
	report   *Report
	start    time.Time
	versions map[string]Change
	targets  []Target

	mu sync.Mutex // guards report.Events
}

// event records a step in the report, logs it (per-process steps at
// debug level, the others at info) and reports it on the event bus.
func (e *engine) event(ev Event) {
	e.mu.Lock()
	e.report.Events = append(e.report.Events, ev)
	e.mu.Unlock()
	switch ev := ev.(type) {
	case ProcessSuspended, ProcessMigrated, ProcessResumed:
		if ce := e.log.Check(zap.DebugLevel, "upgrade step"); ce != nil {
			ce.Write(zap.String("step", fmt.Sprintf("%T", ev)), zap.Any("event", ev))
		}
	default:
		e.log.Info("upgrade step", zap.String("step", fmt.Sprintf("%T", ev)), zap.Any("event", ev))
	}
	e.sys.Emit(ev)
}

// levels groups target indexes by level, top-down.
func (e *engine) levels() [][]int {
	byLevel := map[int][]int{}
	var ls []int
	for i, t := range e.targets {
		if _, ok := byLevel[t.Level]; !ok {
			ls = append(ls, t.Level)
		}
		byLevel[t.Level] = append(byLevel[t.Level], i)
	}
	slices.Sort(ls)
	out := make([][]int, len(ls))
	for i, l := range ls {
		out[i] = byLevel[l]
	}
	return out
}

// wait waits for ops until the plan's timeout on the system clock; it
// reports the first failure (a timeout included; an exit is not a failure)
// and records every outcome with record.
func (e *engine) wait(ctx context.Context, ops []*actor.Op, record func(i int, err error)) error {
	timer := e.sys.Clock().NewTimer(e.plan.timeout())
	defer timer.Stop()
	expired := false
	var first error
	for i, op := range ops {
		var err error
		if expired {
			select { // the deadline has passed: take only what is there
			case <-op.Done():
				err = op.Err()
			default:
				err = fmt.Errorf("upgrade: %v did not answer within %v", op.PID, e.plan.timeout())
			}
		} else {
			select {
			case <-op.Done():
				err = op.Err()
			case <-timer.C():
				expired = true
				err = fmt.Errorf("upgrade: %v did not answer within %v", op.PID, e.plan.timeout())
			case <-ctx.Done():
				expired = true
				err = fmt.Errorf("upgrade: %v: %w", op.PID, ctx.Err())
			}
		}
		record(i, err)
		var ee *actor.ExitError
		if err != nil && first == nil && !errors.As(err, &ee) {
			first = err
		}
	}
	return first
}

func (e *engine) atomic(ctx context.Context, hold []actor.PID) error {
	for _, c := range e.plan.Changes {
		if err := e.sys.Stage(c.To); err != nil {
			return err
		}
	}
	e.event(PlanPrepared{})
	for _, pid := range hold {
		if err := e.sys.Suspend(ctx, pid); err != nil {
			var ee *actor.ExitError
			if !errors.As(err, &ee) {
				e.resumeHold(hold)
				return err
			}
		}
	}
	defer e.resumeHold(hold)

	levels := e.levels()
	suspendedAt := make([]time.Time, len(e.targets))
	var failed error
	for _, level := range levels {
		ops := make([]*actor.Op, len(level))
		for j, i := range level {
			t := e.targets[i]
			c := e.versions[t.Module]
			ops[j] = e.sys.ChangeCode(t.PID, c.To, c.Extra)
		}
		err := e.wait(ctx, ops, func(j int, err error) {
			i := level[j]
			r := &e.report.Processes[i]
			r.From, r.Err = ops[j].From(), err
			suspendedAt[i] = ops[j].At() // when the process itself suspended
			e.event(ProcessSuspended{PID: r.PID, Module: r.Module})
			if err == nil {
				e.event(ProcessMigrated{PID: r.PID, Module: r.Module, From: r.From, To: r.To})
			} else {
				e.log.Warn("code_change failed", zap.Stringer("pid", r.PID), zap.String("module", r.Module), zap.Error(err))
			}
		})
		if err != nil {
			failed = err
			break
		}
	}

	// Bottom-up: the deepest level resumes first.
	settle := func(commit bool) {
		for l := len(levels) - 1; l >= 0; l-- {
			ops := make([]*actor.Op, len(levels[l]))
			for j, i := range levels[l] {
				if commit {
					ops[j] = e.sys.Commit(e.targets[i].PID, true)
				} else {
					ops[j] = e.sys.Abort(e.targets[i].PID, true)
				}
			}
			_ = e.wait(ctx, ops, func(j int, err error) {
				i := levels[l][j]
				r := &e.report.Processes[i]
				if resumed := ops[j].At(); !suspendedAt[i].IsZero() && !resumed.IsZero() {
					r.Pause = resumed.Sub(suspendedAt[i]) // as the process saw it
					e.report.MaxPause = max(e.report.MaxPause, r.Pause)
				}
				if err != nil && r.Err == nil {
					r.Err = err
				}
				e.event(ProcessResumed{PID: r.PID, Module: r.Module})
			})
		}
	}
	if failed != nil {
		e.log.Error("upgrade rolled back", zap.Error(failed))
		e.event(UpgradeRolledBack{Reason: failed})
		settle(false)
		e.report.Outcome = RolledBack
		return fmt.Errorf("upgrade: rolled back: %w", failed)
	}
	for _, c := range e.plan.Changes {
		if err := e.sys.Load(c.To, actor.WithExtra(c.Extra)); err != nil {
			// Not reachable for a validated, staged plan; roll back.
			e.event(UpgradeRolledBack{Reason: err})
			settle(false)
			e.report.Outcome = RolledBack
			return err
		}
	}
	e.log.Info("upgrade committed", zap.Int("processes", len(e.targets)))
	e.event(UpgradeCommitted{})
	settle(true)
	e.report.Outcome = Committed
	return nil
}

// CatchUp brings targets that still run another version than the plan's
// to it, after a commit: processes that joined while the upgrade was being
// set up (a child restarted by its supervisor after the tree was walked and
// before it was held) would otherwise migrate only on their next message.
// Each is suspended, migrated, switched and resumed on its own; they are
// added to rep as Late. A failed migration leaves that process on its
// version (it retries at its next message, as per-message pickup does).
func CatchUp(ctx context.Context, sys *actor.System, plan Plan, targets []Target, rep *Report) {
	e := &engine{sys: sys, plan: plan, log: sys.Logger().With(zap.String("upgrade", "catch_up")), report: rep,
		versions: map[string]Change{}}
	for _, c := range plan.Changes {
		e.versions[c.Module] = c
	}
	for _, t := range targets {
		c, ok := e.versions[t.Module]
		if !ok {
			continue
		}
		if info, err := sys.Info(ctx, t.PID); err != nil || info.Version == c.To.Name() {
			continue
		}
		op := sys.ChangeCode(t.PID, c.To, c.Extra)
		r := ProcessResult{PID: t.PID, Module: t.Module, To: c.To.Name(), Late: true}
		_ = e.wait(ctx, []*actor.Op{op}, func(_ int, err error) { r.From, r.Err = op.From(), err })
		settle := sys.Commit(t.PID, true)
		if r.Err != nil {
			settle = sys.Abort(t.PID, true)
		}
		_ = e.wait(ctx, []*actor.Op{settle}, func(_ int, err error) {
			if err != nil && r.Err == nil {
				r.Err = err
			}
		})
		e.event(ProcessMigrated{PID: r.PID, Module: r.Module, From: r.From, To: r.To})
		rep.Processes = append(rep.Processes, r)
	}
}

func (e *engine) resumeHold(hold []actor.PID) {
	for i := len(hold) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), e.plan.timeout())
		_ = e.sys.Resume(ctx, hold[i]) // a holder that exited needs no resume
		cancel()
	}
}

func (e *engine) lazy(ctx context.Context) error {
	pending := make(map[actor.PID]int, len(e.targets))
	for i, t := range e.targets {
		pending[t.PID] = i
	}
	var mu sync.Mutex
	done := make(chan struct{})
	settle := func(pid actor.PID, apply func(r *ProcessResult)) {
		mu.Lock()
		defer mu.Unlock()
		i, ok := pending[pid]
		if !ok {
			return
		}
		apply(&e.report.Processes[i])
		delete(pending, pid)
		if len(pending) == 0 {
			close(done)
		}
	}
	cancel := e.sys.Subscribe(func(ev actor.Event) {
		switch m := ev.(type) {
		case actor.Migrated:
			if c, ok := e.versions[m.Module]; ok && m.To == c.To.Name() {
				settle(m.PID, func(r *ProcessResult) { r.From = m.From })
			}
		case actor.ProcessExited:
			settle(m.PID, func(r *ProcessResult) { r.Err = &actor.ExitError{PID: m.PID, Reason: m.Reason} })
		}
	})
	defer cancel()
	for _, c := range e.plan.Changes {
		if err := e.sys.Load(c.To, actor.WithExtra(c.Extra)); err != nil {
			return err
		}
	}
	e.event(UpgradeCommitted{})
	// Processes already on the new version (spawned or migrated before
	// the subscription saw them) need no message.
	for _, t := range e.targets {
		info, err := e.sys.Info(ctx, t.PID)
		if err == nil && info.Version == e.versions[t.Module].To.Name() {
			settle(t.PID, func(*ProcessResult) {})
		}
	}
	mu.Lock()
	if len(pending) == 0 {
		mu.Unlock()
		e.report.Outcome = Converged
		e.event(UpgradeConverged{})
		return nil
	}
	mu.Unlock()
	timer := e.sys.Clock().NewTimer(e.plan.timeout())
	defer timer.Stop()
	select {
	case <-done:
		e.report.Outcome = Converged
		e.event(UpgradeConverged{})
		return nil
	case <-timer.C():
	case <-ctx.Done():
	}
	e.report.Outcome = Unconverged
	mu.Lock()
	var stragglers []actor.PID
	for pid := range pending {
		stragglers = append(stragglers, pid)
	}
	mu.Unlock()
	slices.SortFunc(stragglers, func(a, b actor.PID) int { return cmp.Compare(a.String(), b.String()) })
	e.log.Warn("lazy upgrade not converged", zap.Int("stragglers", len(stragglers)))
	return fmt.Errorf("upgrade: %d processes still on the old version: %v", len(stragglers), stragglers)
}

func (e *engine) dryRun(ctx context.Context) error {
	for _, c := range e.plan.Changes {
		if err := e.sys.Stage(c.To); err != nil {
			return err
		}
	}
	ops := make([]*actor.Op, len(e.targets))
	for i, t := range e.targets {
		c := e.versions[t.Module]
		ops[i] = e.sys.DryRun(t.PID, c.To, c.Extra)
	}
	first := e.wait(ctx, ops, func(i int, err error) {
		r := &e.report.Processes[i]
		r.From, r.Err = ops[i].From(), err
	})
	e.report.Outcome = Simulated
	e.event(UpgradeSimulated{Failures: len(e.report.Failed())})
	return first
}
