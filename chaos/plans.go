package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// planned is a plan the injector drew, with what the schedule told it to
// do wrong.
type planned struct {
	kind Kind
	plan upgrade.Plan
	on   *supervisor.Handle // the tree it upgrades: the root, or a supervisor below it
	sub  bool               // on a supervisor below the root
	// mig is the migration fault every change carries as its Extra (zero:
	// none).
	mig fault.Migration
	// gate is "error" or "panic" when the gate check fails, at its call
	// failAt (from 0); "" when it passes.
	gate   string
	failAt int
}

// planResult is what Upgrade returned for a plan.
type planResult struct {
	rep *upgrade.Report
	err error
}

// rollingWaves are the waves rolling plans draw from: two waves (one gate),
// three (two gates), and a small canary.
var rollingWaves = [][]float64{{0.5, 1}, {0.25, 0.5, 1}, {0.1, 1}}

// errGate is what a gate check told to fail returns.
var errGate = errors.New("chaos: gate check told to fail")

// upgradable returns the modules under test that plans can move: those
// with two versions or more.
func (r *run) upgradable() []Module {
	var out []Module
	for _, m := range r.mods {
		if len(m.Versions) >= 2 {
			out = append(out, m)
		}
	}
	return out
}

// startPlans draws the plan of kind k (for overlapping upgrades, two
// plans) once the plan before it has ended, and runs it in the background:
// the injector goes on meanwhile, so that workers are killed, panic and
// overflow while upgrades run. Plans never overlap but for Overlap, so that
// each plan's checks can tell its changes from another's.
func (r *run) startPlans(ctx context.Context, k Kind) bool {
	r.plans.Wait()
	var group []*planned
	if k == Overlap {
		group = r.drawOverlap()
	} else {
		group = []*planned{r.draw(k, r.root)}
	}
	for _, p := range group {
		r.stageMissing(p)
	}
	if p := group[0]; p.plan.OnTimeout == upgrade.SkipOnTimeout && !p.plan.DryRun && r.rng.IntN(3) == 0 {
		r.makeBusy(p)
	}
	r.plans.Go(func() { r.execute(ctx, group) })
	return true
}

// draw draws a plan of kind k on the tree under on: its modules, their
// targets, its mode and policies.
func (r *run) draw(k Kind, on *supervisor.Handle) *planned {
	p := &planned{kind: k, on: on, sub: on != r.root, failAt: -1}
	mods := r.drawModules()
	prefer := actor.SameVersion // no preference
	switch k {
	case Upgrade:
		// Atomic, lazy, rolling, or a dry run of one of them.
		mode := r.rng.IntN(4)
		if mode == 3 {
			p.plan.DryRun, mode = true, r.rng.IntN(3)
		}
		p.plan.Mode = upgrade.Mode(mode)
	case Overlap:
		p.plan.Mode = upgrade.Mode(r.rng.IntN(3))
	case MigrationFail, MigrationPanic, MigrationSlow:
		// Never lazy: a lazy plan commits before its processes migrate,
		// and would make the fault the Extra that every process picking
		// the version up later runs.
		p.plan.Mode = [...]upgrade.Mode{upgrade.Atomic, upgrade.Atomic, upgrade.Rolling}[r.rng.IntN(3)]
		p.mig = map[Kind]fault.Migration{MigrationFail: {Fault: fault.Fail}, MigrationPanic: {Fault: fault.Panic},
			MigrationSlow: {Fault: fault.Slow, Delay: r.cfg.UpgradeTimeout * 5 / 4}}[k]
	case DowngradeFail:
		p.mig = fault.Migration{Fault: [...]string{fault.Fail, fault.Panic}[r.rng.IntN(2)], On: fault.OnDowngrade}
		if r.rng.IntN(3) == 0 {
			// Downgrades whose first step fails: rolled back.
			p.plan.Mode, prefer = upgrade.Atomic, actor.Downward
		} else {
			// Upgrades in waves; the gate fails, and the way back of the
			// finished waves is a downgrade that fails.
			p.plan.Mode, prefer = upgrade.Rolling, actor.Upward
			p.gate = [...]string{"error", "panic"}[r.rng.IntN(2)]
		}
	case GateError, GatePanic:
		p.plan.Mode = upgrade.Rolling
		p.gate = map[Kind]string{GateError: "error", GatePanic: "panic"}[k]
	}
	p.plan.Timeout = r.cfg.UpgradeTimeout
	if p.plan.Mode == upgrade.Lazy && !p.plan.DryRun {
		// The timeout bounds a lazy plan's wait for convergence, which
		// idle workers make it sit out in full.
		p.plan.Timeout = r.cfg.UpgradeTimeout / 4
	}
	for _, m := range mods {
		p.plan.Changes = append(p.plan.Changes, upgrade.Change{Module: m.Name, To: r.drawVersion(m, prefer), Extra: p.mig})
	}
	p.plan.Stragglers = [...]upgrade.StragglerPolicy{upgrade.MigrateStragglers, upgrade.MigrateStragglers,
		upgrade.RefuseStragglers, upgrade.KillStragglers}[r.rng.IntN(4)]
	if p.mig == (fault.Migration{}) && r.rng.IntN(6) == 0 {
		// Only plans without a migration fault skip: one that skipped its
		// slow processes would commit the fault as the Extra of the new
		// version, which they run when they pick it up.
		p.plan.OnTimeout = upgrade.SkipOnTimeout
	}
	if p.plan.Mode == upgrade.Rolling {
		p.plan.Waves = rollingWaves[r.rng.IntN(len(rollingWaves))]
		p.plan.OnRollbackFailure = upgrade.RollbackFailurePolicy(r.rng.IntN(2))
		// Workers are killed while gates observe: crashes alone do not
		// fail a gate here.
		p.plan.Gate = upgrade.Gate{Observe: time.Millisecond, MaxCrashes: 1 << 30}
		if p.gate != "" {
			p.failAt = r.rng.IntN(len(p.plan.Waves) - 1)
			p.plan.Gate.Check = failingGate(p.failAt, p.gate == "panic")
		}
	}
	return p
}

// drawOverlap draws two plans to run at once: both on the root (one is
// refused with ErrInProgress, unless the first ends before the second
// begins), or each on a supervisor below it (they run side by side when
// they change different modules).
func (r *run) drawOverlap() []*planned {
	on := [2]*supervisor.Handle{r.root, r.root}
	if sups := r.cur.Load().sups; len(sups) >= 2 && r.rng.IntN(2) == 0 {
		i, j := r.rng.IntN(len(sups)), r.rng.IntN(len(sups)-1)
		if j >= i {
			j++
		}
		on = [2]*supervisor.Handle{supervisor.Of(r.sys, sups[i]), supervisor.Of(r.sys, sups[j])}
	}
	return []*planned{r.draw(Overlap, on[0]), r.draw(Overlap, on[1])}
}

// drawModules draws the modules a plan changes: one (half the plans), all
// of them (a quarter), or at least two at random.
func (r *run) drawModules() []Module {
	ms := r.upgradable()
	if len(ms) == 1 {
		return ms
	}
	switch r.rng.IntN(4) {
	case 0, 1:
		return []Module{ms[r.rng.IntN(len(ms))]}
	case 2:
		return ms
	}
	perm := r.rng.Perm(len(ms))
	out := make([]Module, 2+r.rng.IntN(len(ms)-1))
	for i := range out {
		out[i] = ms[perm[i]]
	}
	return out
}

// drawVersion draws a version of m other than its current one, in the
// direction prefer if one goes there.
func (r *run) drawVersion(m Module, prefer actor.Direction) *actor.Version {
	cur, _ := r.sys.Current(m.Name)
	others := slices.DeleteFunc(slices.Clone(m.Versions), func(v *actor.Version) bool { return v == cur })
	if prefer != actor.SameVersion && cur != nil {
		that := slices.DeleteFunc(slices.Clone(others), func(v *actor.Version) bool {
			return actor.DirectionOf(cur, v, m.Versions) != prefer
		})
		if len(that) > 0 {
			others = that
		}
	}
	return others[r.rng.IntN(len(others))]
}

// failingGate is a gate check that fails (an error, or a panic) at its call
// failAt, counted from 0, and passes the others.
func failingGate(failAt int, panics bool) func(context.Context, upgrade.Wave) error {
	var calls atomic.Int32
	return func(context.Context, upgrade.Wave) error {
		if int(calls.Add(1))-1 != failAt {
			return nil
		}
		if panics {
			panic("chaos: gate check told to panic")
		}
		return errGate
	}
}

// stageMissing stages those versions of the plan's modules that the system
// no longer knows (a version leaves the module table once it has retired
// and is not the previous one), as an operator staging a release would:
// a route through them then exists.
func (r *run) stageMissing(p *planned) {
	for _, c := range p.plan.Changes {
		for _, v := range r.mods[r.modIndex[c.Module]].Versions {
			if r.sys.Activations(c.Module, v.Name()) < 0 {
				_ = r.sys.Stage(v)
			}
		}
	}
}

// makeBusy sends a worker of one of the plan's modules a message that
// keeps it in its handler past the plan's timeout: with SkipOnTimeout the
// plan leaves it out.
func (r *run) makeBusy(p *planned) {
	v := r.cur.Load()
	var cand []int
	for i, m := range v.mods {
		name := r.mods[m].Name
		if !v.workers[i].IsZero() && slices.ContainsFunc(p.plan.Changes, func(c upgrade.Change) bool { return c.Module == name }) {
			cand = append(cand, i)
		}
	}
	if len(cand) > 0 {
		r.injSend(cand[r.rng.IntN(len(cand))], fault.Msg{Fault: fault.Slow, Delay: p.plan.Timeout + r.cfg.SlowDelay})
	}
}

// execute runs a plan, or two at once, then checks each against its report
// and the system.
func (r *run) execute(ctx context.Context, group []*planned) {
	before := r.currents()
	r.emu.Lock()
	mark := len(r.loads)
	r.emu.Unlock()
	results := make([]planResult, len(group))
	var wg sync.WaitGroup
	for i, p := range group {
		wg.Go(func() { results[i].rep, results[i].err = p.on.Upgrade(ctx, p.plan) })
	}
	wg.Wait()
	r.emu.Lock()
	loads := slices.Clone(r.loads[mark:])
	r.emu.Unlock()
	r.checkGroup(group, results, before, loads, r.currents())
	r.checkReleased(ctx, group, results, before)
	for i, p := range group {
		r.count(p, results[i])
	}
}

// checkReleased checks that the plans left no supervisor of the tree
// suspended, and resumes one they left, as an operator would, so that the
// run goes on testing a tree that supervises. A plan's suspend requests
// were queued before it returned, and a supervisor serves its system lane
// in order: the question asked here is answered after them.
func (r *run) checkReleased(ctx context.Context, group []*planned, results []planResult, before map[string]string) {
	for _, sup := range append([]actor.PID{r.root.PID()}, r.cur.Load().sups...) {
		ictx, cancel := context.WithTimeout(ctx, 5*r.cfg.UpgradeTimeout)
		info, err := r.sys.Info(ictx, sup)
		cancel()
		if err != nil || !info.Suspended {
			continue // gone, or too busy to say: restarting children, say
		}
		var ds []string
		for i, p := range group {
			ds = append(ds, p.describe(before, results[i]))
		}
		r.violate(checkPlans, "supervisor %v is still suspended after the plan ended: %s", sup, strings.Join(ds, "; at once: "))
		rctx, cancel := context.WithTimeout(ctx, r.cfg.UpgradeTimeout)
		_ = r.sys.Resume(rctx, sup)
		cancel()
	}
}

// currents returns the current version of each module under test.
func (r *run) currents() map[string]string {
	out := make(map[string]string, len(r.mods))
	for _, m := range r.mods {
		if v, ok := r.sys.Current(m.Name); ok {
			out[m.Name] = v.Name()
		}
	}
	return out
}

// committed reports an outcome after the commit.
func committed(o upgrade.Outcome) bool {
	return o == upgrade.Committed || o == upgrade.Converged || o == upgrade.Unconverged
}

// checkGroup checks plans that ran together (one, or an overlapping pair)
// against their reports and the system: the changes of current versions
// while they ran (loads) are exactly the targets of those that committed,
// and what is current after is the last of them; then each plan's
// per-process results, where its processes are now, and what its faults
// must have caused.
func (r *run) checkGroup(group []*planned, results []planResult, before map[string]string, loads []actor.VersionLoaded, after map[string]string) {
	naming := map[string]int{}
	want := map[string][]string{}
	for i, p := range group {
		for _, c := range p.plan.Changes {
			naming[c.Module]++
			if rep := results[i].rep; rep != nil && committed(rep.Outcome) {
				want[c.Module] = append(want[c.Module], c.To.Name())
			}
		}
	}
	got := map[string][]string{}
	for _, l := range loads {
		got[l.Module] = append(got[l.Module], l.Version)
	}
	describe := func() string {
		var ds []string
		for i, p := range group {
			ds = append(ds, p.describe(before, results[i]))
		}
		return strings.Join(ds, "; at once: ")
	}
	modules := slices.Sorted(maps.Keys(naming))
	for m := range got {
		if naming[m] == 0 {
			modules = append(modules, m)
		}
	}
	for _, m := range modules {
		g, w := slices.Sorted(slices.Values(got[m])), slices.Sorted(slices.Values(want[m]))
		if !slices.Equal(g, w) {
			r.violate(checkPlans, "%s: the plans committed %v, and %v became current: %s", m, w, g, describe())
			continue
		}
		last := before[m]
		if n := len(got[m]); n > 0 {
			last = got[m][n-1]
		}
		if after[m] != last {
			r.violate(checkPlans, "%s: %s is current after the plans, not %s: %s", m, after[m], last, describe())
		}
	}
	for i, p := range group {
		res := results[i]
		if res.rep == nil {
			r.violate(checkPlans, "no report: %s", p.describe(before, res))
			continue
		}
		rep := res.rep
		if committed(rep.Outcome) != (res.err == nil) && rep.Outcome != upgrade.Simulated {
			r.violate(checkPlans, "outcome %v with error %v: %s", rep.Outcome, res.err, p.describe(before, res))
		}
		// Modules no other plan of the group names are this plan's own
		// while it runs: what it found current is what was.
		alone := !slices.ContainsFunc(p.plan.Changes, func(c upgrade.Change) bool { return naming[c.Module] > 1 })
		if alone && rep.Schedule != nil {
			for m, from := range rep.Schedule.From {
				if from.Name() != before[m] {
					r.violate(checkPlans, "%s: planned from %s, but %s was current: %s", m, from.Name(), before[m], p.describe(before, res))
				}
			}
		}
		if msg := p.resultsProblem(rep); msg != "" {
			r.violate(checkResults, "%s: %s", p.describe(before, res), msg)
		} else if alone {
			if msg := r.liveProblem(rep, before); msg != "" {
				r.violate(checkResults, "%s: %s", p.describe(before, res), msg)
			}
		}
		if msg := p.faultProblem(rep); msg != "" {
			r.violate(checkRollback, "%s: %s", p.describe(before, res), msg)
		}
	}
}

// describe names the plan for a violation: mode, changes, policies,
// faults, outcome and error.
func (p *planned) describe(before map[string]string, res planResult) string {
	var b strings.Builder
	b.WriteString(modeName(p.plan))
	if p.sub {
		fmt.Fprintf(&b, " on %v", p.on.PID())
	}
	b.WriteString(" plan (")
	for i, c := range p.plan.Changes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s→%s", c.Module, before[c.Module], c.To.Name())
	}
	fmt.Fprintf(&b, "; stragglers %v, on_timeout %s", p.plan.Stragglers, timeoutName(p.plan.OnTimeout))
	if p.plan.Mode == upgrade.Rolling {
		fmt.Fprintf(&b, ", waves %v, on_rollback_failure %s", p.plan.Waves, rollbackFailureName(p.plan.OnRollbackFailure))
	}
	if p.gate != "" {
		fmt.Fprintf(&b, ", gate %s at %d", p.gate, p.failAt)
	}
	if p.mig.Fault != "" {
		fmt.Fprintf(&b, ", migrations %s", p.mig.Fault)
		if p.mig.On != "" {
			fmt.Fprintf(&b, " on %s", p.mig.On)
		}
	}
	b.WriteString(")")
	if res.rep != nil {
		fmt.Fprintf(&b, " %v", res.rep.Outcome)
	}
	if res.err != nil {
		fmt.Fprintf(&b, ": %v", res.err)
	}
	return b.String()
}

func modeName(p upgrade.Plan) string {
	if p.DryRun {
		return "dry_run"
	}
	return p.Mode.String()
}

func timeoutName(t upgrade.TimeoutPolicy) string {
	if t == upgrade.SkipOnTimeout {
		return "skip"
	}
	return "roll_back"
}

func rollbackFailureName(f upgrade.RollbackFailurePolicy) string {
	if f == upgrade.KeepOnRollbackFailure {
		return "keep"
	}
	return "kill"
}

// resultsProblem checks the report's outcome and per-process results
// against the plan's mode and policies; "" if they fit.
func (p *planned) resultsProblem(rep *upgrade.Report) string {
	plan, o := p.plan, rep.Outcome
	if rep.Mode != plan.Mode || rep.DryRun != plan.DryRun {
		return fmt.Sprintf("the report says mode %v, dry run %v", rep.Mode, rep.DryRun)
	}
	switch {
	case plan.DryRun && o != upgrade.Simulated && o != upgrade.Refused,
		!plan.DryRun && o == upgrade.Simulated,
		plan.Mode == upgrade.Lazy && o == upgrade.Committed,
		plan.Mode != upgrade.Lazy && (o == upgrade.Converged || o == upgrade.Unconverged):
		return fmt.Sprintf("outcome %v for a %s plan", o, modeName(plan))
	case o != upgrade.Refused && rep.Schedule == nil:
		return "no schedule"
	}
	targets := map[string]string{}
	for _, c := range plan.Changes {
		targets[c.Module] = c.To.Name()
	}
	pending := 0
	for i, pr := range rep.Processes {
		var pl *upgrade.Planned
		if rep.Schedule != nil && i < len(rep.Schedule.Procs) {
			pl = &rep.Schedule.Procs[i]
		}
		if msg := resultProblem(plan, o, pr, pl, targets); msg != "" {
			return fmt.Sprintf("%v (%s from %s, to %s, target %s) %v: %s", pr.PID, pr.Module, pr.From, pr.To, pr.Target, pr.Result, msg)
		}
		if pr.Result == upgrade.Pending {
			pending++
		}
	}
	if o == upgrade.Converged && pending > 0 || o == upgrade.Unconverged && pending == 0 {
		return fmt.Sprintf("%v with %d processes pending", o, pending)
	}
	if rep.Schedule == nil {
		return ""
	}
	for i, pl := range rep.Schedule.Procs {
		late := i < len(rep.Processes) && rep.Processes[i].Late
		switch {
		case late:
		case pl.Straggler && plan.Stragglers == upgrade.RefuseStragglers:
			return fmt.Sprintf("%v (%s@%s) is a straggler, and the plan went ahead under RefuseStragglers", pl.PID, pl.Module, pl.Version)
		case pl.Straggler != pl.Kill && plan.Stragglers == upgrade.KillStragglers,
			pl.Kill && plan.Stragglers != upgrade.KillStragglers:
			return fmt.Sprintf("%v (%s@%s, straggler %v) planned kill=%v under straggler policy %v", pl.PID, pl.Module, pl.Version, pl.Straggler, pl.Kill, plan.Stragglers)
		}
	}
	return ""
}

// resultProblem checks one process's result against its plan; "" if it
// fits.
func resultProblem(plan upgrade.Plan, o upgrade.Outcome, pr upgrade.ProcessResult, pl *upgrade.Planned, targets map[string]string) string {
	target, ok := targets[pr.Module]
	switch {
	case !ok:
		return "a module the plan does not change"
	case pr.Target != target:
		return "the plan's target is " + target
	}
	done, rolledBack, dry := committed(o), o == upgrade.RolledBack, plan.DryRun
	rolling := plan.Mode == upgrade.Rolling
	switch pr.Result {
	case upgrade.Unchanged:
		if pr.From != target || pr.To != target {
			return "unchanged, yet not on the target"
		}
	case upgrade.Migrated:
		switch {
		case dry || !done:
			return "migrated by a plan that did not commit"
		case pr.To != target:
			return "migrated elsewhere than to the target"
		}
	case upgrade.WouldMigrate:
		if !dry {
			return "would_migrate outside a dry run"
		}
	case upgrade.Pending:
		if dry || o != upgrade.Unconverged {
			return "pending outside an unconverged lazy plan"
		}
	case upgrade.Restored:
		switch {
		case !rolledBack:
			return "restored by a plan that did not roll back"
		case pr.To != pr.From:
			return "restored to another version than it ran"
		}
	case upgrade.NotReached:
		switch {
		case !rolledBack && o != upgrade.Refused:
			return "not reached by a plan that went through"
		case pr.To != pr.From:
			return "not reached, yet moved"
		}
	case upgrade.NoAnswer:
		if !dry && (!rolledBack || plan.OnTimeout != upgrade.RollBackOnTimeout) {
			return "no answer, and the plan did not roll back for it"
		}
	case upgrade.Skipped:
		switch {
		case dry || plan.OnTimeout != upgrade.SkipOnTimeout:
			return "skipped without SkipOnTimeout"
		case pr.To != pr.From:
			return "skipped, yet moved"
		}
	case upgrade.Exited:
		if o == upgrade.Refused {
			return "exited during a refused plan"
		}
	case upgrade.Killed:
		straggler := pl != nil && pl.Kill && (done || dry)
		rollback := rolling && rolledBack && !dry && plan.OnRollbackFailure == upgrade.KillOnRollbackFailure
		if !straggler && !rollback {
			return "killed, yet neither a straggler of a plan that went through under KillStragglers, nor a finished wave's failed rollback under KillOnRollbackFailure"
		}
	case upgrade.Failed:
		kept := pr.To == target && pr.From != target
		switch {
		case pr.Err == nil:
			return "failed without an error"
		case dry:
		case kept && !(rolling && rolledBack && plan.OnRollbackFailure == upgrade.KeepOnRollbackFailure):
			return "left on the target by a failed rollback without KeepOnRollbackFailure"
		case kept:
		case pr.To != pr.From:
			return "failed, yet moved"
		case !rolledBack:
			return "failed, yet the plan did not roll back"
		}
	default:
		return "unknown result"
	}
	return ""
}

// liveProblem checks that every process of the report that is still alive
// runs what its result says: a plan whose modules were its own while it
// ran, checked before the next plan begins. A process the plan did not
// hold (or no longer holds) may have picked up, at a message, the version
// current before the plan or after it; nothing else moves it.
func (r *run) liveProblem(rep *upgrade.Report, before map[string]string) string {
	for _, pr := range rep.Processes {
		v, ok := r.sys.VersionOf(pr.PID)
		if !ok || v.Module != pr.Module {
			continue // gone
		}
		cur, _ := r.sys.Current(pr.Module)
		unheld := []string{pr.From, before[pr.Module], cur.Name()}
		var want []string
		pinned := false
		switch pr.Result {
		case upgrade.Killed, upgrade.Exited:
			continue
		case upgrade.Migrated:
			want = []string{pr.Target}
		case upgrade.Failed:
			if pr.To == pr.Target && pr.From != pr.Target {
				want, pinned = []string{pr.Target}, true // kept by a failed rollback
				break
			}
			want = unheld
		case upgrade.Unchanged:
			if committed(rep.Outcome) {
				// It ran the target: a straggler there is part of the
				// transaction, and the target is current now.
				want = []string{pr.Target}
				break
			}
			want = unheld
		default:
			want = unheld
		}
		if !slices.Contains(want, v.Version) || pinned && !v.Pinned {
			return fmt.Sprintf("%v is %v (from %s, to %s, target %s), yet runs %s@%s (pinned %v)",
				pr.PID, pr.Result, pr.From, pr.To, pr.Target, v.Module, v.Version, v.Pinned)
		}
	}
	return ""
}

// faultProblem checks what the plan's faults must have caused: a failing
// gate that was reached rolls the plan back; no process migrates through
// a migration told to fail, and none of a finished wave is restored
// through a Downgrade told to fail. "" if so.
func (p *planned) faultProblem(rep *upgrade.Report) string {
	sched := rep.Schedule
	if sched == nil {
		return ""
	}
	if p.gate != "" {
		gates := 0
		for _, st := range sched.Steps {
			if st.Kind == upgrade.StepGate {
				gates++
			}
		}
		if gates > p.failAt && rep.Outcome != upgrade.RolledBack {
			return fmt.Sprintf("the gate check was told to %s at gate %d of %d, and the plan ended %v", p.gate, p.failAt, gates, rep.Outcome)
		}
	}
	if p.mig.Fault == "" {
		return ""
	}
	for i, pr := range rep.Processes {
		if pr.Result != upgrade.Migrated || i >= len(sched.Procs) {
			continue
		}
		route := sched.Procs[i].Route
		if p.mig.On == "" && len(route) > 0 || p.mig.On == fault.OnDowngrade && hasDown(route) {
			return fmt.Sprintf("%v migrated from %s to %s, through a migration told to %s", pr.PID, pr.From, pr.To, p.mig.Fault)
		}
	}
	if p.mig.On != fault.OnDowngrade || p.plan.Mode != upgrade.Rolling || rep.Outcome != upgrade.RolledBack {
		return ""
	}
	// Processes of finished waves resumed on the target (pinned); rolling
	// them back runs the route back, which fails if it steps down.
	pinned := map[actor.PID]bool{}
	for _, e := range rep.Events {
		if ev, ok := e.(upgrade.ProcessResumed); ok && ev.Version != "" {
			for _, c := range p.plan.Changes {
				if c.Module == ev.Module && c.To.Name() == ev.Version {
					pinned[ev.PID] = true
				}
			}
		}
	}
	for _, pr := range rep.Processes {
		back := sched.Back[pr.Module]
		if !pinned[pr.PID] || back == nil || !hasDown(back.Routes[pr.Target]) {
			continue
		}
		switch pr.Result {
		case upgrade.Killed, upgrade.Failed, upgrade.Exited:
		default:
			return fmt.Sprintf("%v ran %s in a finished wave, and its way back to %s through a Downgrade told to %s ended %v",
				pr.PID, pr.Target, pr.From, p.mig.Fault, pr.Result)
		}
	}
	return ""
}

func hasDown(route []actor.Step) bool {
	return slices.ContainsFunc(route, func(s actor.Step) bool { return s.Down })
}

// count adds a plan to the summary.
func (r *run) count(p *planned, pr planResult) {
	r.emu.Lock()
	defer r.emu.Unlock()
	res, rep, err := r.res, pr.rep, pr.err
	outcome := "failed"
	switch {
	case errors.Is(err, upgrade.ErrInProgress):
		outcome = "refused_in_progress"
	case errors.Is(err, upgrade.ErrInvalidPlan):
		outcome = "invalid"
	case rep != nil:
		outcome = rep.Outcome.String()
	}
	res.Upgrades[modeName(p.plan)+" "+outcome]++
	res.Policies["stragglers "+p.plan.Stragglers.String()]++
	res.Policies["on_timeout "+timeoutName(p.plan.OnTimeout)]++
	if p.plan.Mode == upgrade.Rolling {
		res.Policies["on_rollback_failure "+rollbackFailureName(p.plan.OnRollbackFailure)]++
		res.Policies["gate "+cmp.Or(p.gate, "pass")]++
	}
	res.Policies[fmt.Sprintf("modules %d", len(p.plan.Changes))]++
	if p.sub {
		res.Policies["tree subtree"]++
	}
	met := errors.Is(err, upgrade.ErrRefused) && strings.Contains(err.Error(), "stragglers")
	if rep != nil && rep.Schedule != nil {
		met = met || slices.ContainsFunc(rep.Schedule.Procs, func(pl upgrade.Planned) bool { return pl.Straggler })
	}
	if met {
		res.Stragglers[p.plan.Stragglers.String()]++
	}
	if rep != nil {
		for _, pr := range rep.Processes {
			res.ProcessResults[pr.Result.String()]++
			if p.plan.Mode != upgrade.Rolling || rep.Outcome != upgrade.RolledBack {
				continue
			}
			switch {
			case pr.Result == upgrade.Killed:
				res.RollbackFailures["killed"]++
			case pr.Result == upgrade.Failed && pr.To == pr.Target && pr.From != pr.Target:
				res.RollbackFailures["kept"]++
				r.kept[pr.PID] = true
			}
		}
	}
	expected := errors.Is(err, upgrade.ErrInProgress) || p.mig.Fault != "" || p.gate != "" ||
		met && p.plan.Stragglers == upgrade.RefuseStragglers
	if err != nil && !expected && len(res.UpgradeErrors) < 5 {
		res.UpgradeErrors = append(res.UpgradeErrors, err.Error())
	}
}
