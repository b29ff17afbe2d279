package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// U1–U3: a hot code upgrade of 10,000 actors under load, Graft only (the
// peers have no hot code upgrade; FACTS.md has Erlang/OTP's figures for the
// same shape). Each run builds a fresh system: a simple_one_for_one
// supervisor over UpgradeActors processes of module "meter" v1; a few
// sender goroutines offer UpgradeRate msg/s in all, each pacing itself with
// a time.Ticker; then Handle.Upgrade moves "meter" to v2, whose state has
// another shape:
//
//   - U1: atomic; every migration succeeds: committed.
//   - U2: atomic; the migration of one actor returns an error: rolled back.
//   - U3: lazy; every actor migrates on its next message.
//   - U1s, U3s: U1 and U3 from v2 to v3, with 2,000 of the actors left
//     idle on v1 by an earlier lazy upgrade (stragglers): they take part
//     in the transaction, migrating v1 → v2 → v3 (U3s prepares them before
//     its commit).
//
// Measured, on the real clock: the whole Upgrade call; the time from the
// call to the UpgradeCommitted event (the point of no return; U3's commit
// latency); Report.Elapsed (U3: until every actor has migrated); each
// actor's pause (Report.Processes[i].Pause); the throughput dip (messages
// handled per second during the Upgrade call over the rate just before
// it); and the messages lost (sent − handled, counted by the actors
// themselves once the load has stopped and every actor has answered a call
// queued behind everything sent to it).
const (
	UpgradeActors  = 10_000
	UpgradeRate    = 100_000 // msg/s offered, all senders together
	UpgradeSenders = 4
	// upgradeCulprit is the actor whose migration fails in U2.
	upgradeCulprit = 137
	// upgradeTick is the senders' pacing period: each tick, a sender
	// catches up with its share of the rate (25 messages per tick at
	// 100k msg/s over 4 senders).
	upgradeTick = time.Millisecond
	// upgradeWait bounds every wait of a run; a run that takes longer is
	// broken, not slow.
	upgradeWait = time.Minute
)

// UpgradeConfig is one upgrade workload.
type UpgradeConfig struct {
	Actors, Senders int
	Rate            float64 // msg/s, all senders together
	Mode            upgrade.Mode
	// Fail makes the migration of actor upgradeCulprit (or of the last
	// one, if there are fewer) return an error.
	Fail bool
	// Stragglers, when set, is how many actors (the last ones) get no load
	// and stay on v1 through a lazy upgrade to v2; the measured plan then
	// goes from v2 to v3.
	Stragglers int
	// Warmup messages are sent before measuring anything, then Baseline
	// more to measure the rate before the upgrade. Zero means Rate/5 each
	// (200 ms).
	Warmup, Baseline int64
}

// UpgradeRun is what one run measured.
type UpgradeRun struct {
	Report *upgrade.Report
	Err    error // Upgrade's error (U2: the rollback's cause)
	// Total is the Upgrade call, from call to return (validation and the
	// supervision-tree walk included); Commit is from the call to the
	// UpgradeCommitted event, zero if there was none (a rollback).
	Total, Commit time.Duration
	// Pauses are the per-actor pauses of the report, sorted.
	Pauses []time.Duration
	// RateBefore and RateDuring are messages handled per second over the
	// Baseline window just before the call and during the call.
	RateBefore, RateDuring float64
	// Sent counts Send calls; Handled the messages the actors handled,
	// their own count, once the load had stopped and drained.
	Sent, Handled int64
}

// Lost is Sent − Handled.
func (r *UpgradeRun) Lost() int64 { return r.Sent - r.Handled }

// Dip is RateDuring / RateBefore: 1 is no dip.
func (r *UpgradeRun) Dip() float64 {
	if r.RateBefore == 0 {
		return 0
	}
	return r.RateDuring / r.RateBefore
}

// PausePercentile returns the nearest-rank p-th percentile of the pauses.
func (r *UpgradeRun) PausePercentile(p float64) time.Duration {
	if len(r.Pauses) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(r.Pauses))))
	return r.Pauses[min(max(rank-1, 0), len(r.Pauses)-1)]
}

// Module "meter": v1 counts in an int and remembers the last message;
// v2 counts in an int64 and keeps a small history (a state-shape change:
// CodeChange builds a new struct); v3 keeps the last message again. Each
// counts every message handled in the run's shared counter too, for the
// rates.
type (
	meterInc struct{ Seq uint64 }
	meterGet struct{}
	meterV1  struct {
		ID    int
		Count int
		Last  uint64
	}
	meterV2 struct {
		ID      int64
		Handled int64
		Recent  [4]uint64
	}
	meterV3 struct {
		ID      int64
		Handled int64
		Last    uint64
	}
)

var errMeterMigration = errors.New("meter: cannot migrate this one")

// meterV3Version builds v3 of "meter": it follows v2.
func meterV3Version(handled *atomic.Int64) *actor.Version {
	return actor.Define("meter", "v3", actor.Funcs[meterV3]{
		Follows: "v2",
		Handle: func(ctx *actor.Context, s meterV3, msg any) (meterV3, error) {
			switch m := msg.(type) {
			case meterInc:
				s.Handled++
				s.Last = m.Seq
				handled.Add(1)
			case meterGet:
				ctx.Reply(s.Handled)
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(old meterV2, _ any) (meterV3, error) {
			return meterV3{ID: old.ID, Handled: old.Handled, Last: old.Recent[0]}, nil
		}),
	})
}

// meterVersions builds v1 and v2 of "meter" for one run: handled is the
// run's shared count; fail, if not negative, is the actor whose migration
// fails.
func meterVersions(handled *atomic.Int64, fail int) (v1, v2 *actor.Version) {
	v1 = actor.Define("meter", "v1", actor.Funcs[meterV1]{
		Init: func(_ *actor.Context, args any) (meterV1, error) { return meterV1{ID: args.(int)}, nil },
		Handle: func(ctx *actor.Context, s meterV1, msg any) (meterV1, error) {
			switch m := msg.(type) {
			case meterInc:
				s.Count++
				s.Last = m.Seq
				handled.Add(1)
			case meterGet:
				ctx.Reply(int64(s.Count))
			}
			return s, nil
		},
	})
	v2 = actor.Define("meter", "v2", actor.Funcs[meterV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, s meterV2, msg any) (meterV2, error) {
			switch m := msg.(type) {
			case meterInc:
				s.Recent[s.Handled%int64(len(s.Recent))] = m.Seq
				s.Handled++
				handled.Add(1)
			case meterGet:
				ctx.Reply(s.Handled)
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(old meterV1, _ any) (meterV2, error) {
			if old.ID == fail {
				return meterV2{}, errMeterMigration
			}
			s := meterV2{ID: int64(old.ID), Handled: int64(old.Count)}
			s.Recent[0] = old.Last
			return s, nil
		}),
	})
	return v1, v2
}

// upgradeLoad is the load generator: senders goroutines sending meterInc
// to the actors in turn, each at its share of the rate, paced by a ticker.
type upgradeLoad struct {
	sys  *actor.System
	pids []actor.PID
	rate float64 // per sender

	sent    atomic.Int64
	sendErr atomic.Pointer[error] // the first failed Send

	mu      sync.Mutex
	changed chan struct{} // guarded by mu: closed and replaced after every batch

	stop context.CancelFunc
	wg   sync.WaitGroup
}

func startUpgradeLoad(sys *actor.System, pids []actor.PID, senders int, rate float64) *upgradeLoad {
	l := &upgradeLoad{sys: sys, pids: pids, rate: rate / float64(senders), changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	for s := range senders {
		l.wg.Go(func() { l.sender(ctx, s*len(pids)/senders) })
	}
	return l
}

// sender sends from actor first on, in turn; on each tick it catches up
// with its rate since it started.
func (l *upgradeLoad) sender(ctx context.Context, first int) {
	tick := time.NewTicker(upgradeTick)
	defer tick.Stop()
	next, start, n := first, time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int64(l.rate * time.Since(start).Seconds())
		batch := due - n
		for ; n < due; n++ {
			if err := l.sys.Send(l.pids[next], meterInc{Seq: uint64(n)}); err != nil {
				l.sendErr.CompareAndSwap(nil, &err)
			}
			next = (next + 1) % len(l.pids)
		}
		if batch > 0 {
			l.sent.Add(batch)
			l.mu.Lock()
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}
}

// awaitSent waits until n messages were sent in all.
func (l *upgradeLoad) awaitSent(n int64) error {
	limit := time.NewTimer(upgradeWait)
	defer limit.Stop()
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if l.sent.Load() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-limit.C:
			return fmt.Errorf("upgrade load: %d of %d messages sent after %v", l.sent.Load(), n, upgradeWait)
		}
	}
}

// halt stops the senders and waits until they have returned: every message
// they sent is in a mailbox.
func (l *upgradeLoad) halt() {
	l.stop()
	l.wg.Wait()
}

// graftUpgrade runs one upgrade workload (U1, U2 or U3) on a fresh system.
func graftUpgrade(cfg UpgradeConfig) (r UpgradeRun, err error) {
	if cfg.Warmup == 0 {
		cfg.Warmup = int64(cfg.Rate / 5)
	}
	if cfg.Baseline == 0 {
		cfg.Baseline = int64(cfg.Rate / 5)
	}
	fail := -1
	if cfg.Fail {
		fail = min(upgradeCulprit, cfg.Actors-1)
	}
	var handled atomic.Int64
	v1, v2 := meterVersions(&handled, fail)

	sys := actor.NewSystem()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), upgradeWait)
		defer cancel()
		if serr := sys.Shutdown(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("graft: shutdown: %w", serr))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), upgradeWait)
	defer cancel()
	if err := sys.Load(v1); err != nil {
		return r, err
	}
	sup, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.SimpleOneForOne},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "meter"}}})
	if err != nil {
		return r, err
	}
	pids := make([]actor.PID, cfg.Actors)
	for i := range pids {
		if pids[i], err = sup.StartSimpleChild(ctx, i); err != nil {
			return r, fmt.Errorf("start actor %d: %w", i, err)
		}
	}

	// The commit is timed by the event: subscribers run synchronously on
	// the goroutine that emits, here the one calling Upgrade, right after
	// the versions are made current.
	var committedAt atomic.Int64
	defer sys.Subscribe(func(ev actor.Event) {
		if _, ok := ev.(upgrade.UpgradeCommitted); ok {
			committedAt.CompareAndSwap(0, time.Now().UnixNano())
		}
	})()

	loaded, to := pids, v2
	if cfg.Stragglers > 0 {
		// The last actors get no load: a lazy upgrade to v2 leaves them on
		// v1, while the loaded ones migrate on their next message.
		loaded, to = pids[:len(pids)-cfg.Stragglers], meterV3Version(&handled)
	}
	l := startUpgradeLoad(sys, loaded, cfg.Senders, cfg.Rate)
	defer l.halt()
	if cfg.Stragglers > 0 {
		rep, err := sup.Upgrade(ctx, upgrade.Plan{Mode: upgrade.Lazy, Timeout: time.Second, Changes: []upgrade.Change{{Module: "meter", To: v2}}})
		if err != nil || rep.Outcome != upgrade.Unconverged || rep.Count(upgrade.Pending) != cfg.Stragglers {
			return r, fmt.Errorf("making stragglers: %v %v", rep.Outcome, err)
		}
		committedAt.Store(0)
	}
	base := l.sent.Load()
	if err := l.awaitSent(base + cfg.Warmup); err != nil {
		return r, err
	}
	t0, h0 := time.Now(), handled.Load()
	if err := l.awaitSent(base + cfg.Warmup + cfg.Baseline); err != nil {
		return r, err
	}
	t1, h1 := time.Now(), handled.Load()
	r.Report, r.Err = sup.Upgrade(ctx, upgrade.Plan{Mode: cfg.Mode, Changes: []upgrade.Change{{Module: "meter", To: to}}})
	t2, h2 := time.Now(), handled.Load()
	l.halt()

	if r.Report == nil {
		return r, fmt.Errorf("upgrade rejected: %w", r.Err)
	}
	r.Total = t2.Sub(t1)
	if at := committedAt.Load(); at != 0 {
		r.Commit = time.Unix(0, at).Sub(t1)
	}
	r.RateBefore = float64(h1-h0) / t1.Sub(t0).Seconds()
	r.RateDuring = float64(h2-h1) / t2.Sub(t1).Seconds()
	for _, p := range r.Report.Processes {
		r.Pauses = append(r.Pauses, p.Pause)
	}
	slices.Sort(r.Pauses)

	// Drain: each call queues behind everything sent to its actor.
	r.Sent = l.sent.Load()
	for _, pid := range pids {
		n, err := sys.Call(ctx, pid, meterGet{})
		if err != nil {
			return r, fmt.Errorf("drain %v: %w", pid, err)
		}
		r.Handled += n.(int64)
	}
	if e := l.sendErr.Load(); e != nil {
		return r, fmt.Errorf("send: %w", *e)
	}
	return r, nil
}
