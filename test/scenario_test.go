package test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/internal/script"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// TestScenarios runs every script in testdata on a fresh system with a fake
// clock. The commands (see runner.run) build child specs, start
// supervisors, make children exit, move the clock and inspect the
// supervisors; each prints the supervisor events it caused, one per line:
//
//	top: started a#1           ChildStarted (restarted: Restart set)
//	top: exited a#1 reason=X   ChildExited: the child exited on its own
//	top: shutdown b#1 reason=X ChildShutdown: the supervisor stopped it
//	top: max_intensity child=a MaxIntensityReached
//	terminate a#1 reason=X     Terminate of a child started with trap
//	top exited reason=X        a top-level supervisor ended
//
// Processes are labelled id#n, n counting the starts of that id in the
// script, since PIDs differ between runs. Ids are unique within a script.
//
// Determinism: a command returns only once the system is quiet (settle):
// the process it acted on has exited and every supervisor has served the
// exits that followed. Nothing sleeps.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			r := newRunner(t)
			script.Run(t, f, r.run)
		})
	}
}

// wait bounds every wait for an event in real time; it is not a sleep.
const wait = actortest.DefaultWait

// The worker module "w". Its state is its start arguments.
type (
	wargs struct {
		id    string
		trap  bool
		conf  string // distinguishes specs of one id (conf=)
		fail  bool   // Init always fails (fail)
		inits *inits // Init fails (or ignores) while break armed it for the id
		// ignore: Init returns actor.Ignore (ignore); info: Init hands
		// this back as start info (info=); exit: Terminate chooses this
		// exit reason (exit=).
		ignore     bool
		info, exit string
		// stuck: Terminate blocks until unstick (stuck); the gate is the
		// runner's, shared by every spec so that specs still compare
		// equal.
		stuck bool
		gate  *stuckGate
	}
	// die makes the worker exit with reason, or panic.
	die struct {
		reason error
		panic  bool
	}
	// work is one message of a load: counted as handled, and every
	// every-th one (by seq) crashes the worker.
	work struct {
		seq, every int
		l          *load
	}
	// terminated is the event a trapping worker's Terminate reports.
	terminated struct {
		PID    actor.PID
		Reason error
	}
	// askConf asks a worker for its spec's conf.
	askConf struct{}
)

// stuckGate holds stuck Terminates until unstick opens it; once done (at
// the end of a script) it holds none.
type stuckGate struct {
	mu   sync.Mutex
	open chan struct{}
	done bool
	// entered has a token for each Terminate that reached the gate.
	entered chan struct{}
}

// end lets every stuck Terminate go, now and from now on.
func (g *stuckGate) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.done {
		g.done = true
		close(g.open)
	}
}

func (g *stuckGate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-ch
}

// release lets every stuck Terminate go and arms a new gate.
func (g *stuckGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.done {
		close(g.open)
		g.open = make(chan struct{})
	}
}

// inits holds the Init failures armed by break, per child id: after
// skip more Inits that succeed, fail Inits fail. Every spec shares the
// runner's one, so specs still compare equal.
type inits struct {
	mu    sync.Mutex
	armed map[string]*armed // guarded by mu
}

type armed struct {
	skip, fail int
	err        error // what a failing Init returns: errInit, or actor.Ignore
}

// failNow returns the error this Init of id must return (nil: none), and
// counts it.
func (f *inits) failNow(id string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.armed[id]
	switch {
	case a == nil:
		return nil
	case a.skip > 0:
		a.skip--
		return nil
	case a.fail > 0:
		a.fail--
		return a.err
	}
	return nil
}

var worker = actor.Define("w", "v1", actor.Funcs[wargs]{
	Init:            workerInit,
	Handle:          workerHandle,
	TerminateReason: workerTerminate,
})

func workerInit(ctx *actor.Context, args any) (wargs, error) {
	a, _ := args.(wargs)
	if a.fail {
		return a, errInit
	}
	if err := a.inits.failNow(a.id); err != nil {
		return a, err
	}
	if a.ignore {
		return a, actor.Ignore
	}
	if a.info != "" {
		ctx.SetStartInfo(a.info)
	}
	ctx.TrapExit(a.trap)
	return a, nil
}

func workerHandle(ctx *actor.Context, a wargs, msg any) (wargs, error) {
	switch m := msg.(type) {
	case die:
		if m.panic {
			panic("boom")
		}
		return a, m.reason
	case askConf:
		ctx.Reply(a.conf)
	case work:
		// crashes first: whoever sees the message handled sees the
		// crash counted.
		crash := m.seq%m.every == 0
		if crash {
			m.l.crashes.Add(1)
		}
		m.l.handled.Add(1)
		m.l.tick()
		if crash {
			return a, errBoom
		}
	}
	return a, nil
}

func workerTerminate(ctx *actor.Context, a wargs, reason error) error {
	if a.trap {
		ctx.System().Emit(terminated{PID: ctx.Self(), Reason: reason})
	}
	if a.stuck {
		a.gate.wait()
	}
	if a.exit != "" {
		return reasons(a.exit).reason
	}
	return nil
}

var (
	errBoom = errors.New("boom")
	errInit = errors.New("init failed")
)

// load counts what became of the messages of a crash-every command.
type load struct {
	handled, crashes, dead, refused atomic.Int64
	progress                        chan struct{} // poked on every count
}

func (l *load) tick() {
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

// sup is a supervisor the runner settles: every top-level one and every
// nested one it has seen start.
type sup struct {
	pid    actor.PID
	exited *actor.Exited
}

func (s *sup) gone() bool {
	select {
	case <-s.exited.Done():
		return true
	default:
	}
	return false
}

type runner struct {
	t   *testing.T
	sys *actortest.System
	log zap.AtomicLevel // what reaches the test's log (log command)

	mu     sync.Mutex
	events []actor.Event        // guarded by mu: not printed yet
	sups   []*sup               // guarded by mu
	nested map[string]bool      // guarded by mu: ids of nested supervisor specs
	inits  inits                // Init failures armed by break (its own lock)
	stuck  stuckGate            // holds stuck Terminates (its own lock)
	latest map[string]actor.PID // guarded by mu: last started process of each id
	exits  map[string]int       // guarded by mu: ChildExited per id
	starts map[string]int       // guarded by mu: restarts per id

	// Owned by the test goroutine.
	pending   []supervisor.ChildSpec          // specs for the next start or nest
	top       map[string]*supervisor.Handle   // top-level supervisors by name
	templates map[string]supervisor.ChildSpec // of simple_one_for_one ones
	labels    map[actor.PID]string
	byLabel   map[string]actor.PID
	count     map[string]int  // starts per id, for labels
	c         context.Context // of the command under way

	// Upgrades: v2 of module "w" fails its migration for child failID and
	// blocks it for child hangID until release; an async upgrade's result
	// arrives on upgrading.
	v2             *actor.Version
	failID, hangID string
	gate, entered  chan struct{}
	upgrading      chan upgradeResult
}

type upgradeResult struct {
	rep *upgrade.Report
	err error
}

func newRunner(t *testing.T) *runner {
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	sys := actortest.NewSystem(t, actortest.WithLogLevel(level))
	if err := sys.Load(worker); err != nil {
		t.Fatal(err)
	}
	r := &runner{
		t: t, sys: sys, log: level,
		nested: map[string]bool{}, latest: map[string]actor.PID{}, exits: map[string]int{}, starts: map[string]int{},
		top: map[string]*supervisor.Handle{}, templates: map[string]supervisor.ChildSpec{},
		labels: map[actor.PID]string{}, byLabel: map[string]actor.PID{}, count: map[string]int{},
	}
	r.stuck.open, r.stuck.entered = make(chan struct{}), make(chan struct{}, 64)
	// Registered after the system's cleanup, so it runs first: a stuck
	// Terminate left by a script does not hold the shutdown.
	t.Cleanup(r.stuck.end)
	t.Cleanup(sys.Subscribe(r.observe))
	r.v2 = actor.Define("w", "v2", actor.Funcs[wargs]{
		Follows: "v1",
		Init:    workerInit, Handle: workerHandle, TerminateReason: workerTerminate,
		CodeChange: actor.Migrate(func(a wargs, _ any) (wargs, error) {
			switch a.id {
			case r.failID:
				return a, errors.New("migration refused")
			case r.hangID:
				close(r.entered)
				<-r.gate
			}
			return a, nil
		}),
		Downgrade: func(_ string, a wargs, _ any) (any, error) { return a, nil },
	})
	return r
}

// observe runs on the runtime's goroutines: it records and counts, and
// watches nested supervisors as they start so settle can wait for them.
func (r *runner) observe(e actor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := e.(type) {
	case supervisor.ChildStarted:
		r.latest[e.ID] = e.PID
		if e.Restart {
			r.starts[e.ID]++
		}
		if r.nested[e.ID] {
			r.sups = append(r.sups, &sup{pid: e.PID, exited: r.sys.Watch(e.PID)})
		}
	case supervisor.ChildExited:
		r.exits[e.ID]++
	case actor.ProcessExited:
		if e.Module != supervisor.ModuleName {
			return
		}
	case actor.DeadLetter:
		if w, ok := e.Message.(work); ok {
			w.l.dead.Add(1)
			w.l.tick()
		}
		return
	case supervisor.ChildShutdown, supervisor.MaxIntensityReached, terminated, actor.ProcessAbandoned:
	default:
		return
	}
	r.events = append(r.events, e)
}

// run executes one command and returns its trace.
func (r *runner) run(line string) string {
	r.t.Helper()
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	var cancel context.CancelFunc
	r.c, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []string
	switch cmd {
	case "child":
		r.pending = append(r.pending, r.childSpec(args))
	case "nest":
		flags, spec := r.flags(args[1], args[2:]), r.childSpec(append([]string{args[0]}, args[2:]...))
		nested := supervisor.Spec(args[0], flags, r.pending)
		nested.Restart, nested.Shutdown, nested.Significant = spec.Restart, spec.Shutdown, spec.Significant
		r.pending = []supervisor.ChildSpec{nested}
		r.mu.Lock()
		r.nested[args[0]] = true
		r.mu.Unlock()
	case "start":
		out = r.start(args[0], r.flags(args[1], args[2:]))
	case "crash", "kill":
		out = r.exit(cmd, args)
	case "stop":
		pid := r.supervisor(args[0]).PID()
		out = result(r.sys.Stop(r.ctx(), pid))
	case "tick":
		d, err := time.ParseDuration(args[0])
		r.check(err)
		r.sys.Clock.Advance(d)
	case "which":
		cs, err := r.supervisor(args[0]).WhichChildren(r.ctx())
		for _, c := range cs {
			pid := r.label(c.PID)
			if c.Restarting {
				pid = "restarting"
			}
			out = append(out, fmt.Sprintf("%s %s %s", c.ID, c.Restart, pid))
		}
		out = append(out, result(err)...)
	case "count":
		n, err := r.supervisor(args[0]).CountChildren(r.ctx())
		out = append(out, fmt.Sprintf("specs=%d active=%d supervisors=%d workers=%d", n.Specs, n.Active, n.Supervisors, n.Workers))
		out = append(out, result(err)...)
	case "startchild":
		// startchild <sup> [conf=C] [name=N] for simple_one_for_one (an
		// instance with its own conf and registered name), startchild
		// <sup> <child spec> otherwise.
		h := r.supervisor(args[0])
		var pid actor.PID
		var info any
		var err error
		if tmpl, ok := r.templates[args[0]]; ok {
			kv := r.kv(args[1:])
			a := tmpl.Start.Args.(wargs)
			if c, ok := kv["conf"]; ok {
				a.conf = c
			}
			opts := []supervisor.StartOption{supervisor.StartInfo(&info)}
			if n, ok := kv["name"]; ok {
				opts = append(opts, supervisor.SpawnOptions(actor.WithName(n)))
			}
			pid, err = h.StartSimpleChild(r.ctx(), a, opts...)
		} else {
			pid, err = h.StartChild(r.ctx(), r.childSpec(args[1:]), supervisor.StartInfo(&info))
		}
		out = started(pid, info, err)
	case "terminate":
		// terminate <sup> <id|label> [tick=D,D...] [stuck]: with tick, the
		// clock steps by each D once a timer waits (a shutdown timeout, the
		// kill grace) while the termination is under way; with stuck, the
		// first step waits for the child's stuck Terminate to begin.
		h := r.supervisor(args[0])
		done := make(chan error, 1)
		go func() {
			if strings.Contains(args[1], "#") {
				done <- h.TerminateSimpleChild(r.ctx(), r.byLabel[args[1]])
			} else {
				done <- h.TerminateChild(r.ctx(), args[1])
			}
		}()
		kv := r.kv(args[2:])
		if _, ok := kv["stuck"]; ok {
			select {
			case <-r.stuck.entered:
			case <-r.ctx().Done():
				r.check(r.ctx().Err())
			}
		}
		if ticks := kv["tick"]; ticks != "" {
			for _, t := range strings.Split(ticks, ",") {
				d, err := time.ParseDuration(t)
				r.check(err)
				r.check(r.sys.Clock.WaitForTimers(r.ctx(), 1))
				r.sys.Clock.Advance(d)
			}
		}
		out = result(<-done)
	case "unstick":
		r.stuck.release()
	case "abandoned":
		out = []string{fmt.Sprintf("abandoned goroutines: %d", r.sys.Abandoned())}
	case "restart":
		var info any
		pid, err := r.supervisor(args[0]).RestartChild(r.ctx(), args[1], supervisor.StartInfo(&info))
		out = started(pid, info, err)
	case "spec":
		// spec <sup> <id>, or <sup> <label> of a simple_one_for_one
		// instance: get_childspec, every field.
		h := r.supervisor(args[0])
		var sp supervisor.ChildSpec
		var err error
		if pid, ok := r.byLabel[args[1]]; ok {
			sp, err = h.SimpleChildSpec(r.ctx(), pid)
		} else {
			sp, err = h.ChildSpec(r.ctx(), args[1])
		}
		if err == nil {
			a, _ := sp.Start.Args.(wargs)
			conf := a.conf
			if conf == "" {
				conf = "-"
			}
			out = append(out, fmt.Sprintf("id=%s module=%s conf=%s options=%d restart=%v shutdown=%v type=%v modules=%v significant=%t handoff=%t",
				sp.ID, sp.Start.Module, conf, len(sp.Start.Options), sp.Restart, sp.Shutdown, sp.Type, sp.Modules, sp.Significant, sp.Handoff))
		}
		out = append(out, result(err)...)
	case "flags":
		f, err := r.supervisor(args[0]).Flags(r.ctx())
		if err == nil {
			out = append(out, fmt.Sprintf("strategy=%v intensity=%d period=%v auto_shutdown=%v", f.Strategy, f.Intensity, f.Period, f.AutoShutdown))
		}
		out = append(out, result(err)...)
	case "stopwith":
		// stopwith <target> reason=R: System.StopWith, waiting for the
		// exit (gen_server:stop/3).
		pid := r.target(args[0])
		out = result(r.sys.StopWith(r.ctx(), pid, reasons(r.kv(args[1:])["reason"]).reason))
	case "whereis":
		pid, ok := r.sys.Whereis(args[0])
		if !ok {
			out = []string{"undefined"}
		} else {
			out = []string{r.label(pid)}
		}
	case "log":
		// log <level>: what reaches the test's log from here on (a
		// restart that keeps failing logs each attempt).
		r.check(r.log.UnmarshalText([]byte(args[0])))
	case "delete":
		out = result(r.supervisor(args[0]).DeleteChild(r.ctx(), args[1]))
	case "specs":
		out = r.specs(args[0], r.kv(args[1:]))
	case "break":
		// break <id> [after=K] [n=N] [as=ignore]: after K more Inits of id
		// succeed, N fail (default 0 and 1), or return actor.Ignore.
		kv, a := r.kv(args[1:]), &armed{fail: 1, err: errInit}
		if kv["as"] == "ignore" {
			a.err = actor.Ignore
		}
		if v, ok := kv["after"]; ok {
			a.skip = r.atoi(v)
		}
		if v, ok := kv["n"]; ok {
			a.fail = r.atoi(v)
		}
		r.inits.mu.Lock()
		if r.inits.armed == nil {
			r.inits.armed = map[string]*armed{}
		}
		r.inits.armed[args[0]] = a
		r.inits.mu.Unlock()
	case "conf":
		cs, err := r.supervisor(args[0]).WhichChildren(r.ctx())
		for _, c := range cs {
			conf := "-"
			if !c.PID.IsZero() {
				v, err := r.sys.Call(r.ctx(), c.PID, askConf{})
				r.check(err)
				conf = v.(string)
			}
			out = append(out, fmt.Sprintf("%s %s conf=%s", c.ID, r.label(c.PID), conf))
		}
		out = append(out, result(err)...)
	case "crash-every":
		out = r.crashEvery(args[0], r.kv(args[1:]))
	case "upgrade":
		out = r.upgrade(args[0], r.kv(args[1:]))
	case "release":
		// The upgrade goes on by itself from here: whatever it causes is
		// printed by await-upgrade, which waits for it. Printing what has
		// happened so far would depend on how far it got.
		close(r.gate)
		return ""
	case "await-upgrade":
		var res upgradeResult
		select {
		case res = <-r.upgrading:
		case <-r.ctx().Done():
			r.t.Fatal("upgrade did not finish")
		}
		r.upgrading = nil
		r.settle()
		out = r.report(res)
	case "versions":
		cs, err := r.supervisor(args[0]).WhichChildren(r.ctx())
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s %s", r.label(c.PID), c.Version))
		}
		out = append(out, result(err)...)
	default:
		r.t.Fatalf("unknown command %q", cmd)
	}
	r.settle()
	return strings.Join(append(r.trace(), out...), "\n")
}

// specs runs "specs <sup> [specs-only] [flags=<strategy> [intensity=N]
// [period=D] [auto_shutdown=A]]": UpgradeSpecs with the specs given by
// the child commands since the last start, nest or specs (and WithFlags
// for flags=), and prints its actions, one per line, then its error.
func (r *runner) specs(name string, kv map[string]string) []string {
	specs := r.pending
	r.pending = nil
	var opts []supervisor.SpecOption
	if _, ok := kv["specs-only"]; ok {
		opts = append(opts, supervisor.SpecsOnly())
	}
	if strategy, ok := kv["flags"]; ok {
		var fl []string
		for _, k := range []string{"intensity", "period", "auto_shutdown"} {
			if v, ok := kv[k]; ok {
				fl = append(fl, k+"="+v)
			}
		}
		opts = append(opts, supervisor.WithFlags(r.flags(strategy, fl)))
	}
	acts, err := r.supervisor(name).UpgradeSpecs(r.ctx(), specs, opts...)
	var out []string
	for _, a := range acts {
		out = append(out, "action: "+a.String())
	}
	return append(out, result(err)...)
}

// upgrade runs "upgrade <sup> to=v1|v2 [mode=atomic|dry_run] [fail=<id>]
// [hang=<id>] [async]". With async it returns at once (await-upgrade
// prints the report); a hung migration waits for release.
func (r *runner) upgrade(name string, kv map[string]string) []string {
	to := worker
	if kv["to"] == "v2" {
		to = r.v2
	}
	plan := upgrade.Plan{DryRun: kv["mode"] == "dry_run", Changes: []upgrade.Change{{Module: "w", To: to}}, Timeout: time.Hour}
	h := r.supervisor(name)
	if r.upgrading != nil {
		// A second plan while one is in flight: it must fail at once (and
		// must not touch what the running one's migrations read).
		_, err := h.Upgrade(r.ctx(), plan)
		return result(err)
	}
	r.failID, r.hangID = kv["fail"], kv["hang"]
	if r.hangID != "" {
		r.gate, r.entered = make(chan struct{}), make(chan struct{})
	}
	if _, async := kv["async"]; async {
		r.upgrading = make(chan upgradeResult, 1)
		ch := r.upgrading
		go func() {
			rep, err := h.Upgrade(context.Background(), plan)
			ch <- upgradeResult{rep, err}
		}()
		if r.entered != nil {
			r.await(r.entered) // the tree is held and the hung migration reached
		}
		return nil
	}
	rep, err := h.Upgrade(r.ctx(), plan)
	return r.report(upgradeResult{rep, err})
}

// report prints an upgrade's outcome and each process's part, by label:
// where it started and ended, and its result.
func (r *runner) report(res upgradeResult) []string {
	if res.rep == nil || res.rep.Outcome == upgrade.Refused {
		return result(res.err)
	}
	out := []string{"upgrade: " + res.rep.Outcome.String()}
	var lines []string
	for _, p := range res.rep.Processes {
		line := fmt.Sprintf("  %s %s->%s %v", r.label(p.PID), p.From, p.To, p.Result)
		var ee *actor.ExitError
		switch {
		case errors.As(p.Err, &ee):
		case p.Err != nil:
			line += ": " + p.Err.Error()
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return append(out, lines...)
}

// start starts a top-level supervisor with the pending specs.
func (r *runner) start(name string, flags supervisor.Flags) []string {
	specs := r.pending
	r.pending = nil
	h, err := supervisor.Start(r.sys.System, flags, specs)
	if err != nil {
		return result(err)
	}
	r.top[name], r.labels[h.PID()] = h, name
	if flags.Strategy == supervisor.SimpleOneForOne {
		r.templates[name] = specs[0]
	}
	r.mu.Lock()
	r.sups = append(r.sups, &sup{pid: h.PID(), exited: r.sys.Watch(h.PID())})
	r.mu.Unlock()
	return nil
}

// exit makes a child exit: crash <target> reason=R sends it a message
// whose handler returns R (panics for R=panic); kill <target> sends the
// untrappable kill. It waits for the exit.
func (r *runner) exit(cmd string, args []string) []string {
	pid := r.target(args[0])
	w := r.sys.Watch(pid)
	var err error
	if cmd == "kill" {
		err = r.sys.Kill(pid)
	} else {
		err = r.sys.Send(pid, reasons(r.kv(args[1:])["reason"]))
	}
	if err != nil {
		return result(err)
	}
	r.await(w.Done())
	return nil
}

func reasons(name string) die {
	switch name {
	case "normal":
		return die{reason: actor.Normal}
	case "shutdown":
		return die{reason: actor.Shutdown}
	case "{shutdown,x}":
		return die{reason: actor.ShutdownReason{Detail: "x"}}
	case "kill":
		return die{reason: actor.Kill}
	case "panic":
		return die{panic: true}
	}
	return die{reason: errors.New(name)}
}

// crashEvery sends n work messages to the current process of id, one at
// a time to whichever process runs it at that moment, while the worker
// crashes on every k-th. Which messages meet a live process depends on
// scheduling, so it prints only what must hold: every message was handled
// or dead-lettered, and every crash was seen and restarted.
func (r *runner) crashEvery(id string, kv map[string]string) []string {
	n, k := r.atoi(kv["n"]), r.atoi(kv["k"])
	l := &load{progress: make(chan struct{}, 1)}
	r.mu.Lock()
	exits0, starts0 := r.exits[id], r.starts[id]
	r.mu.Unlock()
	for seq := 1; seq <= n; seq++ {
		r.mu.Lock()
		pid := r.latest[id]
		r.mu.Unlock()
		if err := r.sys.Send(pid, work{seq: seq, every: k, l: l}); err != nil {
			l.refused.Add(1) // refused at send: no dead letter, the sender knows
			select {
			case l.progress <- struct{}{}:
			default:
			}
		}
	}
	timeout := time.After(wait)
	for l.handled.Load()+l.dead.Load()+l.refused.Load() < int64(n) {
		select {
		case <-l.progress:
		case <-timeout:
			r.t.Fatalf("crash-every: %d handled + %d dead-lettered + %d refused of %d", l.handled.Load(), l.dead.Load(), l.refused.Load(), n)
		}
	}
	// Wait for the supervisor to see the last crash before settling.
	var exits, starts int
	for {
		r.mu.Lock()
		exits, starts = r.exits[id]-exits0, r.starts[id]-starts0
		r.mu.Unlock()
		if exits >= int(l.crashes.Load()) {
			break
		}
		r.settle()
	}
	r.settle()
	r.mu.Lock()
	exits, starts = r.exits[id]-exits0, r.starts[id]-starts0
	events := r.events
	r.events = nil
	r.mu.Unlock()
	// How many processes the load started depends on scheduling: the one
	// left running is labelled id#~.
	for _, e := range events {
		if e, ok := e.(supervisor.ChildStarted); ok {
			r.labels[e.PID] = e.ID + "#~"
		}
	}
	c := int(l.crashes.Load())
	return []string{
		fmt.Sprintf("sent=%d handled+dead_lettered+refused=%d", n, l.handled.Load()+l.dead.Load()+l.refused.Load()),
		fmt.Sprintf("crashed>0=%t exited=crashed:%t restarted=crashed:%t", c > 0, exits == c, starts == c),
	}
}

// settle returns once every supervisor has served what happened so far: a
// call to each live one is queued after any exit signal that reached it
// before (a trapped exit takes the place its signal had), so its answer
// means the exit was handled. If a supervisor died or started meanwhile,
// the round is repeated: its parent is then called after its exit signal
// arrived.
func (r *runner) settle() {
	if r.upgrading != nil {
		return // the supervisors are held by the upgrade: they answer after it
	}
	for {
		live := r.liveSups()
		for _, s := range live {
			if _, err := supervisor.Of(r.sys.System, s.pid).CountChildren(r.ctx()); err != nil {
				r.await(s.exited.Done())
			}
		}
		if slices.Equal(live, r.liveSups()) {
			return
		}
	}
}

func (r *runner) liveSups() []*sup {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*sup
	for _, s := range r.sups {
		if !s.gone() {
			out = append(out, s)
		}
	}
	return out
}

// trace formats the events recorded since the last command, labelling
// processes as it meets their ChildStarted.
func (r *runner) trace() []string {
	r.mu.Lock()
	events := r.events
	r.events = nil
	r.mu.Unlock()
	// Label first: a nested supervisor's children start (in its Init)
	// before its own ChildStarted.
	for _, e := range events {
		if e, ok := e.(supervisor.ChildStarted); ok {
			r.count[e.ID]++
			l := e.ID + "#" + strconv.Itoa(r.count[e.ID])
			r.labels[e.PID], r.byLabel[l] = l, e.PID
		}
	}
	var out []string
	for _, e := range events {
		switch e := e.(type) {
		case supervisor.ChildStarted:
			l := r.labels[e.PID]
			verb := "started"
			if e.Restart {
				verb = "restarted"
			}
			out = append(out, fmt.Sprintf("%s: %s %s", r.label(e.Supervisor), verb, l))
		case supervisor.ChildExited:
			out = append(out, fmt.Sprintf("%s: exited %s reason=%v", r.label(e.Supervisor), r.label(e.PID), e.Reason))
		case supervisor.ChildShutdown:
			out = append(out, fmt.Sprintf("%s: shutdown %s reason=%v", r.label(e.Supervisor), r.label(e.PID), e.Reason))
		case supervisor.MaxIntensityReached:
			out = append(out, fmt.Sprintf("%s: max_intensity child=%s", r.label(e.Supervisor), e.Child))
		case terminated:
			out = append(out, fmt.Sprintf("terminate %s reason=%v", r.label(e.PID), e.Reason))
		case actor.ProcessAbandoned:
			out = append(out, fmt.Sprintf("abandoned %s", r.label(e.PID)))
		case actor.ProcessExited:
			// Only top-level supervisors: a nested one's end is its
			// parent's ChildExited, and its own ProcessExited would race
			// with that.
			if name, ok := r.labels[e.PID]; ok && r.top[name] != nil && r.top[name].PID() == e.PID {
				out = append(out, fmt.Sprintf("%s exited reason=%v", name, e.Reason))
			}
		}
	}
	return out
}

func (r *runner) label(pid actor.PID) string {
	if pid.IsZero() {
		return "undefined"
	}
	if l, ok := r.labels[pid]; ok {
		return l
	}
	return "?" // a process the runner never saw start: a bug in the trace
}

// target is a child by label (a#2) or by id (its last started process).
func (r *runner) target(name string) actor.PID {
	if pid, ok := r.byLabel[name]; ok {
		return pid
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, ok := r.latest[name]
	if !ok {
		r.t.Fatalf("no child %q", name)
	}
	return pid
}

// supervisor is a top-level supervisor by name, or a nested one by label
// or id.
func (r *runner) supervisor(name string) *supervisor.Handle {
	if h, ok := r.top[name]; ok {
		return h
	}
	return supervisor.Of(r.sys.System, r.target(name))
}

// childSpec parses "<id> [restart=R] [shutdown=S] [type=supervisor]
// [significant] [trap] [conf=C] [fail] [ignore] [info=I] [exit=R]
// [name=N] [module=M] [stuck]" into a spec of the worker module (or of
// module M), stuck making its Terminate block until unstick:
// conf tells specs of one id apart, fail makes every Init fail, ignore
// makes it return actor.Ignore, info makes it hand I back as start info,
// exit makes Terminate choose R as the exit reason, name registers the
// child as N.
func (r *runner) childSpec(args []string) supervisor.ChildSpec {
	kv := r.kv(args[1:])
	_, trap := kv["trap"]
	_, significant := kv["significant"]
	_, fail := kv["fail"]
	_, ignore := kv["ignore"]
	_, stuck := kv["stuck"]
	a := wargs{id: args[0], trap: trap, conf: kv["conf"], fail: fail, inits: &r.inits,
		ignore: ignore, info: kv["info"], exit: kv["exit"], stuck: stuck, gate: &r.stuck}
	s := supervisor.ChildSpec{ID: args[0], Start: supervisor.StartSpec{Module: "w", Args: a}, Significant: significant}
	if m, ok := kv["module"]; ok {
		s.Start.Module = m
	}
	if n, ok := kv["name"]; ok {
		s.Start.Options = []actor.SpawnOption{actor.WithName(n)}
	}
	switch kv["restart"] {
	case "", "permanent":
	case "transient":
		s.Restart = supervisor.Transient
	case "temporary":
		s.Restart = supervisor.Temporary
	default:
		r.t.Fatalf("bad restart %q", kv["restart"])
	}
	switch sd := kv["shutdown"]; sd {
	case "":
	case "brutal_kill":
		s.Shutdown = supervisor.BrutalKill
	case "infinity":
		s.Shutdown = supervisor.Infinity
	default:
		d, err := time.ParseDuration(sd)
		r.check(err)
		s.Shutdown = supervisor.Shutdown(d)
	}
	return s
}

// flags parses "<strategy> [intensity=N] [period=D] [auto_shutdown=A]".
// An intensity without a period gets OTP's 5 s.
func (r *runner) flags(strategy string, args []string) supervisor.Flags {
	kv := r.kv(args)
	var f supervisor.Flags
	switch strategy {
	case "one_for_one":
	case "one_for_all":
		f.Strategy = supervisor.OneForAll
	case "rest_for_one":
		f.Strategy = supervisor.RestForOne
	case "simple_one_for_one":
		f.Strategy = supervisor.SimpleOneForOne
	default:
		r.t.Fatalf("bad strategy %q", strategy)
	}
	if v, ok := kv["intensity"]; ok {
		f.Intensity, f.Period = r.atoi(v), supervisor.DefaultPeriod
	}
	if v, ok := kv["period"]; ok {
		d, err := time.ParseDuration(v)
		r.check(err)
		f.Period = d
	}
	switch kv["auto_shutdown"] {
	case "", "never":
	case "any_significant":
		f.AutoShutdown = supervisor.AnySignificant
	case "all_significant":
		f.AutoShutdown = supervisor.AllSignificant
	default:
		r.t.Fatalf("bad auto_shutdown %q", kv["auto_shutdown"])
	}
	return f
}

func (r *runner) kv(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		m[k] = v
	}
	return m
}

func (r *runner) atoi(s string) int {
	n, err := strconv.Atoi(s)
	r.check(err)
	return n
}

func (r *runner) check(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *runner) await(ch <-chan struct{}) {
	r.t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		r.t.Fatal("timed out waiting for an exit")
	}
}

// ctx bounds a call in real time. Calls get a deadline so that the
// system's default call timeout, which would run on the fake clock, is
// never armed: tick then fires only what the scripts armed.
func (r *runner) ctx() context.Context { return r.c }

// result prints an error as the sentinel it wraps (their messages hold
// PIDs, which differ between runs); a *SpecError as it is; an
// *actor.ExitError as the reason the process exited with.
func result(err error) []string {
	if err == nil {
		return nil
	}
	for _, s := range []error{supervisor.ErrAlreadyPresent, supervisor.ErrAlreadyStarted, supervisor.ErrNotFound,
		supervisor.ErrRunning, supervisor.ErrRestarting, supervisor.ErrSimple, supervisor.ErrNotSimple, actor.NoProc} {
		if errors.Is(err, s) {
			return []string{"error: " + s.Error()}
		}
	}
	var ee *actor.ExitError
	if errors.As(err, &ee) {
		return []string{"error: exited reason=" + ee.Reason.Error()}
	}
	return []string{"error: " + err.Error()}
}

// started prints a start's result: nothing for a process started without
// info, "ok undefined" for a start that was ignored, the info Init handed
// back, or the error.
func started(pid actor.PID, info any, err error) []string {
	if err != nil {
		return result(err)
	}
	var out []string
	if pid.IsZero() {
		out = append(out, "ok undefined")
	}
	if info != nil {
		out = append(out, fmt.Sprintf("info=%v", info))
	}
	return out
}
