package upgrade

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// Tree is what an upgrade works on: supervisor.Handle is one (a supervision
// subtree), Processes another (a fixed set of processes).
type Tree interface {
	// Hold keeps the tree from changing (supervisors hold their restarts
	// back) and lists its processes that run one of modules, with their
	// versions. It fails at once if part of the tree is suspended already.
	Hold(ctx context.Context, modules []string) ([]Proc, error)
	// Release undoes Hold.
	Release()
}

// Execute applies plan to the processes of tree, as one transaction:
//
//	lock the plan's modules → hold the tree → snapshot → schedule (pure;
//	a refusal touches nothing) → run the steps → release the tree.
//
// The runner executes every mode's schedule the same way: each step in
// order; a failure before the commit runs the undo of every step done so
// far, in reverse (every process that took part returns to its original
// version and state, and resumes); after the commit nothing is undone.
// Every step is logged and reported as Events, and the Report says where
// each process ended. One plan per module at a time: another one that
// names a module of this plan fails at once with ErrInProgress.
func Execute(ctx context.Context, sys *actor.System, plan Plan, tree Tree) (*Report, error) {
	r := &runner{sys: sys, plan: plan, tree: tree, start: sys.Clock().Now(),
		rep: &Report{Mode: plan.Mode, DryRun: plan.DryRun},
		log: sys.Logger().With(zap.String("upgrade", plan.Mode.String()))}
	if err := plan.Check(); err != nil {
		return r.refuse(err)
	}
	unlock, err := lockModules(sys, plan)
	if err != nil {
		return r.refuse(err)
	}
	defer unlock()
	defer r.release()
	snap := ModulesOf(sys, plan)
	if snap.Deferred = plan.Mode == Lazy && !plan.DryRun && OnCurrentOnly(snap, plan); !snap.Deferred {
		if snap.Procs, err = r.hold(ctx); err != nil {
			return r.refuse(err)
		}
	}
	sched, err := NewSchedule(plan, snap)
	if err != nil {
		return r.refuse(err)
	}
	r.init(sched)
	if plan.DryRun {
		return r.simulate(ctx)
	}
	return r.run(ctx)
}

// run executes the schedule: the runner every mode shares.
func (r *runner) run(ctx context.Context) (*Report, error) {
	if r.plan.Mode != Atomic { // lazy plans follow migrations, gates count crashes
		defer r.watch()()
	}
	var undo []Step // of every step begun before the commit, in order
	for i := 0; i < len(r.sched.Steps); i++ {
		st := &r.sched.Steps[i]
		if st.Undo != 0 {
			undo = append(undo, *st) // an undo touches only what its step did
		}
		if err := r.do(ctx, st); err != nil {
			r.log.Error("upgrade step failed; rolling back", zap.Stringer("step", st.Kind), zap.Error(err))
			r.event(UpgradeRolledBack{Reason: err})
			// The rollback runs to its end even when the caller's context
			// was what failed the plan (a cancelled upgrade rolls back);
			// each of its waits is bounded by the plan's timeout.
			uctx := context.WithoutCancel(ctx)
			for j := len(undo) - 1; j >= 0; j-- {
				r.undo(uctx, &undo[j])
			}
			return r.finish(RolledBack, fmt.Errorf("upgrade: rolled back: %w", err))
		}
		if st.Kind == StepCommit {
			undo = nil // the point of no return
		}
	}
	return r.finish(r.committedOutcome(), nil)
}

// do executes one step; an error fails the plan (before the commit).
func (r *runner) do(ctx context.Context, st *Step) error {
	switch st.Kind {
	case StepStage:
		return r.stage()
	case StepPrepare:
		return r.prepare(ctx, st)
	case StepCommit:
		return r.commit(st)
	case StepPin:
		return r.settle(ctx, st, true)
	case StepSwitch:
		return r.settle(ctx, st, false)
	case StepGate:
		return r.gate(ctx, st)
	case StepAwait:
		r.await(ctx, st)
	}
	return nil
}

// undo executes the undo of a step done before a failure.
func (r *runner) undo(ctx context.Context, st *Step) {
	switch st.Undo {
	case StepUnstage:
		// finish: the versions must stay until the other undos are done.
	case StepAbort:
		r.abort(ctx, st)
	case StepUnpin:
		r.unpin(ctx, st)
	}
}

// runner is one execution of a schedule.
type runner struct {
	sys   *actor.System
	plan  Plan
	tree  Tree
	held  bool
	log   *zap.Logger
	start time.Time
	rep   *Report
	sched *Schedule

	// Per process, aligned with sched.Procs and rep.Processes.
	state       []procState
	suspendedAt []time.Time
	staged      []*actor.Version // versions this run staged (unknown before)
	holds       []func()         // releases the plan's versions (see actor.System.Hold)

	mu       sync.Mutex
	exits    map[actor.PID]actor.ProcessExited // guarded by mu: exits of processes of the plan's modules
	awaiting map[actor.PID]int                 // guarded by mu: lazy processes not migrated yet
	migrated map[actor.PID]string              // guarded by mu: deferred: migrations seen, with their From
	settled  chan struct{}                     // closed when awaiting empties after the commit
	crashes  int                               // guarded by mu: abnormal exits on a new version
	crashed  chan struct{}                     // signalled at each such exit
	eventsMu sync.Mutex                        // guards rep.Events
}

// procState is how far a process got.
type procState uint8

const (
	idle     procState = iota // untouched, or back to where it was
	prepared                  // suspended, holding a pending change (or late: an abort must follow)
	pinned                    // runs the new version ahead of the commit (rolling)
	done                      // switched, killed, or gone: nothing more to do
)

func (r *runner) modules() []string {
	out := make([]string, len(r.plan.Changes))
	for i, c := range r.plan.Changes {
		out[i] = c.Module
	}
	return out
}

func (r *runner) init(sched *Schedule) {
	r.sched, r.rep.Schedule = sched, sched
	n := len(sched.Procs)
	r.state, r.suspendedAt = make([]procState, n), make([]time.Time, n)
	r.rep.Processes = make([]ProcessResult, n)
	for i, pl := range sched.Procs {
		res := ProcessResult{PID: pl.PID, Module: pl.Module, From: pl.Version, To: pl.Version, Target: pl.Target.Name()}
		if pl.Unchanged {
			res.Result = Unchanged
		}
		r.rep.Processes[i] = res
	}
	r.event(PlanAccepted{Mode: r.plan.Mode, DryRun: r.plan.DryRun, Processes: n - r.rep.Count(Unchanged)})
}

// refuse ends a plan that was refused before anything was touched.
func (r *runner) refuse(err error) (*Report, error) {
	r.log.Warn("upgrade refused", zap.Error(err))
	r.event(PlanRefused{Reason: err})
	for _, c := range r.plan.Changes {
		// A version a refused plan named that the system knows (a loader
		// staged it for the plan, say) is not kept running: held and
		// released, it retires unless current or in use.
		if c.To != nil && c.To.Module() == c.Module && r.sys.Activations(c.Module, c.To.Name()) >= 0 {
			if release, err := r.sys.Hold(c.To); err == nil {
				r.holds = append(r.holds, release)
			}
		}
	}
	return r.finish(Refused, err)
}

// finish ends the run: the plan's versions are released (one that did not
// become current and is not in use retires, so that what a loader runs for
// it stops, a plugin process say); those it staged itself leave the system
// again unless committed.
func (r *runner) finish(o Outcome, err error) (*Report, error) {
	r.rep.Outcome = o
	for _, release := range r.holds {
		release()
	}
	if o != Committed && o != Converged && o != Unconverged {
		for _, v := range r.staged {
			r.sys.Unstage(v)
		}
	}
	r.rep.Elapsed = r.sys.Clock().Now().Sub(r.start)
	r.sys.Emit(UpgradeFinished{Mode: r.rep.Mode, DryRun: r.rep.DryRun, Outcome: o,
		Elapsed: r.rep.Elapsed, MaxPause: r.rep.MaxPause, Processes: len(r.rep.Processes)})
	return r.rep, err
}

func (r *runner) committedOutcome() Outcome {
	if r.plan.Mode != Lazy {
		return Committed
	}
	for _, res := range r.rep.Processes {
		if res.Result == Pending {
			return Unconverged
		}
	}
	r.event(UpgradeConverged{})
	return Converged
}

// hold holds the tree and lists its processes of the plan's modules.
func (r *runner) hold(ctx context.Context) ([]Proc, error) {
	hctx, cancel := context.WithTimeout(ctx, r.plan.timeout())
	defer cancel()
	procs, err := r.tree.Hold(hctx, r.modules())
	if err == nil {
		r.held = true
	}
	return procs, err
}

func (r *runner) release() {
	if r.held {
		r.held = false
		r.tree.Release()
	}
}

// event records a step of the plan in the report, logs it and reports it
// on the bus.
func (r *runner) event(ev Event) {
	r.eventsMu.Lock()
	r.rep.Events = append(r.rep.Events, ev)
	r.eventsMu.Unlock()
	switch ev.(type) {
	case ProcessFailed, ProcessKilled, GateFailed:
		r.log.Warn("upgrade step", zap.String("step", fmt.Sprintf("%T", ev)), zap.Any("event", ev))
	default:
		r.log.Info("upgrade step", zap.String("step", fmt.Sprintf("%T", ev)), zap.Any("event", ev))
	}
	r.sys.Emit(ev)
}

// traced reports whether a per-process step is wanted now: someone
// subscribes, or the log is at debug level. Per-process steps are not kept
// in Report.Events (Report.Processes says where each process ended), so an
// unobserved upgrade of thousands of processes builds no event for each.
func (r *runner) traced() bool {
	return r.sys.Watched() || r.log.Core().Enabled(zap.DebugLevel)
}

// step reports a per-process step on the bus and at debug level.
func (r *runner) step(ev Event) {
	if ce := r.log.Check(zap.DebugLevel, "upgrade step"); ce != nil {
		ce.Write(zap.String("step", fmt.Sprintf("%T", ev)), zap.Any("event", ev))
	}
	r.sys.Emit(ev)
}

// watch follows exits and migrations of the plan's modules while the plan
// runs; it returns the cancel function.
func (r *runner) watch() func() {
	r.exits, r.awaiting, r.migrated = map[actor.PID]actor.ProcessExited{}, map[actor.PID]int{}, map[actor.PID]string{}
	r.settled, r.crashed = make(chan struct{}), make(chan struct{}, 1)
	for i, pl := range r.sched.Procs {
		if pl.Lazy {
			r.awaiting[pl.PID] = i
		}
	}
	if len(r.awaiting) == 0 && !r.sched.Deferred {
		close(r.settled)
	}
	return r.sys.Subscribe(func(ev actor.Event) {
		switch e := ev.(type) {
		case actor.ProcessExited:
			ch, ok := r.sched.Changes[e.Module]
			if !ok {
				return
			}
			r.mu.Lock()
			r.exits[e.PID] = e
			if e.Version == ch.To.Name() && !quiet(e.Reason) {
				r.crashes++
				select {
				case r.crashed <- struct{}{}:
				default:
				}
			}
			r.settleLocked(e.PID)
			r.mu.Unlock()
		case actor.Migrated:
			if ch, ok := r.sched.Changes[e.Module]; ok && e.To == ch.To.Name() {
				r.mu.Lock()
				if r.sched.Deferred {
					r.migrated[e.PID] = e.From
				}
				r.settleLocked(e.PID)
				r.mu.Unlock()
			}
		}
	})
}

func (r *runner) settleLocked(pid actor.PID) {
	if _, ok := r.awaiting[pid]; !ok {
		return
	}
	delete(r.awaiting, pid)
	if len(r.awaiting) == 0 {
		close(r.settled)
	}
}

// wait waits for a round's answers for one timeout on the system clock.
// cancel gives up on the processes that have not taken the request (they
// never will); without it they still serve it later (a commit or an abort
// must not be lost).
func (r *runner) wait(ctx context.Context, round *actor.Round, cancel bool) {
	timer := r.sys.Clock().NewTimer(r.plan.timeout())
	defer timer.Stop()
	if cancel {
		_ = round.Wait(ctx, timer.C())
		return
	}
	_ = round.Await(ctx, timer.C())
}

// gone records a process that exited during the upgrade. It ran the
// version it had before the plan (an exit before its switch), or, if the
// exit was seen, the version the exit reports.
func (r *runner) gone(i int, err error) {
	res := &r.rep.Processes[i]
	r.state[i] = done
	res.Result, res.Err = Exited, err
	r.mu.Lock()
	if e, ok := r.exits[res.PID]; ok {
		res.To = e.Version
		res.Err = &actor.ExitError{PID: res.PID, Reason: e.Reason}
	}
	r.mu.Unlock()
}

func isExit(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := err.(*actor.ExitError); ok {
		return true
	}
	var ee *actor.ExitError
	return errors.As(err, &ee)
}

func quiet(reason error) bool {
	return reason == actor.Normal || errors.Is(reason, actor.Shutdown)
}

// pids returns the PIDs of the step's processes in state s.
func (r *runner) pids(st *Step, s procState) (idx []int, pids []actor.PID) {
	idx, pids = make([]int, 0, len(st.Procs)), make([]actor.PID, 0, len(st.Procs))
	for _, i := range st.Procs {
		if r.state[i] == s {
			idx = append(idx, i)
			pids = append(pids, r.sched.Procs[i].PID)
		}
	}
	return idx, pids
}

// stage stages and holds the plan's versions until the run ends; the
// versions it adds leave again if the plan does not commit (finish).
func (r *runner) stage() error {
	for _, c := range r.plan.Changes {
		known := r.sys.Activations(c.Module, c.To.Name()) >= 0
		release, err := r.sys.Hold(c.To)
		if err != nil {
			return err
		}
		r.holds = append(r.holds, release)
		if !known {
			r.staged = append(r.staged, c.To)
		}
	}
	r.event(PlanPrepared{})
	return nil
}

// prepare suspends the step's processes and migrates each.
func (r *runner) prepare(ctx context.Context, st *Step) error {
	trace := r.traced()
	reqs := make([]actor.Request, 0, len(st.Procs))
	idx := make([]int, 0, len(st.Procs))
	for _, i := range st.Procs {
		if r.state[i] != idle {
			continue
		}
		pl := &r.sched.Procs[i]
		reqs = append(reqs, actor.Request{PID: pl.PID, Change: r.sched.Changes[pl.Module], Kill: pl.Kill})
		idx = append(idx, i)
	}
	round := r.sys.Prepare(reqs)
	r.wait(ctx, round, true)
	var failed error
	fail := func(err error) {
		if failed == nil {
			failed = err
		}
	}
	for j, i := range idx {
		a, pl, res := round.Answer(j), &r.sched.Procs[i], &r.rep.Processes[i]
		switch {
		case a.Status == actor.Answered && isExit(a.Err):
			r.gone(i, a.Err)
		case a.Status == actor.Answered:
			r.state[i], r.suspendedAt[i], res.From = prepared, a.At, a.From
			if trace {
				r.step(ProcessSuspended{PID: pl.PID, Module: pl.Module})
			}
			switch {
			case a.Err != nil:
				res.Result, res.Err = Failed, a.Err
				r.event(ProcessFailed{PID: pl.PID, Module: pl.Module, Err: a.Err})
				fail(a.Err)
			case !pl.Kill && a.From != pl.Target.Name(): // one on the target already is only held
				if trace {
					r.step(ProcessMigrated{PID: pl.PID, Module: pl.Module, From: a.From, To: pl.Target.Name()})
				}
			}
		default: // no answer in time: cancelled (never runs), or late (an abort follows)
			err := fmt.Errorf("upgrade: %v did not answer within %v", pl.PID, r.plan.timeout())
			if a.Status == actor.Late {
				r.state[i] = prepared
			}
			if r.plan.OnTimeout == SkipOnTimeout {
				res.Result, res.Err = Skipped, err
				if trace {
					r.step(ProcessSkipped{PID: pl.PID, Module: pl.Module})
				}
				r.abortNow(i)
				continue
			}
			res.Result, res.Err = NoAnswer, err
			r.event(ProcessFailed{PID: pl.PID, Module: pl.Module, Err: err})
			fail(err)
		}
	}
	return failed
}

// abortNow queues an abort for a skipped process that was late (it
// resumes once its migration returns) without waiting for it.
func (r *runner) abortNow(i int) {
	if r.state[i] == prepared {
		r.sys.Abort([]actor.PID{r.sched.Procs[i].PID})
		r.state[i] = done
	}
}

// commit makes the new versions current, every module at once, unless a
// module's current version changed since the snapshot.
func (r *runner) commit(st *Step) error {
	rels := make([]actor.Release, len(r.plan.Changes))
	for i, c := range r.plan.Changes {
		rels[i] = actor.Release{Version: c.To, Extra: c.Extra, Replaces: r.sched.From[c.Module]}
	}
	if err := r.sys.LoadAll(rels); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	r.event(UpgradeCommitted{})
	if r.plan.Mode == Rolling {
		r.event(WaveCommitted{Index: st.Wave, Processes: r.switchedSoFar(st)})
	}
	return nil
}

func (r *runner) switchedSoFar(st *Step) int {
	n := 0
	for i, s := range r.state {
		if s == pinned || (s == prepared && slices.Contains(st.Procs, i)) {
			n++
		}
	}
	return n
}

// settle switches the step's prepared processes (pinned ahead of the
// commit for a rolling wave) and resumes them. A failure of a pin fails
// the plan; after the commit each process's result says what happened.
func (r *runner) settle(ctx context.Context, st *Step, pin bool) error {
	trace := r.traced()
	idx, pids := r.pids(st, prepared)
	var killed []exiting // watched before the commit kills them
	for _, i := range idx {
		if pid := r.sched.Procs[i].PID; r.sched.Procs[i].Kill {
			killed = append(killed, exiting{pid, r.sys.Watch(pid)})
		}
	}
	defer func() { r.awaitExits(ctx, killed) }()
	commit := r.sys.Commit
	if pin {
		commit = r.sys.CommitPinned
	}
	round := commit(pids)
	r.wait(ctx, round, false)
	var failed error
	for j, i := range idx {
		a, pl, res := round.Answer(j), &r.sched.Procs[i], &r.rep.Processes[i]
		r.pause(i, a)
		switch {
		case a.Status != actor.Answered:
			// The switch is queued and will be served: it is what the
			// process will have done (a pinned wave is rolled back as one).
			r.state[i] = done
			if pin {
				r.state[i] = pinned
			}
			res.Result, res.To = Migrated, pl.Target.Name()
			res.Err = fmt.Errorf("upgrade: %v did not confirm the switch within %v (it is queued)", pl.PID, r.plan.timeout())
			failed = cmpErr(failed, res.Err)
		case isExit(a.Err):
			r.gone(i, a.Err)
		case a.Err != nil:
			r.state[i] = done
			res.Result, res.Err = Failed, a.Err
			r.event(ProcessFailed{PID: pl.PID, Module: pl.Module, Err: a.Err})
			failed = cmpErr(failed, a.Err)
		case pl.Kill:
			r.state[i] = done
			res.Result, res.Err = Killed, errors.New("upgrade: straggler killed by policy")
			r.event(ProcessKilled{PID: pl.PID, Module: pl.Module, Reason: res.Err})
		default:
			r.state[i] = done
			if pin {
				r.state[i] = pinned
			}
			res.Result, res.To = Migrated, pl.Target.Name()
			if res.From == res.To {
				res.Result = Unchanged // held through the commit, on the target already
			}
			if trace {
				r.step(ProcessResumed{PID: pl.PID, Module: pl.Module, Version: res.To})
			}
		}
	}
	if pin {
		r.event(WaveCommitted{Index: st.Wave, Processes: r.switchedSoFar(st)})
		return failed
	}
	return nil
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// pause records how long a process was suspended, as it saw it.
func (r *runner) pause(i int, a actor.Answer) {
	if a.Status != actor.Answered || a.At.IsZero() || r.suspendedAt[i].IsZero() {
		return
	}
	res := &r.rep.Processes[i]
	res.Pause = a.At.Sub(r.suspendedAt[i])
	r.rep.MaxPause = max(r.rep.MaxPause, res.Pause)
}

// abort undoes a prepare: the step's prepared processes drop the result
// and resume, on their original version and state.
func (r *runner) abort(ctx context.Context, st *Step) {
	trace := r.traced()
	idx, pids := r.pids(st, prepared)
	round := r.sys.Abort(pids)
	r.wait(ctx, round, false)
	for j, i := range idx {
		a, pl, res := round.Answer(j), &r.sched.Procs[i], &r.rep.Processes[i]
		r.pause(i, a)
		r.state[i] = idle
		switch {
		case a.Status != actor.Answered:
			res.Err = errors.Join(res.Err, fmt.Errorf("upgrade: %v did not confirm the abort within %v (queued)", pl.PID, r.plan.timeout()))
		case isExit(a.Err):
			r.gone(i, a.Err)
			continue
		}
		if res.Result == NotReached || res.Result == Migrated {
			res.Result = Restored
		}
		res.To = res.From
		if trace {
			r.step(ProcessResumed{PID: pl.PID, Module: pl.Module, Version: res.From})
		}
	}
}

// unpin undoes a pinned wave: each process migrates back to the version
// current before the plan (the route back) and resumes there. A process
// whose migration back fails is killed, so that its supervisor restarts
// it on that version, or kept on the new one, by policy.
func (r *runner) unpin(ctx context.Context, st *Step) {
	trace := r.traced()
	idx, _ := r.pids(st, pinned)
	reqs := make([]actor.Request, len(idx))
	for j, i := range idx {
		pl := &r.sched.Procs[i]
		reqs[j] = actor.Request{PID: pl.PID, Change: r.sched.Back[pl.Module]}
	}
	round := r.sys.Prepare(reqs)
	r.wait(ctx, round, true)
	var back []int
	for j, i := range idx {
		a, pl := round.Answer(j), &r.sched.Procs[i]
		switch {
		case a.Status == actor.Answered && a.Err == nil:
			r.suspendedAt[i] = a.At
			back = append(back, i)
		case a.Status == actor.Answered && isExit(a.Err):
			r.gone(i, a.Err)
		default:
			err := a.Err
			if err == nil {
				err = fmt.Errorf("upgrade: %v did not answer within %v", pl.PID, r.plan.timeout())
			}
			if a.Status == actor.Late || a.Status == actor.Answered {
				r.sys.Abort([]actor.PID{pl.PID}) // resume it where it is, first
			}
			r.rollbackFailed(i, fmt.Errorf("upgrade: rollback of a finished wave: %w", err))
		}
	}
	pids := make([]actor.PID, len(back))
	for j, i := range back {
		pids[j] = r.sched.Procs[i].PID
	}
	commit := r.sys.Commit(pids)
	r.wait(ctx, commit, false)
	for j, i := range back {
		a, pl, res := commit.Answer(j), &r.sched.Procs[i], &r.rep.Processes[i]
		r.pause(i, a)
		switch {
		case a.Status == actor.Answered && isExit(a.Err):
			r.gone(i, a.Err)
		case a.Status == actor.Answered && a.Err == nil:
			r.state[i] = idle
			res.Result, res.To = Restored, res.From
			if trace {
				r.step(ProcessResumed{PID: pl.PID, Module: pl.Module, Version: res.To})
			}
		case a.Status != actor.Answered && r.plan.OnRollbackFailure == KeepOnRollbackFailure:
			// The switch back is queued and will be served.
			r.state[i] = idle
			res.Result, res.To = Restored, res.From
			res.Err = fmt.Errorf("upgrade: %v did not confirm the switch back within %v (it is queued)", pl.PID, r.plan.timeout())
		default:
			r.rollbackFailed(i, fmt.Errorf("upgrade: rollback of a finished wave: %v did not switch back: %v", pl.PID, a.Err))
		}
	}
}

// rollbackFailed applies the rollback failure policy to process i, which
// still runs the new version.
func (r *runner) rollbackFailed(i int, err error) {
	pl, res := &r.sched.Procs[i], &r.rep.Processes[i]
	r.state[i] = done
	res.Err = err
	if r.plan.OnRollbackFailure == KeepOnRollbackFailure {
		res.Result, res.To = Failed, pl.Target.Name()
		r.event(ProcessFailed{PID: pl.PID, Module: pl.Module, Err: err})
		return
	}
	gone := exiting{pl.PID, r.sys.Watch(pl.PID)} // before the kill, which it then sees
	_ = r.sys.Kill(pl.PID)
	res.Result = Killed
	r.event(ProcessKilled{PID: pl.PID, Module: pl.Module, Reason: err})
	r.awaitExits(context.Background(), []exiting{gone})
}

// exiting is a process the runner killed and waits for.
type exiting struct {
	pid actor.PID
	w   *actor.Exited
}

// awaitExits waits, for one timeout, until the killed processes have
// exited (their links and monitors told): when the plan returns, their
// supervisors have heard of it, and a report that says killed is true.
// One that has not taken its kill by then (stuck in user code) is
// abandoned (actor.System.Abandon): declared killed at once.
func (r *runner) awaitExits(ctx context.Context, exits []exiting) {
	if len(exits) == 0 {
		return
	}
	timer := r.sys.Clock().NewTimer(r.plan.timeout())
	defer timer.Stop()
	for i, e := range exits {
		select {
		case <-e.w.Done():
		case <-timer.C():
			for _, e := range exits[i:] {
				_ = r.sys.Abandon(e.pid) // gone meanwhile is fine
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

// gate releases the tree, observes the finished waves, asks the gate's
// check, and holds the tree again for the next wave, taking in the
// processes that joined meanwhile (restarted by their supervisors).
func (r *runner) gate(ctx context.Context, st *Step) error {
	r.release()
	err := r.check(ctx, st)
	if err == nil {
		err = r.rehold(ctx)
	}
	if err != nil {
		r.event(GateFailed{Index: st.Wave, Reason: err})
	}
	return err
}

func (r *runner) check(ctx context.Context, st *Step) error {
	g := r.plan.Gate
	observe := r.sys.Clock().NewTimer(g.observe())
	defer observe.Stop()
	for waiting := true; waiting; {
		select {
		case <-observe.C():
			waiting = false
		case <-r.crashed:
			r.mu.Lock()
			n := r.crashes
			r.mu.Unlock()
			waiting = n <= g.MaxCrashes
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	n := r.crashes
	r.mu.Unlock()
	if n > g.MaxCrashes {
		return fmt.Errorf("gate: %d crashes on the new version (at most %d allowed)", n, g.MaxCrashes)
	}
	if g.Check == nil {
		return nil
	}
	w := Wave{Index: st.Wave, Crashes: n}
	for i, s := range r.state {
		if s == pinned {
			w.Processes = append(w.Processes, r.sched.Procs[i].PID)
		}
	}
	return r.callGate(ctx, w)
}

// callGate runs the user's check under recover, bounded by the plan's
// timeout on the system clock: a panic or no answer fails the gate (the
// check's goroutine is left to finish on its own).
func (r *runner) callGate(ctx context.Context, w Wave) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answer := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				answer <- fmt.Errorf("gate check panicked: %v", p)
			}
		}()
		answer <- actor.SafeError(r.plan.Gate.Check(cctx, w))
	}()
	timer := r.sys.Clock().NewTimer(r.plan.timeout())
	defer timer.Stop()
	select {
	case err := <-answer:
		if err != nil {
			return fmt.Errorf("gate check: %w", err)
		}
		return nil
	case <-timer.C():
		return fmt.Errorf("gate check did not answer within %v", r.plan.timeout())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rehold holds the tree again after a gate and reconciles the schedule
// with it: scheduled processes that are gone exited; processes of the
// plan's modules it does not know joined (restarted meanwhile) and take
// part in the last wave.
func (r *runner) rehold(ctx context.Context) error {
	procs, err := r.hold(ctx)
	if err != nil {
		return err
	}
	known := make(map[actor.PID]bool, len(r.sched.Procs))
	for _, pl := range r.sched.Procs {
		known[pl.PID] = true
	}
	prep, sw := r.lastWaveSteps()
	for _, p := range procs {
		ch := r.sched.Changes[p.Module]
		if known[p.PID] || ch == nil || p.Version == ch.To.Name() {
			continue
		}
		route, ok := ch.Routes[p.Version]
		if !ok {
			return fmt.Errorf("%v joined on %s@%s, which has no route to %s", p.PID, p.Module, p.Version, ch.To.Name())
		}
		i := len(r.sched.Procs)
		r.sched.Procs = append(r.sched.Procs, Planned{Proc: p, Target: ch.To, Route: route,
			Straggler: p.Version != r.sched.From[p.Module].Name() || p.Pinned})
		r.rep.Processes = append(r.rep.Processes, ProcessResult{PID: p.PID, Module: p.Module, From: p.Version,
			To: p.Version, Target: ch.To.Name(), Late: true})
		r.state, r.suspendedAt = append(r.state, idle), append(r.suspendedAt, time.Time{})
		prep.Procs, sw.Procs = append(prep.Procs, i), append(sw.Procs, i)
	}
	return nil
}

// lastWaveSteps returns the last wave's prepare and switch steps (a
// rolling schedule always has them).
func (r *runner) lastWaveSteps() (prep, sw *Step) {
	for i := range r.sched.Steps {
		switch st := &r.sched.Steps[i]; st.Kind {
		case StepPrepare:
			prep = st
		case StepSwitch:
			sw = st
		}
	}
	return prep, sw
}

// await waits, the tree released, until the lazy processes have migrated
// on their next message or the timeout passes.
func (r *runner) await(ctx context.Context, st *Step) {
	if r.sched.Deferred {
		r.listAfterCommit(ctx, st)
	}
	r.release()
	timer := r.sys.Clock().NewTimer(r.plan.timeout())
	defer timer.Stop()
	r.mu.Lock()
	pending := len(r.awaiting)
	r.mu.Unlock()
	r.event(UpgradeAwaiting{Pending: pending})
	// Processes that migrated before the subscription saw them do not
	// exist: the subscription started before the commit.
	select {
	case <-r.settled:
	case <-timer.C():
	case <-ctx.Done():
	}
	r.awaitPublished(st)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range st.Procs {
		res := &r.rep.Processes[i]
		switch _, waiting := r.awaiting[res.PID]; {
		case waiting:
			res.Result = Pending
		case r.exits[res.PID].Reason != nil:
			e := r.exits[res.PID]
			res.Result, res.To, res.Err = Exited, e.Version, &actor.ExitError{PID: res.PID, Reason: e.Reason}
		default:
			res.Result, res.To = Migrated, res.Target
		}
	}
	if len(r.awaiting) > 0 {
		r.log.Warn("lazy upgrade not converged", zap.Int("pending", len(r.awaiting)))
	}
}

// publishWait bounds awaitPublished's wait for one process: the time
// between a process's Migrated event and its new version's publication is
// the event's synchronous subscribers'.
const publishWait = time.Second

// awaitPublished waits until every process the subscription saw migrate
// shows its new version (VersionOf), or is gone. A process tells of its
// migration before it publishes the version (a listing that finds it on
// the new version has heard of it), so the last one's event can settle the
// plan a moment before its publication; a caller reading VersionOf once
// Execute has returned finds every process reported Migrated on it.
func (r *runner) awaitPublished(st *Step) {
	r.mu.Lock()
	var seen []ProcessResult
	for _, i := range st.Procs {
		res := r.rep.Processes[i]
		if _, waiting := r.awaiting[res.PID]; !waiting && r.exits[res.PID].Reason == nil {
			seen = append(seen, res)
		}
	}
	r.mu.Unlock()
	for _, res := range seen {
		for start := time.Now(); time.Since(start) < publishWait; runtime.Gosched() {
			if v, ok := r.sys.VersionOf(res.PID); !ok || v.Version != res.From {
				break
			}
		}
	}
}

// listAfterCommit lists the tree's processes for a deferred lazy plan,
// right after its commit: each still on the outgoing version is awaited;
// one the subscription saw migrate already is reported migrated; one on
// the new version that did not migrate started on it (a spawn or restart
// after the commit) and takes no part.
func (r *runner) listAfterCommit(ctx context.Context, st *Step) {
	procs, err := r.hold(ctx)
	if err != nil {
		r.log.Warn("lazy upgrade: the tree could not be listed after the commit; its processes are not followed", zap.Error(err))
		r.mu.Lock()
		if len(r.awaiting) == 0 {
			close(r.settled)
		}
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sched.Procs = make([]Planned, 0, len(procs))
	r.rep.Processes = make([]ProcessResult, 0, len(procs))
	for _, p := range procs {
		ch := r.sched.Changes[p.Module]
		from, migrated := r.migrated[p.PID]
		res := ProcessResult{PID: p.PID, Module: p.Module, From: p.Version, To: p.Version, Target: ch.To.Name()}
		switch {
		case migrated:
			res.From, res.Result = from, Migrated
		case p.Version == ch.To.Name():
			continue
		default:
			r.awaiting[p.PID] = len(r.sched.Procs)
		}
		route := ch.Routes[res.From]
		r.sched.Procs = append(r.sched.Procs, Planned{Proc: Proc{PID: p.PID, Module: p.Module, Version: res.From, Level: p.Level},
			Target: ch.To, Route: route, Lazy: true})
		r.rep.Processes = append(r.rep.Processes, res)
		st.Procs = append(st.Procs, len(r.sched.Procs)-1)
	}
	r.state, r.suspendedAt = make([]procState, len(r.sched.Procs)), make([]time.Time, len(r.sched.Procs))
	if len(r.awaiting) == 0 {
		close(r.settled)
	}
}

// simulate is a dry run: the schedule, not executed, and every migration
// run on the live states, keeping nothing.
func (r *runner) simulate(ctx context.Context) (*Report, error) {
	var idx []int
	var reqs []actor.Request
	for i, pl := range r.sched.Procs {
		if pl.Unchanged || pl.Kill {
			continue
		}
		idx = append(idx, i)
		reqs = append(reqs, actor.Request{PID: pl.PID, Change: r.sched.Changes[pl.Module]})
	}
	// The versions must be known for the migrations to run; those staged
	// here leave again.
	if err := r.stage(); err != nil {
		return r.finish(Refused, err)
	}
	round := r.sys.Simulate(reqs)
	r.wait(ctx, round, true)
	failures := 0
	for j, i := range idx {
		a, res := round.Answer(j), &r.rep.Processes[i]
		switch {
		case a.Status != actor.Answered:
			res.Result, res.Err = NoAnswer, fmt.Errorf("upgrade: %v did not answer within %v", res.PID, r.plan.timeout())
			failures++
		case isExit(a.Err):
			res.Result, res.Err = Exited, a.Err
		case a.Err != nil:
			res.Result, res.Err = Failed, a.Err
			failures++
		default:
			res.Result = WouldMigrate
		}
	}
	for i, pl := range r.sched.Procs {
		if pl.Kill {
			r.rep.Processes[i].Result = Killed
		}
	}
	r.event(UpgradeSimulated{Failures: failures})
	if failures > 0 {
		return r.finish(Simulated, fmt.Errorf("upgrade: dry run: %d migrations would fail", failures))
	}
	return r.finish(Simulated, nil)
}
