package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// Kind is a kind of fault.
type Kind string

// The faults. Those that need the code under test to cooperate say so:
// handlers must call fault.Act on a fault.Msg, migrations
// fault.ActMigration on their extra.
const (
	Kill           Kind = "kill"            // System.Kill a worker
	Panic          Kind = "panic"           // a message its handler panics on (fault.Act)
	KillSupervisor Kind = "kill_supervisor" // System.Kill a supervisor below the root: its subtree restarts
	Slow           Kind = "slow"            // a message its handler takes long on (fault.Act), and a call that meets its deadline behind it
	Upgrade        Kind = "upgrade"         // an upgrade or downgrade to another of Config.Versions, mode at random
	MigrationFail  Kind = "migration_fail"  // an atomic upgrade whose migrations fail (fault.ActMigration): rolled back
	MigrationPanic Kind = "migration_panic" // ... panic
	MigrationSlow  Kind = "migration_slow"  // ... outlast the plan's timeout
	Overlap        Kind = "overlapping_upgrades"
	PluginKill     Kind = "plugin_kill"      // SIGKILL a plugin process
	PluginHang     Kind = "plugin_hang"      // a message a plugin version's handler hangs on, past its call deadline
	Overflow       Kind = "mailbox_overflow" // a burst of Config.Burst messages to one worker (bounded mailboxes refuse or drop)
)

// Kinds lists every kind of fault, in a fixed order.
var Kinds = []Kind{Kill, Panic, KillSupervisor, Slow, Upgrade, MigrationFail, MigrationPanic,
	MigrationSlow, Overlap, PluginKill, PluginHang, Overflow}

// DefaultWeights are the relative frequencies of faults when Config.Weights
// is nil. Faults that cost real time (a plugin restart, a call deadline)
// are rarer.
var DefaultWeights = map[Kind]int{
	Kill: 30, Panic: 30, KillSupervisor: 4, Slow: 8, Upgrade: 10, MigrationFail: 3,
	MigrationPanic: 3, MigrationSlow: 1, Overlap: 2, PluginKill: 1, PluginHang: 1, Overflow: 4,
}

// Config is one chaos run. The zero value of every field but Module has a
// default.
type Config struct {
	// Seed makes the fault schedule (kinds, targets, modes, in order);
	// 0 picks one from the time. The run prints it; the same seed gives the
	// same schedule (the interleavings of goroutines still vary).
	Seed uint64
	// Faults stops the run after this many faults (default 1,000);
	// Duration, if set, after this long, whichever comes first.
	Faults   int
	Duration time.Duration
	// Module is the module under test: the workers of the tree that run
	// it receive the load and the faults.
	Module string
	// Versions of Module to move between with Upgrade faults (up and down
	// in every mode); fewer than two disables the upgrade faults.
	Versions []*actor.Version
	// Weights of the kinds of fault (default DefaultWeights). A kind the
	// system cannot take (no supervisor below the root, no plugin version,
	// no Versions) is skipped.
	Weights map[Kind]int
	// Senders and Rate: the load, Rate messages per second in all
	// (defaults 4 and 20,000).
	Senders int
	Rate    int
	// Interval between faults (default 1 ms).
	Interval time.Duration
	// Burst is the size of an Overflow fault (default 0: none).
	Burst int
	// UpgradeTimeout is the plans' timeout (default 1 s); SlowDelay how
	// long a Slow message takes (default 5 ms); HangFor how long a
	// PluginHang message takes, which must exceed the plugin loader's call
	// timeout (default 6 s, past the loader's default 5 s).
	UpgradeTimeout time.Duration
	SlowDelay      time.Duration
	HangFor        time.Duration
	// Settle bounds the wait, after the load stops, for every message to
	// be handled or reported (default 30 s).
	Settle time.Duration
	// Shutdown shuts the system down at the end and checks that no
	// goroutine and no plugin process outlived it.
	Shutdown bool
	// Out receives the summary (nil: none).
	Out io.Writer
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Faults == 0 && c.Duration == 0 {
		c.Faults = 1000
	}
	if c.Weights == nil {
		c.Weights = DefaultWeights
	}
	c.Senders = cmpOr(c.Senders, 4)
	c.Rate = cmpOr(c.Rate, 20_000)
	c.Interval = cmpOr(c.Interval, time.Millisecond)
	c.UpgradeTimeout = cmpOr(c.UpgradeTimeout, time.Second)
	c.SlowDelay = cmpOr(c.SlowDelay, 5*time.Millisecond)
	c.HangFor = cmpOr(c.HangFor, 6*time.Second)
	c.Settle = cmpOr(c.Settle, 30*time.Second)
}

func cmpOr[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// ErrInvalidConfig reports a Config Run cannot use.
var ErrInvalidConfig = errors.New("chaos: invalid config")

// Run drives sys under load and injects faults from a seeded schedule into
// the tree under root, then stops the load, waits until every message was
// handled or reported, and checks the invariants (see Result). The system
// must be running root's tree with workers of cfg.Module; Run takes the
// system's OnHandled observer for its duration.
//
// The returned error is about the run itself (a bad config, the observer
// taken); invariant violations are in the Result (Result.Err).
func Run(ctx context.Context, sys *actor.System, root *supervisor.Handle, cfg Config) (*Result, error) {
	cfg.defaults()
	if cfg.Module == "" {
		return nil, fmt.Errorf("%w: no module", ErrInvalidConfig)
	}
	r := &run{sys: sys, root: root, cfg: cfg, led: newLedger(),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), flags: map[actor.PID]supervisor.Flags{},
		res: &Result{Seed: cfg.Seed, Faults: map[Kind]int{}, Upgrades: map[string]int{}}, pluginPIDs: map[int]bool{}}
	var leaks goleak.Option
	if cfg.Shutdown {
		leaks = goleak.IgnoreCurrent()
	}
	stopObserving, err := r.observe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := r.refresh(ctx); err != nil {
		stopObserving()
		return nil, err
	}
	if len(r.targets()) == 0 {
		stopObserving()
		return nil, fmt.Errorf("%w: no worker of module %s under %v", ErrInvalidConfig, cfg.Module, root.PID())
	}
	load := r.startLoad()
	r.inject(ctx, start)
	load()
	r.settle(ctx)
	stopObserving()
	r.res.Elapsed = time.Since(start)
	r.check(ctx)
	if cfg.Shutdown {
		r.checkShutdown(ctx, leaks)
	}
	if cfg.Out != nil {
		fmt.Fprint(cfg.Out, r.res)
	}
	return r.res, nil
}

// run is one chaos run's state.
type run struct {
	sys  *actor.System
	root *supervisor.Handle
	cfg  Config
	led  *ledger
	rng  *rand.Rand // the schedule; used by the injector goroutine only
	res  *Result

	tmu    sync.Mutex
	keys   map[string]int       // guarded by tmu: target key → index
	cur    atomic.Pointer[view] // the tree as last walked
	flags  map[actor.PID]supervisor.Flags
	injSeq []uint64 // per target, the injector's own sequence (sender -1)

	emu        sync.Mutex
	restarts   map[actor.PID][]time.Time // guarded by emu: restarts by supervisor
	escalated  map[actor.PID]bool        // guarded by emu
	panics     int                       // guarded by emu
	pluginPIDs map[int]bool              // OS PIDs of plugin processes seen
	timeouts   atomic.Int64
}

// view is the tree as last walked: the workers (by target index; zero PID
// while restarting) and the supervisors below the root.
type view struct {
	workers []actor.PID
	sups    []actor.PID
}

func (r *run) targets() []actor.PID { return r.cur.Load().workers }

// observe accounts for every consumed message, dead letter and restart.
func (r *run) observe() (cancel func(), err error) {
	stopHandled, err := r.sys.OnHandled(func(pid actor.PID, msg any) {
		if m, ok := msg.(fault.Msg); ok {
			r.led.mark(m, handled, pid)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	r.restarts, r.escalated = map[actor.PID][]time.Time{}, map[actor.PID]bool{}
	stopEvents := r.sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case actor.DeadLetter:
			if m, ok := e.Message.(fault.Msg); ok {
				r.led.mark(m, dead, actor.PID{})
			}
		case supervisor.ChildStarted:
			if e.Restart {
				r.emu.Lock()
				r.restarts[e.Supervisor] = append(r.restarts[e.Supervisor], r.sys.Clock().Now())
				r.emu.Unlock()
			}
		case supervisor.MaxIntensityReached:
			r.emu.Lock()
			r.escalated[e.Supervisor] = true
			r.emu.Unlock()
		case actor.ProcessExited:
			var pe *actor.PanicError
			if errors.As(e.Reason, &pe) {
				r.emu.Lock()
				r.panics++
				r.emu.Unlock()
			}
		}
	})
	return func() { stopHandled(); stopEvents() }, nil
}

// refresh walks the tree from the root and updates the view. Workers keep
// their target index across restarts (keyed by their place in the tree).
func (r *run) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	v := &view{}
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if r.keys == nil {
		r.keys = map[string]int{}
	}
	if old := r.cur.Load(); old != nil {
		v.workers = make([]actor.PID, len(old.workers))
	}
	var walk func(h *supervisor.Handle, path string) error
	walk = func(h *supervisor.Handle, path string) error {
		if _, ok := r.flags[h.PID()]; !ok {
			f, err := h.Flags(ctx)
			if err != nil {
				return err
			}
			r.flags[h.PID()] = f
		}
		children, err := h.WhichChildren(ctx)
		if err != nil {
			return err
		}
		seen := map[string]int{}
		for _, c := range children {
			key := fmt.Sprintf("%s/%s#%d", path, c.ID, seen[c.ID])
			seen[c.ID]++
			switch {
			case c.Type == supervisor.Supervisor && !c.PID.IsZero():
				v.sups = append(v.sups, c.PID)
				if err := walk(supervisor.Of(r.sys, c.PID), key); err != nil {
					return err
				}
			case c.Type == supervisor.Worker && c.Module == r.cfg.Module:
				i, ok := r.keys[key]
				if !ok {
					i = len(r.keys)
					r.keys[key] = i
					r.injSeq = append(r.injSeq, 0)
				}
				for len(v.workers) <= i {
					v.workers = append(v.workers, actor.PID{})
				}
				v.workers[i] = c.PID
			}
		}
		return nil
	}
	if err := walk(r.root, ""); err != nil {
		if r.cur.Load() == nil {
			return err
		}
		return nil // keep the last view: the tree is held by an upgrade, say
	}
	r.cur.Store(v)
	return nil
}

// startLoad starts the senders and a goroutine that keeps the view fresh;
// the returned function stops them and waits.
func (r *run) startLoad() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	perTick := max(r.cfg.Rate/r.cfg.Senders/1000, 1)
	for s := range r.cfg.Senders {
		wg.Go(func() {
			seq := map[int]uint64{}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			next := 0
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				workers := r.targets()
				for range perTick {
					i := next % len(workers)
					next++
					if workers[i].IsZero() {
						continue
					}
					seq[i]++
					r.send(workers[i], fault.Msg{Sender: s, Seq: seq[i], Target: i})
				}
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = r.refresh(context.Background())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// send sends a tagged message and records whether it was taken.
func (r *run) send(pid actor.PID, m fault.Msg) {
	if err := r.sys.Send(pid, m); err != nil {
		r.led.mark(m, refused, actor.PID{})
		return
	}
	r.led.mark(m, sent, actor.PID{})
}

// injectorSender is the Sender of the messages the injector sends itself.
const injectorSender = -1

// injSend sends a tagged message from the injector to target i.
func (r *run) injSend(i int, m fault.Msg) {
	pid := r.targets()[i]
	r.tmu.Lock()
	r.injSeq[i]++
	m.Sender, m.Seq, m.Target = injectorSender, r.injSeq[i], i
	r.tmu.Unlock()
	if pid.IsZero() {
		r.led.mark(m, refused, actor.PID{})
		return
	}
	r.send(pid, m)
}

// inject runs the fault schedule until the fault count or the duration is
// reached.
func (r *run) inject(ctx context.Context, start time.Time) {
	kinds, total := r.kinds()
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for n := 0; r.cfg.Faults == 0 || n < r.cfg.Faults; {
		if r.cfg.Duration > 0 && time.Since(start) >= r.cfg.Duration || ctx.Err() != nil {
			return
		}
		<-tick.C
		pick := r.rng.IntN(total)
		k := kinds[0]
		for _, c := range kinds {
			if pick < r.cfg.Weights[c] {
				k = c
				break
			}
			pick -= r.cfg.Weights[c]
		}
		if r.do(ctx, k) {
			r.res.Faults[k]++
			n++
		}
	}
}

// kinds lists the kinds of fault this system can take, with their total
// weight.
func (r *run) kinds() ([]Kind, int) {
	var out []Kind
	total := 0
	for _, k := range Kinds {
		w := r.cfg.Weights[k]
		switch k {
		case Upgrade, MigrationFail, MigrationPanic, MigrationSlow, Overlap:
			if len(r.cfg.Versions) < 2 {
				w = 0
			}
		case Overflow:
			if r.cfg.Burst <= 0 {
				w = 0
			}
		}
		if w > 0 {
			out = append(out, k)
			total += w
		}
	}
	if total == 0 {
		return []Kind{Kill}, 1
	}
	return out, total
}

// do injects one fault of kind k; false if the system offered no place
// for it right now (then it does not count).
func (r *run) do(ctx context.Context, k Kind) bool {
	workers := r.targets()
	i := r.rng.IntN(len(workers))
	switch k {
	case Kill:
		return !workers[i].IsZero() && r.sys.Kill(workers[i]) == nil
	case Panic:
		r.injSend(i, fault.Msg{Fault: fault.Panic})
	case Slow:
		r.injSend(i, fault.Msg{Fault: fault.Slow, Delay: r.cfg.SlowDelay})
		cctx, cancel := context.WithTimeout(ctx, r.cfg.SlowDelay/5)
		_, err := r.sys.Call(cctx, workers[i], fault.Msg{Untracked: true})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			r.timeouts.Add(1)
		}
	case KillSupervisor:
		sups := r.cur.Load().sups
		if len(sups) == 0 {
			return false
		}
		return r.sys.Kill(sups[r.rng.IntN(len(sups))]) == nil
	case Upgrade:
		// Four kinds of plan: atomic, lazy, rolling, and a dry run of an
		// atomic one.
		mode := upgrade.Mode(r.rng.IntN(4))
		r.upgradeTo(ctx, r.nextVersion(), mode%3, fault.Migration{}, mode == 3)
	case MigrationFail, MigrationPanic, MigrationSlow:
		m := map[Kind]fault.Migration{MigrationFail: {Fault: fault.Fail}, MigrationPanic: {Fault: fault.Panic},
			MigrationSlow: {Fault: fault.Slow, Delay: 2 * r.cfg.UpgradeTimeout}}[k]
		if migrated := r.upgradeMigrating(ctx, m); migrated != "" {
			r.res.violate(checkRollback, "an upgrade whose migrations were told to %s committed a migration: %s", m.Fault, migrated)
		}
	case Overlap:
		// The versions are drawn here, not in the goroutines: the schedule
		// must not depend on which one runs first.
		a, b := r.nextVersion(), r.nextVersion()
		var wg sync.WaitGroup
		for _, to := range []*actor.Version{a, b} {
			wg.Go(func() { r.upgradeTo(ctx, to, upgrade.Atomic, fault.Migration{}, false) })
		}
		wg.Wait()
	case PluginKill:
		procs := r.runningPlugins()
		if len(procs) == 0 {
			return false
		}
		return syscall.Kill(procs[r.rng.IntN(len(procs))], syscall.SIGKILL) == nil
	case PluginHang:
		if !r.currentIsPlugin() {
			return false
		}
		r.injSend(i, fault.Msg{Fault: fault.Hang, Delay: r.cfg.HangFor})
	case Overflow:
		for range r.cfg.Burst {
			r.injSend(i, fault.Msg{})
		}
	}
	return true
}

// upgrade moves the module to the next version in mode; the schedule
// decides the version (nextVersion draws from rng).
func (r *run) upgrade(ctx context.Context, mode upgrade.Mode, m fault.Migration) *upgrade.Report {
	return r.upgradeTo(ctx, r.nextVersion(), mode, m, false)
}

// upgradeMigrating makes an atomic upgrade whose migrations are told to
// misbehave, and returns a process that migrated anyway, if any. (The
// upgrade may commit with no migration at all: when every process already
// runs the target version, after a lazy upgrade that did not converge.)
func (r *run) upgradeMigrating(ctx context.Context, m fault.Migration) string {
	rep := r.upgrade(ctx, upgrade.Atomic, m)
	if rep == nil || rep.Outcome != upgrade.Committed {
		return ""
	}
	for _, p := range rep.Processes {
		if p.Result == upgrade.Migrated {
			return fmt.Sprintf("%v from %s to %s", p.PID, p.From, p.To)
		}
	}
	return ""
}

func (r *run) nextVersion() *actor.Version {
	cur, _ := r.sys.Current(r.cfg.Module)
	others := slices.DeleteFunc(slices.Clone(r.cfg.Versions), func(v *actor.Version) bool { return v == cur })
	return others[r.rng.IntN(len(others))]
}

func (r *run) upgradeTo(ctx context.Context, to *actor.Version, mode upgrade.Mode, m fault.Migration, dryRun bool) *upgrade.Report {
	plan := upgrade.Plan{Mode: mode, DryRun: dryRun, Timeout: r.cfg.UpgradeTimeout,
		Changes: []upgrade.Change{{Module: r.cfg.Module, To: to, Extra: m}}}
	if mode == upgrade.Rolling {
		plan.Waves = []float64{0.5, 1}
		plan.Gate = upgrade.Gate{Observe: time.Millisecond, MaxCrashes: 1 << 30}
	}
	rep, err := r.root.Upgrade(ctx, plan)
	key := mode.String() + " "
	if dryRun {
		key = "dry_run "
	}
	switch {
	case errors.Is(err, upgrade.ErrInProgress):
		key += "refused_in_progress"
	case errors.Is(err, upgrade.ErrInvalidPlan):
		key += "invalid" // e.g. rolling to a version without Downgrade
	case rep != nil:
		key += rep.Outcome.String()
	default:
		key += "failed"
	}
	r.emu.Lock()
	r.res.Upgrades[key]++
	if err != nil && m.Fault == "" && len(r.res.UpgradeErrors) < 5 && !errors.Is(err, upgrade.ErrInProgress) {
		r.res.UpgradeErrors = append(r.res.UpgradeErrors, err.Error())
	}
	r.emu.Unlock()
	return rep
}

// runningPlugins returns the OS PIDs of the plugin processes running now,
// remembering them for the leak check.
func (r *run) runningPlugins() []int {
	var out []int
	for _, p := range plugin.Processes(r.sys) {
		if p.OSPID != 0 {
			out = append(out, p.OSPID)
			r.emu.Lock()
			r.pluginPIDs[p.OSPID] = true
			r.emu.Unlock()
		}
	}
	return out
}

func (r *run) currentIsPlugin() bool {
	cur, ok := r.sys.Current(r.cfg.Module)
	if !ok {
		return false
	}
	for _, p := range plugin.Processes(r.sys) {
		if p.Module == r.cfg.Module && p.Version == cur.Name() {
			return true
		}
	}
	return false
}

// settle waits for the system to come to rest: every worker gets a
// message (so that a lazy upgrade's stragglers migrate, and a migration
// that failed for a passing reason, a plugin restarting, is tried again),
// then Run waits until every message sent was handled or reported; rounds
// repeat until every worker runs the current version, or cfg.Settle
// passes.
func (r *run) settle(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.Settle)
	defer deadline.Stop()
	look := time.NewTicker(5 * time.Millisecond)
	defer look.Stop()
	for {
		_ = r.refresh(ctx)
		for i, pid := range r.targets() {
			if !pid.IsZero() {
				r.injSend(i, fault.Msg{})
			}
		}
		// No event says "that was the last one": look at the ledger now
		// and then until nothing is pending.
		for r.led.tally().pending > 0 {
			select {
			case <-look.C:
			case <-deadline.C:
				return
			case <-ctx.Done():
				return
			}
		}
		if ok, _ := r.converged(ctx); ok {
			break
		}
		select {
		case <-look.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
	_ = r.refresh(ctx)
	r.runningPlugins()
}

// Keys of the invariants, in the order they are reported.
const (
	checkAccounted = "every message handled once or reported (none lost, none duplicated)"
	checkOrder     = "per-sender order kept by each receiving process"
	checkConverged = "one version per module at the end"
	checkIntensity = "restart intensity respected"
	checkRollback  = "migration faults roll back"
	checkHost      = "host alive; user panics were exit reasons"
	checkLeaks     = "no goroutine or plugin process outlived the system"
)

func (r *run) check(ctx context.Context) {
	t := r.led.tally()
	res := r.res
	res.Sent, res.Refused, res.Handled, res.DeadLetters = t.sent, t.refused, t.handled, t.dead
	res.Lost, res.Duplicated, res.OutOfOrder = t.pending, t.duplicates+t.handledAndDead, t.disorder
	res.Timeouts = r.timeouts.Load()
	r.emu.Lock()
	for _, ts := range r.restarts {
		res.Restarts += len(ts)
	}
	res.Panics = r.panics
	r.emu.Unlock()

	detail := fmt.Sprintf("%d sent: %d handled, %d dead letters, %d lost, %d duplicated", t.sent, t.handled, t.dead, t.pending, res.Duplicated)
	if t.firstProblem != "" {
		detail += "; first: " + t.firstProblem
	}
	if len(t.lostSample) > 0 {
		names := r.targetNames()
		var lost []string
		for _, m := range t.lostSample {
			lost = append(lost, fmt.Sprintf("%s from sender %d seq %d", names[m.target], m.sender, m.seq))
		}
		detail += "; lost, e.g.: " + strings.Join(lost, ", ")
	}
	res.add(checkAccounted, t.pending == 0 && res.Duplicated == 0, detail)
	res.add(checkOrder, t.disorder == 0, fmt.Sprintf("%d handled out of order", t.disorder))
	ok, d := r.converged(ctx)
	res.add(checkConverged, ok, d)
	ok, d = r.intensityRespected()
	res.add(checkIntensity, ok, d)
	if !res.has(checkRollback) {
		res.add(checkRollback, true, fmt.Sprintf("%d injected", res.Faults[MigrationFail]+res.Faults[MigrationPanic]+res.Faults[MigrationSlow]))
	}
	res.add(checkHost, true, fmt.Sprintf("%d panics became exit reasons", res.Panics))
}

// targetNames returns the workers' places in the tree, by target index.
func (r *run) targetNames() map[int]string {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	out := make(map[int]string, len(r.keys))
	for k, i := range r.keys {
		out[i] = k
	}
	return out
}

// converged checks that every worker runs the module's current version.
func (r *run) converged(ctx context.Context) (bool, string) {
	cur, ok := r.sys.Current(r.cfg.Module)
	if !ok {
		return false, "module not loaded"
	}
	versions := map[string]int{}
	for _, pid := range r.targets() {
		if pid.IsZero() {
			continue
		}
		info, err := r.sys.Info(ctx, pid)
		if err != nil {
			continue // exited since: restarted on the current version
		}
		versions[info.Version]++
	}
	ok = len(versions) == 1 && versions[cur.Name()] > 0
	return ok, fmt.Sprintf("current %s; workers by version %v", cur.Name(), versions)
}

// intensityRespected checks that no supervisor restarted more children
// within its period than its intensity allows (it must escalate instead).
func (r *run) intensityRespected() (bool, string) {
	r.emu.Lock()
	defer r.emu.Unlock()
	worst := ""
	for sup, ts := range r.restarts {
		f, ok := r.flags[sup]
		if !ok {
			continue // restarted supervisor whose flags were not read: same spec
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		lo := 0
		for hi := range ts {
			// The events are stamped just after the supervisor's own
			// reading of the clock: a millisecond of slack.
			for ts[hi].Sub(ts[lo]) > f.Period-time.Millisecond {
				lo++
			}
			if n := hi - lo + 1; n > f.Intensity {
				worst = fmt.Sprintf("%v restarted %d children within %v (intensity %d)", sup, n, f.Period, f.Intensity)
			}
		}
	}
	if worst != "" {
		return false, worst
	}
	return true, fmt.Sprintf("%d restarts, %d supervisors gave up", r.res.Restarts, len(r.escalated))
}

// checkShutdown shuts the system down and checks that nothing it started
// outlived it.
func (r *run) checkShutdown(ctx context.Context, leaks goleak.Option) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Settle)
	defer cancel()
	if err := r.sys.Shutdown(ctx); err != nil {
		r.res.add(checkLeaks, false, "shutdown: "+err.Error())
		return
	}
	var alive []string
	for pid := range r.pluginPIDs {
		if plugintest.Running(pid) {
			alive = append(alive, fmt.Sprint(pid))
		}
	}
	err := goleak.Find(leaks)
	ok := len(alive) == 0 && err == nil
	detail := fmt.Sprintf("%d plugin processes seen, all gone", len(r.pluginPIDs))
	if len(alive) > 0 {
		detail = "plugin processes alive: " + strings.Join(alive, ", ")
	}
	if err != nil {
		detail += "; " + err.Error()
	}
	r.res.add(checkLeaks, ok, detail)
}
