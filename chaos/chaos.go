package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
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
)

// Kind is a kind of fault.
type Kind string

// The faults. Those that need the code under test to cooperate say so:
// handlers must call fault.Act on a fault.Msg, migrations
// fault.ActCodeChange and fault.ActDowngrade (or fault.ActMigration in
// both) on their extra.
const (
	Kill           Kind = "kill"            // System.Kill a worker
	Panic          Kind = "panic"           // a message its handler panics on (fault.Act)
	KillSupervisor Kind = "kill_supervisor" // System.Kill a supervisor below the root: its subtree restarts
	Slow           Kind = "slow"            // a message its handler takes long on (fault.Act), and a call that meets its deadline behind it
	Upgrade        Kind = "upgrade"         // a plan moving one, several or all modules to other versions: mode and policies at random
	MigrationFail  Kind = "migration_fail"  // an atomic or rolling plan whose migrations fail (fault.ActCodeChange, fault.ActDowngrade): rolled back
	MigrationPanic Kind = "migration_panic" // ... panic
	MigrationSlow  Kind = "migration_slow"  // ... outlast the plan's timeout
	// DowngradeFail is a plan whose Downgrade migrations fail or panic
	// (fault.ActDowngrade): an atomic downgrade, or a rolling upgrade whose
	// gate then fails, so that rolling its finished waves back fails
	// (OnRollbackFailure at random).
	DowngradeFail Kind = "downgrade_fail"
	GateError     Kind = "gate_error" // a rolling plan whose gate check fails at a wave the schedule picks: rolled back
	GatePanic     Kind = "gate_panic" // ... panics
	Overlap       Kind = "overlapping_upgrades"
	PluginKill    Kind = "plugin_kill"      // SIGKILL a plugin process
	PluginHang    Kind = "plugin_hang"      // a message a plugin version's handler hangs on, past its call deadline
	Overflow      Kind = "mailbox_overflow" // a burst of Config.Burst messages to one worker (bounded mailboxes refuse or drop)
)

// Kinds lists every kind of fault, in a fixed order.
var Kinds = []Kind{Kill, Panic, KillSupervisor, Slow, Upgrade, MigrationFail, MigrationPanic,
	MigrationSlow, DowngradeFail, GateError, GatePanic, Overlap, PluginKill, PluginHang, Overflow}

// DefaultWeights are the relative frequencies of faults when Config.Weights
// is nil. Faults that cost real time (a plugin restart, a call deadline)
// are rarer.
var DefaultWeights = map[Kind]int{
	Kill: 30, Panic: 30, KillSupervisor: 4, Slow: 8, Upgrade: 10, MigrationFail: 3,
	MigrationPanic: 3, MigrationSlow: 1, DowngradeFail: 3, GateError: 2, GatePanic: 2,
	Overlap: 2, PluginKill: 1, PluginHang: 1, Overflow: 4,
}

// Module is a module under test and the versions a run moves it between.
type Module struct {
	Name     string
	Versions []*actor.Version
}

// Config is one chaos run. The zero value of every field but Module has a
// default.
type Config struct {
	// Seed makes the fault schedule (kinds, targets, modes, in order);
	// 0 picks one from the time. The run prints it; the same seed gives the
	// same schedule (the interleavings of goroutines still vary).
	Seed uint64
	// Faults stops the run after this many faults (default 1,000, unless
	// Duration or Stop is set); Duration, if set, after this long; Stop,
	// if set, when it is closed: whichever comes first. Any of them ends
	// the schedule the same way: the load stops, the system settles and
	// the invariants are checked (cancelling Run's context instead cuts
	// the settling short).
	Faults   int
	Duration time.Duration
	Stop     <-chan struct{}
	// Module is the module under test: the workers of the tree that run
	// it receive the load and the faults.
	Module string
	// Versions of Module to move between with the plans (up and down in
	// every mode); fewer than two leaves Module out of the plans.
	Versions []*actor.Version
	// Modules are further modules under test, with their versions: their
	// workers take the load and the faults too, and each plan changes one,
	// several or all of the modules at once (all commit together or
	// none).
	Modules []Module
	// Idle is the share of workers that the load and the faults that send
	// messages leave alone, a set drawn again every IdleFor faults
	// (defaults 0.2 and 500; a negative Idle: none). A lazy upgrade leaves
	// an idle worker on its version, so later plans meet it as a
	// straggler.
	Idle    float64
	IdleFor int
	// Weights of the kinds of fault (default DefaultWeights). A kind the
	// system cannot take (no supervisor below the root, no plugin version,
	// no module with two versions) is skipped.
	Weights map[Kind]int
	// Senders and Rate: the load, Rate messages per second in all
	// (defaults 4 and 20,000).
	Senders int
	Rate    int
	// Interval between faults (default 1 ms).
	Interval time.Duration
	// Burst is the size of an Overflow fault (default 0: none).
	Burst int
	// UpgradeTimeout is the plans' timeout (default 1 s; a quarter of it
	// for lazy plans, whose wait for convergence idle workers make them
	// sit out in full); SlowDelay how long a Slow message takes (default
	// 5 ms); HangFor how long a PluginHang message takes, which must
	// exceed the plugin loader's call timeout (default 6 s, past the
	// loader's default 5 s).
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
	// OnHandled, if set, is called with every message a process consumed
	// while Run watches them (Run takes the system's OnHandled observer:
	// from before the load starts until the system has settled), after
	// Run's own accounting, on the goroutine of the process that consumed
	// it. It lets a caller that must watch the same messages do so (the
	// cluster's chaos run accounts this way for the messages other nodes
	// send). Its first call means Run is watching. A panic in it is
	// recovered and fails the host check.
	OnHandled func(pid actor.PID, msg any)
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Faults == 0 && c.Duration == 0 && c.Stop == nil {
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
	if c.Idle == 0 {
		c.Idle = 0.2
	}
	c.IdleFor = cmpOr(c.IdleFor, 500)
}

func cmpOr[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// ErrInvalidConfig reports a Config Run cannot use.
var ErrInvalidConfig = errors.New("chaos: invalid config")

// modules returns the modules under test, Module first.
func (c *Config) modules() ([]Module, error) {
	if c.Module == "" {
		return nil, fmt.Errorf("%w: no module", ErrInvalidConfig)
	}
	mods := append([]Module{{Name: c.Module, Versions: c.Versions}}, c.Modules...)
	seen := map[string]bool{}
	for _, m := range mods {
		switch {
		case m.Name == "":
			return nil, fmt.Errorf("%w: a module without a name", ErrInvalidConfig)
		case seen[m.Name]:
			return nil, fmt.Errorf("%w: module %s twice", ErrInvalidConfig, m.Name)
		}
		seen[m.Name] = true
		for _, v := range m.Versions {
			if v == nil || v.Module() != m.Name {
				return nil, fmt.Errorf("%w: %v is not a version of module %s", ErrInvalidConfig, v, m.Name)
			}
		}
	}
	return mods, nil
}

// Run drives sys under load and injects faults from a seeded schedule into
// the tree under root, then stops the load, waits until every message was
// handled or reported, and checks the invariants (see Result). The system
// must be running root's tree with workers of the modules under test
// (cfg.Module and cfg.Modules); Run takes the system's OnHandled observer
// for its duration.
//
// The returned error is about the run itself (a bad config, the observer
// taken); invariant violations are in the Result (Result.Err).
func Run(ctx context.Context, sys *actor.System, root *supervisor.Handle, cfg Config) (*Result, error) {
	cfg.defaults()
	mods, err := cfg.modules()
	if err != nil {
		return nil, err
	}
	r := &run{sys: sys, root: root, cfg: cfg, mods: mods, modIndex: map[string]int{}, led: newLedger(),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), flags: map[actor.PID]supervisor.Flags{},
		res: newResult(cfg.Seed), pluginPIDs: map[int]bool{}, kept: map[actor.PID]bool{}}
	for i, m := range mods {
		r.modIndex[m.Name] = i
	}
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
		return nil, fmt.Errorf("%w: no worker of %s under %v", ErrInvalidConfig, r.moduleNames(), root.PID())
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
	sys      *actor.System
	root     *supervisor.Handle
	cfg      Config
	mods     []Module       // the modules under test, cfg.Module first
	modIndex map[string]int // name → index in mods
	led      *ledger
	rng      *rand.Rand // the schedule; used by the injector goroutine only
	res      *Result    // Faults written by the injector; the rest by plans under emu, then by Run once they have ended

	tmu    sync.Mutex
	keys   map[string]int       // guarded by tmu: target key → index
	tmods  []int                // guarded by tmu: per target, its module's index in mods
	cur    atomic.Pointer[view] // the tree as last walked
	idle   atomic.Pointer[[]bool]
	flags  map[actor.PID]supervisor.Flags // used by refresh only (one goroutine at a time)
	injSeq []uint64                       // guarded by tmu: per target, the injector's own sequence (sender -1)

	// plans runs the plan (or the pair of overlapping plans) under way,
	// while the injector goes on with other faults; the next plan waits
	// for it.
	plans sync.WaitGroup

	emu        sync.Mutex
	restarts   map[actor.PID][]time.Time // guarded by emu: restarts by supervisor
	escalated  map[actor.PID]bool        // guarded by emu
	panics     int                       // guarded by emu
	loads      []actor.VersionLoaded     // guarded by emu: every change of a current version, in order
	kept       map[actor.PID]bool        // guarded by emu: left on a plan's version by a failed rollback (KeepOnRollbackFailure)
	pluginPIDs map[int]bool              // guarded by emu: OS PIDs of plugin processes seen
	timeouts   atomic.Int64
}

// view is the tree as last walked: the workers (by target index; zero PID
// while restarting) with their modules, and the supervisors below the
// root.
type view struct {
	workers []actor.PID
	mods    []int // per worker, its module's index in run.mods
	sups    []actor.PID
}

func (r *run) targets() []actor.PID { return r.cur.Load().workers }

func (r *run) moduleNames() []string {
	out := make([]string, len(r.mods))
	for i, m := range r.mods {
		out[i] = m.Name
	}
	return out
}

// observe accounts for every consumed message, dead letter, restart and
// change of a current version.
func (r *run) observe() (cancel func(), err error) {
	hook := r.cfg.OnHandled
	stopHandled, err := r.sys.OnHandled(func(pid actor.PID, msg any) {
		if m, ok := msg.(fault.Msg); ok {
			r.led.mark(m, handled, pid)
		}
		if hook != nil {
			r.callOnHandled(hook, pid, msg)
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
		case actor.VersionLoaded:
			// Reported on the goroutine that made the version current,
			// before its upgrade returns: a plan's checks see its loads.
			r.emu.Lock()
			r.loads = append(r.loads, e)
			r.emu.Unlock()
		case upgrade.LoaderProcessStarted:
			// Every plugin process started during the run, even one that
			// crashed before anything listed it: the leak check covers it.
			if e.OSPID != 0 {
				r.emu.Lock()
				r.pluginPIDs[e.OSPID] = true
				r.emu.Unlock()
			}
		}
	})
	return func() { stopHandled(); stopEvents() }, nil
}

// callOnHandled calls the caller's observer (Config.OnHandled), which is
// user code: a panic in it must not take Run's own observer down with it
// (the runtime removes an observer that panics), so it is recovered here
// and reported.
func (r *run) callOnHandled(hook func(actor.PID, any), pid actor.PID, msg any) {
	defer func() {
		if p := recover(); p != nil {
			r.violate(checkHost, "Config.OnHandled panicked: %v", p)
		}
	}()
	hook(pid, msg)
}

// refresh walks the tree from the root and updates the view. Workers keep
// their target index across restarts (keyed by their place in the tree).
// The walk asks supervisors, which a plan may hold for a while: it keeps
// no lock meanwhile, so that the injector's sends go on. It runs on one
// goroutine at a time (the view's refresher, or Run's own before and
// after the load).
func (r *run) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	type worker struct {
		key string
		mod int
		pid actor.PID
	}
	var workers []worker
	var sups []actor.PID
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
			mod, underTest := r.modIndex[c.Module]
			switch {
			case c.Type == supervisor.Supervisor && !c.PID.IsZero():
				sups = append(sups, c.PID)
				if err := walk(supervisor.Of(r.sys, c.PID), key); err != nil {
					return err
				}
			case c.Type == supervisor.Worker && underTest:
				workers = append(workers, worker{key, mod, c.PID})
			}
		}
		return nil
	}
	if err := walk(r.root, ""); err != nil {
		old := r.cur.Load()
		if old == nil {
			return err
		}
		// The tree is held by a plan, say: keep the last view, without the
		// workers that have exited since (the load skips them until their
		// restarts are seen).
		v := &view{workers: slices.Clone(old.workers), mods: old.mods, sups: old.sups}
		for i, pid := range v.workers {
			if _, alive := r.sys.VersionOf(pid); !pid.IsZero() && !alive {
				v.workers[i] = actor.PID{}
			}
		}
		r.cur.Store(v)
		return nil
	}
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if r.keys == nil {
		r.keys = map[string]int{}
	}
	v := &view{sups: sups}
	if old := r.cur.Load(); old != nil {
		v.workers = make([]actor.PID, len(old.workers))
	}
	for _, w := range workers {
		i, ok := r.keys[w.key]
		if !ok {
			i = len(r.keys)
			r.keys[w.key] = i
			r.injSeq = append(r.injSeq, 0)
			r.tmods = append(r.tmods, w.mod)
		}
		for len(v.workers) <= i {
			v.workers = append(v.workers, actor.PID{})
		}
		v.workers[i] = w.pid
	}
	v.mods = slices.Clone(r.tmods[:len(v.workers)])
	r.cur.Store(v)
	return nil
}

// isIdle reports whether target i is in the idle set.
func (r *run) isIdle(i int) bool {
	idle := r.idle.Load()
	return idle != nil && i < len(*idle) && (*idle)[i]
}

// drawIdle draws the next idle set (injector only).
func (r *run) drawIdle() {
	idle := make([]bool, len(r.targets()))
	for i := range idle {
		idle[i] = r.rng.Float64() < r.cfg.Idle
	}
	r.idle.Store(&idle)
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
					if workers[i].IsZero() || r.isIdle(i) {
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
// reached, then waits for the plan under way.
func (r *run) inject(ctx context.Context, start time.Time) {
	defer r.plans.Wait()
	kinds, total := r.kinds()
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	idleDrawn := -1
	for n := 0; r.cfg.Faults == 0 || n < r.cfg.Faults; {
		if r.cfg.Duration > 0 && time.Since(start) >= r.cfg.Duration || ctx.Err() != nil || r.stopped() {
			return
		}
		if r.cfg.Idle > 0 && n%r.cfg.IdleFor == 0 && n != idleDrawn {
			r.drawIdle()
			idleDrawn = n
		}
		select {
		case <-tick.C:
		case <-r.cfg.Stop: // nil: never
			return
		}
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

// stopped reports whether Config.Stop is closed.
func (r *run) stopped() bool {
	select {
	case <-r.cfg.Stop:
		return true
	default:
		return false
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
		case Upgrade, MigrationFail, MigrationPanic, MigrationSlow, DowngradeFail, GateError, GatePanic, Overlap:
			if len(r.upgradable()) == 0 {
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

// pickBusy draws a target outside the idle set (any target if all are
// idle).
func (r *run) pickBusy() int {
	workers := r.targets()
	busy := make([]int, 0, len(workers))
	for i := range workers {
		if !r.isIdle(i) {
			busy = append(busy, i)
		}
	}
	if len(busy) == 0 {
		return r.rng.IntN(len(workers))
	}
	return busy[r.rng.IntN(len(busy))]
}

// do injects one fault of kind k; false if the system offered no place
// for it right now (then it does not count).
func (r *run) do(ctx context.Context, k Kind) bool {
	workers := r.targets()
	switch k {
	case Kill:
		i := r.rng.IntN(len(workers))
		return !workers[i].IsZero() && r.sys.Kill(workers[i]) == nil
	case Panic:
		r.injSend(r.pickBusy(), fault.Msg{Fault: fault.Panic})
	case Slow:
		i := r.pickBusy()
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
	case Upgrade, MigrationFail, MigrationPanic, MigrationSlow, DowngradeFail, GateError, GatePanic, Overlap:
		return r.startPlans(ctx, k)
	case PluginKill:
		procs := r.runningPlugins()
		if len(procs) == 0 {
			return false
		}
		return syscall.Kill(procs[r.rng.IntN(len(procs))], syscall.SIGKILL) == nil
	case PluginHang:
		i := r.pickBusy()
		if !r.currentIsPlugin(r.mods[r.cur.Load().mods[i]].Name) {
			return false
		}
		r.injSend(i, fault.Msg{Fault: fault.Hang, Delay: r.cfg.HangFor})
	case Overflow:
		i := r.pickBusy()
		for range r.cfg.Burst {
			r.injSend(i, fault.Msg{})
		}
	}
	return true
}

// runningPlugins returns the OS PIDs of the plugin processes running now,
// remembering them for the leak check. Plugin processes are found through
// upgrade.LoaderProcesses, where a plugin host (package upgrade/plugin, a
// module of its own) lists them: this package does not import it, so that
// the chaos toolkit needs no gRPC.
func (r *run) runningPlugins() []int {
	var out []int
	for _, p := range upgrade.LoaderProcesses(r.sys) {
		if p.OSPID != 0 {
			out = append(out, p.OSPID)
			r.emu.Lock()
			r.pluginPIDs[p.OSPID] = true
			r.emu.Unlock()
		}
	}
	return out
}

// currentIsPlugin reports whether module's current version runs out of
// process.
func (r *run) currentIsPlugin(module string) bool {
	cur, ok := r.sys.Current(module)
	if !ok {
		return false
	}
	for _, p := range upgrade.LoaderProcesses(r.sys) {
		if p.Module == module && p.Version == cur.Name() {
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
// passes. Workers that a failed rollback left on a plan's version
// (KeepOnRollbackFailure) are killed first, as an operator told by the
// report would; their supervisors restart them on the current version.
func (r *run) settle(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.Settle)
	defer deadline.Stop()
	look := time.NewTicker(5 * time.Millisecond)
	defer look.Stop()
	for {
		_ = r.refresh(ctx)
		r.killKept()
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

// killKept kills the workers that run a version pinned ahead of their
// module's current one: only a rollback that failed under
// KeepOnRollbackFailure leaves one once no plan runs, and its report must
// have said so.
func (r *run) killKept() {
	for _, pid := range r.targets() {
		v, ok := r.sys.VersionOf(pid)
		if pid.IsZero() || !ok || !v.Pinned {
			continue
		}
		r.emu.Lock()
		reported := r.kept[pid]
		r.emu.Unlock()
		if !reported {
			r.violate(checkResults, "%v runs %s@%s pinned ahead of the current version after every plan ended, and no report said a rollback kept it there", pid, v.Module, v.Version)
		}
		if r.sys.Kill(pid) == nil {
			r.res.KeptKilled++
		}
	}
}

// Keys of the invariants, in the order they are reported.
const (
	checkAccounted = "every message handled once or reported (none lost, none duplicated)"
	checkOrder     = "per-sender order kept by each receiving process"
	checkConverged = "one version per module at the end"
	checkIntensity = "restart intensity respected"
	checkPlans     = "each plan's outcome is what the system shows (committed: its targets current; rolled back, refused, dry run: no current version changed)"
	checkResults   = "each process's result is one its plan's mode, outcome and policies allow, and the process runs what it says"
	checkRollback  = "plans told to fail (migrations, downgrades, gates) never commit what failed"
	checkHost      = "host alive; user panics were exit reasons"
	checkPlugins   = "plugin processes run only for versions current or in use"
	checkLeaks     = "no goroutine or plugin process outlived the system"
)

var checkNames = []string{checkAccounted, checkOrder, checkConverged, checkIntensity, checkPlans,
	checkResults, checkRollback, checkHost, checkPlugins, checkLeaks}

// violate records a failed invariant seen during the run (the detail of
// the first; every one counts).
func (r *run) violate(name, format string, args ...any) {
	r.emu.Lock()
	defer r.emu.Unlock()
	r.res.violate(name, format, args...)
}

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
	plans := 0
	for _, n := range res.Upgrades {
		plans += n
	}
	res.pass(checkPlans, fmt.Sprintf("%d plans", plans))
	processes := 0
	for _, n := range res.ProcessResults {
		processes += n
	}
	res.pass(checkResults, fmt.Sprintf("%d process results; %d kept workers killed at the end", processes, res.KeptKilled))
	told := 0
	for _, k := range []Kind{MigrationFail, MigrationPanic, MigrationSlow, DowngradeFail, GateError, GatePanic} {
		told += res.Faults[k]
	}
	res.pass(checkRollback, fmt.Sprintf("%d plans told to fail", told))
	res.pass(checkHost, fmt.Sprintf("%d panics became exit reasons", res.Panics))
	ok, d = r.pluginsStopped()
	res.add(checkPlugins, ok, d)
	res.order()
}

// pluginsStopped checks, at rest, that every plugin process runs a version
// that is current or in use: a version retires when neither holds, and its
// process stops then.
func (r *run) pluginsStopped() (bool, string) {
	var stray []string
	running := 0
	for _, p := range upgrade.LoaderProcesses(r.sys) {
		if p.OSPID == 0 {
			continue
		}
		running++
		if cur, ok := r.sys.Current(p.Module); ok && cur.Name() == p.Version || r.sys.Activations(p.Module, p.Version) > 0 {
			continue
		}
		stray = append(stray, fmt.Sprintf("%s@%s (OS PID %d)", p.Module, p.Version, p.OSPID))
	}
	if len(stray) > 0 {
		return false, "running for a version neither current nor in use: " + strings.Join(stray, ", ")
	}
	return true, fmt.Sprintf("%d running at rest", running)
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

// converged checks that every worker runs its module's current version.
func (r *run) converged(ctx context.Context) (bool, string) {
	v := r.cur.Load()
	versions := make([]map[string]int, len(r.mods))
	for i := range versions {
		versions[i] = map[string]int{}
	}
	for i, pid := range v.workers {
		if pid.IsZero() {
			continue
		}
		info, err := r.sys.Info(ctx, pid)
		if err != nil {
			continue // exited since: restarted on the current version
		}
		versions[v.mods[i]][info.Version]++
	}
	ok := true
	var detail []string
	for i, m := range r.mods {
		cur, loaded := r.sys.Current(m.Name)
		if !loaded {
			ok = false
			detail = append(detail, m.Name+" not loaded")
			continue
		}
		ok = ok && (len(versions[i]) == 0 || len(versions[i]) == 1 && versions[i][cur.Name()] > 0)
		detail = append(detail, fmt.Sprintf("%s current %s, workers by version %v", m.Name, cur.Name(), versions[i]))
	}
	return ok, strings.Join(detail, "; ")
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
		if running(pid) {
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

// running reports whether the OS process pid exists and is not a zombie
// waiting to be reaped (the plugin host reaps the processes it starts; a
// zombie still answers signal 0, and its /proc status says Z).
func running(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: signal 0 is all there is
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}
