package upgrade

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// rolling upgrades the targets wave by wave. A wave is suspended,
// migrated and switched like an atomic upgrade of its own, except that its
// processes are pinned to the new version while the module's current
// version stays the old one; the gate then watches them. The last wave
// makes the new versions current (the pins lapse). A failed migration or
// gate rolls every finished wave back: each of its processes migrates back
// to the old version (the new version's Downgrade) and is switched at
// once.
func (e *engine) rolling(ctx context.Context) error {
	old := map[string]*actor.Version{}
	for _, c := range e.plan.Changes {
		cur, _ := e.sys.Current(c.Module)
		old[c.Module] = cur
		if err := e.sys.Stage(c.To); err != nil {
			return err
		}
	}
	e.event(PlanPrepared{})

	var crashes atomic.Int64
	cancel := e.sys.Subscribe(func(ev actor.Event) {
		if x, ok := ev.(actor.ProcessExited); ok && !quiet(x.Reason) {
			if c, ok := e.versions[x.Module]; ok && x.Version == c.To.Name() {
				crashes.Add(1)
			}
		}
	})
	defer cancel()

	var done []int // targets switched so far
	start := 0
	fractions := e.plan.waves()
	for w, frac := range fractions {
		end := int(math.Ceil(frac * float64(len(e.targets))))
		if w == len(fractions)-1 {
			end = len(e.targets)
		}
		wave := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			wave = append(wave, i)
		}
		start = end
		last := w == len(fractions)-1

		if err := e.switchWave(ctx, wave, last); err != nil {
			e.event(UpgradeRolledBack{Reason: err})
			e.rollBack(ctx, done, old)
			e.report.Outcome = RolledBack
			return fmt.Errorf("upgrade: rolled back at wave %d: %w", w, err)
		}
		done = append(done, wave...)
		e.event(WaveCommitted{Index: w, Processes: len(done)})
		if last {
			break
		}
		if err := e.gate(ctx, w, done, &crashes); err != nil {
			e.log.Error("gate failed; rolling back", zap.Int("wave", w), zap.Error(err))
			e.event(GateFailed{Index: w, Reason: err})
			e.rollBack(ctx, done, old)
			e.report.Outcome = RolledBack
			return fmt.Errorf("upgrade: rolled back after wave %d: %w", w, err)
		}
	}
	e.report.Outcome = Committed
	return nil
}

// switchWave suspends and migrates a wave, then switches it: pinned for
// all waves but the last, which first makes the new versions current.
func (e *engine) switchWave(ctx context.Context, wave []int, last bool) error {
	ops := make([]*actor.Op, len(wave))
	for j, i := range wave {
		t := e.targets[i]
		c := e.versions[t.Module]
		ops[j] = e.sys.ChangeCode(t.PID, c.To, c.Extra)
	}
	suspendedAt := make([]time.Time, len(wave))
	failed := e.wait(ctx, ops, func(j int, err error) {
		r := &e.report.Processes[wave[j]]
		r.From, r.Err, suspendedAt[j] = ops[j].From(), err, ops[j].At()
	})
	if failed != nil {
		for j, i := range wave {
			ops[j] = e.sys.Abort(e.targets[i].PID, true)
		}
		_ = e.wait(ctx, ops, func(int, error) {})
		return failed
	}
	if last {
		for _, c := range e.plan.Changes {
			if err := e.sys.Load(c.To, actor.WithExtra(c.Extra)); err != nil {
				return err
			}
		}
		e.event(UpgradeCommitted{})
	}
	for j, i := range wave {
		if last {
			ops[j] = e.sys.Commit(e.targets[i].PID, true)
		} else {
			ops[j] = e.sys.CommitPinned(e.targets[i].PID, true)
		}
	}
	_ = e.wait(ctx, ops, func(j int, err error) {
		r := &e.report.Processes[wave[j]]
		if resumed := ops[j].At(); !suspendedAt[j].IsZero() && !resumed.IsZero() {
			r.Pause = resumed.Sub(suspendedAt[j])
			e.report.MaxPause = max(e.report.MaxPause, r.Pause)
		}
		if err != nil && r.Err == nil {
			r.Err = err
		}
	})
	return nil
}

// gate watches a finished wave for the gate's observation time, then
// applies its crash limit and check.
func (e *engine) gate(ctx context.Context, w int, done []int, crashes *atomic.Int64) error {
	timer := e.sys.Clock().NewTimer(e.plan.Gate.observe())
	defer timer.Stop()
	select {
	case <-timer.C():
	case <-ctx.Done():
		return ctx.Err()
	}
	n := int(crashes.Load())
	if n > e.plan.Gate.MaxCrashes {
		return fmt.Errorf("%d crashes on the new version (at most %d allowed)", n, e.plan.Gate.MaxCrashes)
	}
	if check := e.plan.Gate.Check; check != nil {
		pids := make([]actor.PID, len(done))
		for k, i := range done {
			pids[k] = e.targets[i].PID
		}
		if err := check(ctx, Wave{Index: w, Processes: pids, Crashes: n}); err != nil {
			return fmt.Errorf("gate check: %w", err)
		}
	}
	return nil
}

// rollBack moves the processes of the finished waves back to the old
// versions at once (a process that crashed meanwhile was restarted on the
// old version by its supervisor and is gone from the list).
func (e *engine) rollBack(ctx context.Context, done []int, old map[string]*actor.Version) {
	ops := make([]*actor.Op, len(done))
	for k, i := range done {
		t := e.targets[i]
		ops[k] = e.sys.ChangeCode(t.PID, old[t.Module], e.versions[t.Module].Extra)
	}
	_ = e.wait(ctx, ops, func(int, error) {})
	for k, i := range done {
		if ops[k].Err() == nil {
			ops[k] = e.sys.Commit(e.targets[i].PID, true)
		} else {
			ops[k] = e.sys.Abort(e.targets[i].PID, true)
		}
	}
	_ = e.wait(ctx, ops, func(k int, err error) {
		var ee *actor.ExitError
		if err != nil && !errors.As(err, &ee) {
			e.log.Error("rollback of a finished wave failed", zap.Stringer("pid", ops[k].PID), zap.Error(err))
		}
	})
	for _, i := range done {
		e.report.Processes[i].To = old[e.targets[i].Module].Name()
	}
}

func quiet(reason error) bool {
	return reason == actor.Normal || errors.Is(reason, actor.Shutdown)
}
