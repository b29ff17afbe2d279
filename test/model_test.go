package test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// TestUpgradeModel is the model-based randomized test of the upgrade
// transaction. Each run builds, from its seed, a supervision tree (static
// workers, a nested one_for_all or rest_for_one supervisor, dynamic
// children of a simple_one_for_one) over up to three modules, each with a
// random lineage of four versions loaded in a random order, plus a few
// processes outside the tree; then it applies random plans: atomic, lazy,
// rolling with one to four waves, dry runs and downgrades, over one to
// three modules, with random straggler and timeout policies, and random
// faults: migrations and downgrades that fail or panic, processes that do
// not answer in time, kills while a migration runs, gates that fail or
// panic. Lazy plans leave idle processes on older versions, which later
// plans meet. Messages flow before, during and after each plan; a process
// outside the tree may be in the middle of a slow migration at a message
// (per-message pickup) while a plan makes another version current.
//
// After each plan the system is compared with a small reference model
// that knows each worker's version and the trail of migrations its state
// went through, and that predicts refusals from the lineage on its own:
//
//   - committed: every worker of a changed module runs the target, its
//     state migrated exactly once along the lineage (or restarted fresh if
//     the plan killed it, or left on its version if it was skipped and not
//     sent a message since, or if its lazy pickup failed);
//   - rolled back, refused, dry run: no current version changed; every
//     worker runs its original version with its original state;
//   - always: no process stays suspended; every message is handled once
//     or reported as a dead letter; per-sender order holds; each report
//     entry says where its process really is; the module tables hold what
//     they must.
//
// It prints the seed of a failing run; -model.seed reruns it.
var (
	modelRuns  = flag.Int("model.runs", 250, "model runs (each a fresh system)")
	modelPlans = flag.Int("model.plans", 20, "plans per model run")
	modelSeed  = flag.Uint64("model.seed", 0, "run only this seed")
)

func TestUpgradeModel(t *testing.T) {
	runs, first := *modelRuns, uint64(1)
	if *modelSeed != 0 {
		runs, first = 1, *modelSeed
	} else if testing.Short() {
		runs = 20
	}
	plans := 0
	for i := range runs {
		seed := first + uint64(i)
		ok := t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			m := newModel(t, seed)
			for p := range *modelPlans {
				m.step(p)
				if t.Failed() {
					t.Fatalf("seed %d failed at plan %d (rerun, in test/: go test . -run TestUpgradeModel -model.seed=%d -model.plans=%d -v)",
						seed, p, seed, p+1)
				}
				plans++
			}
		})
		if !ok {
			break
		}
	}
	t.Logf("%d plans checked", plans)
}

// Module m's state: the worker's id and the trail of its migrations
// ("+v3" up into v3, "-v3" down out of v3).
type mstate struct {
	ID    int
	Trail []string
}

type (
	// mmsg is one message of the load: sender and sequence number, and a
	// unique id for the ledger.
	mmsg struct{ Sender, Seq, ID int }
	// mblock keeps a worker busy in its handler until released.
	mblock struct{ entered, release chan struct{} }
)

// mfault is what a worker's migration does when the plan runs it.
type mfault struct {
	kind    string // "fail", "panic", "block", "downfail"
	entered chan struct{}
	release chan struct{}
}

// lineage of one module: v1..v4, each following the one before, with
// random Downgrades and shortcuts, so that shortest routes are unique.
type lineage struct {
	down   map[string]bool // has a Downgrade
	upFrom map[string]string
	downTo map[string]string
}

var mnames = []string{"v1", "v2", "v3", "v4"}

// model is one run: the system, and what it should look like.
type model struct {
	t    *testing.T
	rng  *rand.Rand
	sys  *actortest.System
	root *supervisor.Handle
	mods []string

	lin      map[string]lineage
	versions map[string]map[string]*actor.Version

	workers []*mworker // by id
	groups  [][]int    // ids restarted together (one_for_all: all; rest_for_one: the rest)
	restFor bool       // the nested group is rest_for_one

	mu      sync.Mutex
	faults  map[int]mfault                    // guarded by mu: by worker id
	handled map[int]int                       // guarded by mu: message id → times handled
	dead    map[int]int                       // guarded by mu: message id → times dead-lettered
	refused map[int]int                       // guarded by mu: message id → sends that returned an error
	lastSeq map[actor.PID]map[int]int         // guarded by mu: per process, per sender
	bad     []string                          // guarded by mu: order violations
	exits   map[actor.PID]actor.ProcessExited // guarded by mu

	sent   int // messages sent so far (ids 1..sent)
	seqs   map[[2]int]int
	skipOf map[int]string // worker id → the version its failed pickup skips

	lastLoaded map[int]bool               // workers the second sender loaded during the last plan
	woken      map[int]bool               // lazy workers woken after the last lazy commit
	cur        map[string]string          // the model's current version per module
	previous   map[string]string          // the version current before the last change, per module
	everCur    map[string]map[string]bool // versions that have been current
	knownAt    map[string][]string        // the system's known versions when the plan started
	killed     bool                       // the plan's kill fault happened
	steps      []upgrade.Event            // the last plan's events, from the bus
}

// mworker is what the model expects of one worker.
type mworker struct {
	id      int
	module  string
	version string
	trail   []string
	level   int       // in the tree (0 outside)
	outside bool      // spawned directly, not supervised
	pid     actor.PID // of an outside worker
}

func newModel(t *testing.T, seed uint64) *model {
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), lin: map[string]lineage{},
		versions: map[string]map[string]*actor.Version{}, faults: map[int]mfault{}, handled: map[int]int{},
		dead: map[int]int{}, refused: map[int]int{}, lastSeq: map[actor.PID]map[int]int{}, exits: map[actor.PID]actor.ProcessExited{},
		seqs: map[[2]int]int{}, skipOf: map[int]string{}, cur: map[string]string{}, previous: map[string]string{}, everCur: map[string]map[string]bool{},
		knownAt: map[string][]string{}}
	m.sys = actortest.NewSystem(t, actortest.WithLogLevel(zapOff()))
	t.Cleanup(m.sys.Subscribe(m.observe))
	m.mods = []string{"a", "b", "c"}[:1+m.rng.IntN(3)]
	for _, mod := range m.mods {
		m.defineModule(mod)
	}
	m.buildTree()
	return m
}

func (m *model) observe(e actor.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e := e.(type) {
	case actor.DeadLetter:
		if msg, ok := e.Message.(mmsg); ok {
			m.dead[msg.ID]++
		}
	case actor.ProcessExited:
		m.exits[e.PID] = e
	case actor.MigrationFailed, actor.Migrated:
		if testing.Verbose() {
			m.t.Logf("  %T %+v", e, e)
		}
	}
}

// defineModule draws a lineage, defines its versions, loads them in a
// random order and makes a random one current.
func (m *model) defineModule(mod string) {
	l := lineage{down: map[string]bool{}, upFrom: map[string]string{}, downTo: map[string]string{}}
	for _, v := range mnames[1:] {
		l.down[v] = m.rng.IntN(5) > 0
	}
	if m.rng.IntN(2) == 0 {
		l.upFrom["v3"] = "v1"
	}
	if l.down["v4"] && m.rng.IntN(2) == 0 {
		l.downTo["v4"] = "v2"
	}
	m.lin[mod] = l
	vs := map[string]*actor.Version{}
	for i, name := range mnames {
		vs[name] = m.version(mod, name, i, l)
	}
	m.versions[mod] = vs
	order := slices.Clone(mnames)
	m.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, name := range order[:1+m.rng.IntN(4)] {
		m.must(m.sys.Stage(vs[name]), "stage")
	}
	first := mnames[m.rng.IntN(3)]
	m.must(m.sys.Load(vs[first]), "load")
	m.everCur[mod] = map[string]bool{first: true}
	m.cur[mod] = first
}

func (m *model) version(mod, name string, i int, l lineage) *actor.Version {
	f := actor.Funcs[mstate]{
		Init: func(_ *actor.Context, args any) (mstate, error) { return mstate{ID: args.(int)}, nil },
		Handle: func(ctx *actor.Context, s mstate, msg any) (mstate, error) {
			switch msg := msg.(type) {
			case mmsg:
				m.mu.Lock()
				m.handled[msg.ID]++
				seqs := m.lastSeq[ctx.Self()]
				if seqs == nil {
					seqs = map[int]int{}
					m.lastSeq[ctx.Self()] = seqs
				}
				if msg.Seq <= seqs[msg.Sender] {
					m.bad = append(m.bad, fmt.Sprintf("%v: seq %d after %d from %d", ctx.Self(), msg.Seq, seqs[msg.Sender], msg.Sender))
				}
				seqs[msg.Sender] = msg.Seq
				m.mu.Unlock()
			case mblock:
				close(msg.entered)
				<-msg.release
			}
			ctx.Reply(nil)
			return s, nil
		},
		CodeChange: func(_ string, old, _ any) (mstate, error) {
			s := old.(mstate)
			if err := m.act(s.ID, "up"); err != nil {
				return s, err
			}
			return mstate{ID: s.ID, Trail: append(slices.Clone(s.Trail), "+"+name)}, nil
		},
	}
	if i > 0 {
		f.Follows = mnames[i-1]
	}
	if from := l.upFrom[name]; from != "" {
		f.UpgradesFrom = []string{from}
	}
	if to := l.downTo[name]; to != "" {
		f.DowngradesTo = []string{to}
	}
	if l.down[name] {
		f.Downgrade = func(_ string, s mstate, _ any) (any, error) {
			if err := m.act(s.ID, "down"); err != nil {
				return s, err
			}
			return mstate{ID: s.ID, Trail: append(slices.Clone(s.Trail), "-"+name)}, nil
		}
	}
	return actor.Define(mod, name, f)
}

// act runs worker id's fault for a migration in direction dir.
func (m *model) act(id int, dir string) error {
	m.mu.Lock()
	f, ok := m.faults[id]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	switch {
	case f.kind == "fail" && dir == "up", f.kind == "downfail" && dir == "down":
		return errors.New("migration refused")
	case f.kind == "panic" && dir == "up":
		panic("migration exploded")
	case f.kind == "block":
		m.mu.Lock()
		delete(m.faults, id) // once
		m.mu.Unlock()
		close(f.entered)
		<-f.release
	}
	return nil
}

// buildTree starts the tree and a few processes outside it.
func (m *model) buildTree() {
	ctx := context.Background()
	id := 0
	level := 1
	spec := func(mod string) supervisor.ChildSpec {
		w := &mworker{id: id, module: mod, level: level}
		m.workers = append(m.workers, w)
		id++
		return supervisor.ChildSpec{ID: fmt.Sprint("w", w.id), Start: supervisor.StartSpec{Module: mod, Args: w.id}}
	}
	var specs []supervisor.ChildSpec
	for range 2 + m.rng.IntN(3) {
		specs = append(specs, spec(m.pick()))
	}
	nested := supervisor.Flags{Strategy: supervisor.OneForAll, Intensity: 1 << 20, Period: time.Hour}
	if m.rng.IntN(2) == 0 {
		nested.Strategy, m.restFor = supervisor.RestForOne, true
	}
	var group []supervisor.ChildSpec
	var gids []int
	level = 2
	for range 2 + m.rng.IntN(2) {
		gids = append(gids, id)
		group = append(group, spec(m.pick()))
	}
	m.groups = append(m.groups, gids)
	specs = append(specs, supervisor.Spec("nested", nested, group))
	dynMod := m.pick()
	specs = append(specs, supervisor.Spec("dynamic", supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 1 << 20, Period: time.Hour},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: dynMod}}}))
	root, err := supervisor.Start(m.sys.System, supervisor.Flags{Intensity: 1 << 20, Period: time.Hour}, specs)
	m.must(err, "start")
	m.root = root
	dyn, err := m.child(root, "dynamic")
	m.must(err, "dynamic")
	for range 2 + m.rng.IntN(4) {
		w := &mworker{id: id, module: dynMod, level: 2}
		m.workers = append(m.workers, w)
		_, err := supervisor.Of(m.sys.System, dyn).StartSimpleChild(ctx, id)
		m.must(err, "start dynamic")
		id++
	}
	for range m.rng.IntN(3) {
		w := &mworker{id: id, module: m.pick(), outside: true}
		pid, err := m.sys.Spawn(w.module, id)
		m.must(err, "spawn outside")
		w.pid = pid
		m.workers = append(m.workers, w)
		id++
	}
	for _, w := range m.workers {
		w.version = m.cur[w.module]
	}
}

func (m *model) pick() string { return m.mods[m.rng.IntN(len(m.mods))] }

func (m *model) child(h *supervisor.Handle, id string) (actor.PID, error) {
	cs, err := h.WhichChildren(context.Background())
	if err != nil {
		return actor.PID{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return c.PID, nil
		}
	}
	return actor.PID{}, fmt.Errorf("no child %s", id)
}

func (m *model) must(err error, what string) {
	if err != nil {
		m.t.Fatalf("%s: %v", what, err)
	}
}

// pids maps worker ids to their live processes, walking the tree.
func (m *model) pids() map[int]actor.PID {
	out := map[int]actor.PID{}
	var walk func(h *supervisor.Handle)
	walk = func(h *supervisor.Handle) {
		cs, err := h.WhichChildren(context.Background())
		m.must(err, "which children")
		for _, c := range cs {
			switch {
			case c.PID.IsZero():
			case c.Type == supervisor.Supervisor:
				walk(supervisor.Of(m.sys.System, c.PID))
			default:
				var id int
				err := m.sys.Inspect(context.Background(), c.PID, func(st any) { id = st.(mstate).ID })
				if err == nil {
					out[id] = c.PID
				}
			}
		}
	}
	walk(m.root)
	for _, w := range m.workers {
		if w.outside {
			out[w.id] = w.pid
		}
	}
	return out
}

// send sends one message to worker w from sender.
func (m *model) send(pids map[int]actor.PID, w *mworker, sender int) {
	m.sent++
	key := [2]int{sender, w.id}
	m.seqs[key]++
	m.sendTo(pids[w.id], mmsg{Sender: sender, Seq: m.seqs[key], ID: m.sent})
}

// sendTo sends msg and records a refusal (a send that returned an error is
// no dead letter: its sender was told).
func (m *model) sendTo(pid actor.PID, msg mmsg) {
	if err := m.sys.Send(pid, msg); err != nil {
		m.mu.Lock()
		m.refused[msg.ID]++
		m.mu.Unlock()
	}
}

// step sends some load, draws one plan, runs it with its faults, and
// checks the system against the model.
func (m *model) step(n int) {
	pids := m.pids()
	tables := m.tables() // as the pickups of the messages below find them
	woken := map[int]bool{}
	for range m.rng.IntN(2 * len(m.workers)) {
		w := m.workers[m.rng.IntN(len(m.workers))]
		m.send(pids, w, 0)
		woken[w.id] = true
	}
	m.flush(pids, woken, tables)
	for _, mod := range m.mods {
		m.knownAt[mod] = m.table(mod)
	}
	p := m.drawPlan()
	want := m.refusal(p)
	before := m.snapshot()
	fx := effect{target: -1, victim: -1}
	if want == "" {
		fx = m.drawFault(p, pids)
	}
	slow := m.startSlowPickup(p, pids)
	rep, err := m.run(p, fx, pids)
	m.t.Logf("plan %d: %s; fault %q on %d (victim %d), slow pickup %d -> %v: %v", n, describe(p), fx.kind, fx.target, fx.victim, slow.id, rep.Outcome, err)
	m.checkOutcome(p, rep, err, want, fx, before, pids)
	m.finishSlowPickup(slow, pids)
	m.verify(n == *modelPlans-1)
}

// slowPickup is a worker outside the tree held in the middle of the
// migration its next message starts (per-message pickup) while a plan
// runs: the plan may make another version current meanwhile.
type slowPickup struct {
	id int // -1: none
	f  mfault
}

// startSlowPickup, for a quarter of the plans, sends a worker outside the
// tree that is behind its module's current version (a module the plan
// changes, when there is one) a message, and holds it in the first step of
// the migration the message starts until finishSlowPickup. No plan holds
// such a worker: whatever the plan makes current meanwhile, the worker
// then runs the version current when its migration returns (the model's
// pickup at that moment), never the one that was current when the message
// was taken.
func (m *model) startSlowPickup(p upgrade.Plan, pids map[int]actor.PID) slowPickup {
	none := slowPickup{id: -1}
	var cand, changed []*mworker
	for _, w := range m.workers {
		cur := m.current(w.module)
		if !w.outside || w.version == cur || m.skipOf[w.id] == cur {
			continue
		}
		if _, ok := m.route(w.module, w.version, cur, m.table(w.module)); !ok {
			continue
		}
		cand = append(cand, w)
		if change(p, w.module) != nil {
			changed = append(changed, w)
		}
	}
	if len(changed) > 0 {
		cand = changed
	}
	if len(cand) == 0 || m.rng.IntN(4) != 0 {
		return none
	}
	w := cand[m.rng.IntN(len(cand))]
	sp := slowPickup{id: w.id, f: mfault{kind: "block", entered: make(chan struct{}), release: make(chan struct{})}}
	m.setFault(w.id, sp.f)
	m.send(pids, w, 0)
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	select {
	case <-sp.f.entered:
	case <-ctx.Done():
		m.t.Fatalf("worker %d (%s@%s, current %s) did not start migrating at its message", w.id, w.module, w.version, m.current(w.module))
	}
	return sp
}

// finishSlowPickup lets the held migration return, once the model knows
// where the plan left the current versions, and waits until the worker
// has handled its message: the model moves it to the version current now.
func (m *model) finishSlowPickup(sp slowPickup, pids map[int]actor.PID) {
	if sp.id < 0 {
		return
	}
	tables := m.tables() // as its pickup finds them: read before it moves on
	close(sp.f.release)
	m.flush(pids, map[int]bool{sp.id: true}, tables)
}

// flush makes sure the woken workers have handled what they were sent (a
// call queued behind it), and lets the model apply their pickups.
func (m *model) flush(pids map[int]actor.PID, woken map[int]bool, tables map[string][]string) {
	for id := range woken {
		w := m.workers[id]
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		_, err := m.sys.Call(ctx, pids[id], mmsg{Sender: 9, Seq: m.next9(id)})
		cancel()
		m.must(err, fmt.Sprintf("flush worker %d (%v)", id, pids[id]))
		m.pickup(w, tables[w.module])
	}
}

func (m *model) next9(id int) int {
	m.seqs[[2]int{9, id}]++
	return m.seqs[[2]int{9, id}]
}

// pickup applies per-message pickup to the model: a worker not on its
// module's current version migrates along the route at its next message,
// unless that migration failed before and nothing changed since.
func (m *model) pickup(w *mworker, table []string) {
	cur := m.current(w.module)
	if w.version == cur || m.skipOf[w.id] == cur {
		return
	}
	trail, ok := m.route(w.module, w.version, cur, table)
	if !ok {
		m.t.Errorf("worker %d on %s@%s has no route to the current %s (table %v)", w.id, w.module, w.version, cur, table)
		return
	}
	w.version, w.trail = cur, append(slices.Clone(w.trail), trail...)
	delete(m.skipOf, w.id)
}

func describe(p upgrade.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", p.Mode)
	if p.DryRun {
		b.WriteString(" dry")
	}
	for _, c := range p.Changes {
		fmt.Fprintf(&b, " %v", c.To)
	}
	fmt.Fprintf(&b, " stragglers=%v skip=%v waves=%v", p.Stragglers, p.OnTimeout == upgrade.SkipOnTimeout, p.Waves)
	return b.String()
}

func (m *model) drawPlan() upgrade.Plan {
	p := upgrade.Plan{Mode: upgrade.Mode(m.rng.IntN(3)), Timeout: time.Hour, DryRun: m.rng.IntN(8) == 0,
		Gate: upgrade.Gate{Observe: time.Millisecond, MaxCrashes: 1 << 20}}
	mods := slices.Clone(m.mods)
	m.rng.Shuffle(len(mods), func(i, j int) { mods[i], mods[j] = mods[j], mods[i] })
	for _, mod := range mods[:1+m.rng.IntN(len(mods))] {
		others := slices.DeleteFunc(slices.Clone(mnames), func(n string) bool { return n == m.cur[mod] })
		p.Changes = append(p.Changes, upgrade.Change{Module: mod, To: m.versions[mod][others[m.rng.IntN(len(others))]]})
	}
	if p.Mode == upgrade.Rolling {
		p.Waves = [][]float64{{1}, {0.5, 1}, {0.2, 0.6, 1}, {0.1, 0.3, 0.6, 1}}[m.rng.IntN(4)]
	}
	p.Stragglers = upgrade.StragglerPolicy([]int{0, 0, 0, 1, 2}[m.rng.IntN(5)])
	if m.rng.IntN(4) == 0 {
		p.OnTimeout = upgrade.SkipOnTimeout
	}
	return p
}

// effect is a drawn fault: on whom and what the test does while the plan
// runs.
type effect struct {
	kind   string // "", "fail", "panic", "downfail", "slow", "busy", "kill", "gate_fail", "gate_panic"
	target int    // worker id
	victim int    // "kill": the worker killed while target's migration blocks
	f      mfault
	busy   mblock
}

func (m *model) drawFault(p upgrade.Plan, pids map[int]actor.PID) effect {
	var movers []int // workers in the tree whose module the plan changes, not on the target
	for _, w := range m.workers {
		if c := change(p, w.module); c != nil && !w.outside && w.version != c.To.Name() {
			movers = append(movers, w.id)
		}
	}
	kinds := []string{"", "", "", "fail", "panic", "downfail", "slow", "busy", "kill"}
	if p.Mode == upgrade.Rolling {
		kinds = append(kinds, "gate_fail", "gate_panic")
	}
	none := effect{target: -1, victim: -1}
	fx := effect{kind: kinds[m.rng.IntN(len(kinds))], victim: -1}
	if fx.kind == "" || len(movers) == 0 || p.DryRun && fx.kind != "fail" && fx.kind != "panic" {
		return none
	}
	var prepared []int // the workers a round of prepare requests reaches
	for _, w := range m.prepared(p) {
		prepared = append(prepared, w.id)
	}
	switch fx.kind {
	case "slow", "busy":
		if !m.oneRound(p) {
			fx.kind = "fail"
		}
	case "kill":
		if p.Mode == upgrade.Rolling || len(prepared) == 0 || len(movers) < 2 {
			return none
		}
	}
	fx.target = movers[m.rng.IntN(len(movers))]
	if fx.kind == "busy" {
		// The busy message would move a straggler to the current version
		// first: only a prepared worker on the current version.
		prepared = slices.DeleteFunc(prepared, func(id int) bool { return m.workers[id].version != m.cur[m.workers[id].module] })
		if len(prepared) == 0 {
			return none
		}
	}
	if fx.kind == "slow" || fx.kind == "kill" {
		// Its migration blocks: a prepared worker that migrates (not one
		// held on the target already).
		prepared = slices.DeleteFunc(prepared, func(id int) bool {
			w := m.workers[id]
			return w.version == change(p, w.module).To.Name()
		})
		if len(prepared) == 0 {
			return none
		}
	}
	if fx.kind == "slow" || fx.kind == "busy" || fx.kind == "kill" {
		fx.target = prepared[m.rng.IntN(len(prepared))]
	}
	switch fx.kind {
	case "fail", "panic", "downfail":
		m.setFault(fx.target, mfault{kind: fx.kind})
	case "slow":
		fx.f = mfault{kind: "block", entered: make(chan struct{}), release: make(chan struct{})}
		m.setFault(fx.target, fx.f)
	case "kill":
		fx.f = mfault{kind: "block", entered: make(chan struct{}), release: make(chan struct{})}
		m.setFault(fx.target, fx.f)
		for fx.victim = fx.target; fx.victim == fx.target; {
			fx.victim = movers[m.rng.IntN(len(movers))]
		}
	case "busy":
		fx.busy = mblock{entered: make(chan struct{}), release: make(chan struct{})}
		w := m.workers[fx.target]
		table := m.table(w.module)
		m.must(m.sys.Send(pids[fx.target], fx.busy), "busy")
		<-fx.busy.entered
		m.pickup(w, table) // the message picks the current version up first
	}
	return fx
}

func (m *model) setFault(id int, f mfault) {
	m.mu.Lock()
	m.faults[id] = f
	m.mu.Unlock()
}

func change(p upgrade.Plan, mod string) *upgrade.Change {
	for i := range p.Changes {
		if p.Changes[i].Module == mod {
			return &p.Changes[i]
		}
	}
	return nil
}

// ---- the reference model

// route is the model's own search for the shortest chain of declared
// steps from one version to another among known (the lineages are drawn
// so that it is unique); nil, false if there is none.
func (m *model) route(mod, from, to string, known []string) ([]string, bool) {
	l := m.lin[mod]
	index := func(n string) int { return slices.Index(mnames, n) }
	steps := func(v string) map[string]string { // neighbour → trail entry
		out := map[string]string{}
		i := index(v)
		for _, w := range known {
			j := index(w)
			switch {
			case j == i+1 || (l.upFrom[w] == v && v != ""):
				out[w] = "+" + w // w follows v (or migrates from it)
			case l.down[v] && (j == i-1 || l.downTo[v] == w):
				out[w] = "-" + v // v returns to w
			}
		}
		return out
	}
	type hop struct {
		prev, entry string
	}
	seen := map[string]hop{from: {}}
	queue := []string{from}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		if v == to {
			break
		}
		next := steps(v)
		for _, w := range slices.Sorted(func(y func(string) bool) {
			for k := range next {
				if !y(k) {
					return
				}
			}
		}) {
			if _, ok := seen[w]; !ok {
				seen[w] = hop{v, next[w]}
				queue = append(queue, w)
			}
		}
	}
	if _, ok := seen[to]; !ok {
		return nil, false
	}
	var trail []string
	for v := to; v != from; v = seen[v].prev {
		trail = append([]string{seen[v].entry}, trail...)
	}
	return trail, true
}

// tables reads every module's table.
func (m *model) tables() map[string][]string {
	out := map[string][]string{}
	for _, mod := range m.mods {
		out[mod] = m.table(mod)
	}
	return out
}

// table lists the versions of mod the system knows now (current, previous,
// in use, staged); verify checks the table against the model.
func (m *model) table(mod string) []string {
	info, _ := m.sys.Module(mod)
	var out []string
	for _, v := range info.Versions {
		out = append(out, v.Name())
	}
	return out
}

// known is the table as it was when the plan started.
func (m *model) known(mod string) []string { return m.knownAt[mod] }

func (m *model) current(mod string) string { return m.cur[mod] }

// refusal predicts, from the model alone, why the system must refuse p
// ("" if it must not).
func (m *model) refusal(p upgrade.Plan) string {
	for _, c := range p.Changes {
		mod, to := c.Module, c.To.Name()
		known := append(m.known(mod), to)
		cur := m.current(mod)
		inUse := map[string]int{}
		outside := map[string]int{}
		tree := map[string]int{}
		for _, w := range m.workers {
			if w.module != mod {
				continue
			}
			inUse[w.version]++
			if w.outside {
				outside[w.version]++
			} else {
				tree[w.version]++
			}
		}
		for v := range inUse {
			if _, ok := m.route(mod, v, to, known); v != to && !ok {
				return "no route from " + v
			}
		}
		if _, ok := m.route(mod, cur, to, known); !ok {
			return "no route from the current version"
		}
		if p.Mode == upgrade.Rolling {
			if _, ok := m.route(mod, to, cur, known); !ok {
				return "no way back"
			}
		}
		if p.Stragglers == upgrade.RefuseStragglers {
			for v, n := range tree {
				if v != cur && n > 0 { // on the target too: still behind the current version
					return "stragglers"
				}
			}
		}
		staying := map[string]bool{}
		for v, n := range outside {
			if v != to && n > 0 {
				staying[v] = true
			}
		}
		if p.Mode == upgrade.Lazy && cur != to && tree[cur] > 0 {
			staying[cur] = true
		}
		if len(staying) > 1 {
			return "not purged"
		}
	}
	return ""
}

func (m *model) byPID(pids map[int]actor.PID) map[actor.PID]*mworker {
	out := map[actor.PID]*mworker{}
	for id, pid := range pids {
		out[pid] = m.workers[id]
	}
	return out
}

func zapOff() zap.AtomicLevel { return zap.NewAtomicLevelAt(zap.FatalLevel) }

// ---- running a plan

// movers lists the workers in the tree that the plan moves (their module
// changes and they are not on its target), with their levels.
func (m *model) movers(p upgrade.Plan) []*mworker {
	var out []*mworker
	for _, w := range m.workers {
		if c := change(p, w.module); c != nil && !w.outside && w.version != c.To.Name() {
			out = append(out, w)
		}
	}
	return out
}

// prepared lists the workers in the tree the plan prepares (holds): every
// one of its modules, but for a lazy plan only those off the current
// version (stragglers), which includes those on the target already.
func (m *model) prepared(p upgrade.Plan) []*mworker {
	var out []*mworker
	for _, w := range m.workers {
		if change(p, w.module) != nil && !w.outside && (p.Mode != upgrade.Lazy || w.version != m.current(w.module)) {
			out = append(out, w)
		}
	}
	return out
}

// oneRound reports whether the plan prepares its processes in one round
// of requests (one level, one wave), so that the test can tell when a
// round's deadline may pass.
func (m *model) oneRound(p upgrade.Plan) bool {
	ws := m.prepared(p)
	if len(ws) == 0 || (p.Mode == upgrade.Rolling && len(p.Waves) > 1) {
		return false
	}
	for _, w := range ws {
		if w.level != ws[0].level && p.Mode == upgrade.Atomic {
			return false
		}
	}
	return true
}

// run runs the plan, driving the fake clock (gates, deadlines) and the
// fault while it runs, with load from a second sender meanwhile.
func (m *model) run(p upgrade.Plan, fx effect, pids map[int]actor.PID) (*upgrade.Report, error) {
	switch fx.kind {
	case "gate_fail":
		p.Gate.Check = func(context.Context, upgrade.Wave) error { return errors.New("unhealthy") }
	case "gate_panic":
		p.Gate.Check = func(context.Context, upgrade.Wave) error { panic("gate exploded") }
	}
	m.steps = nil
	evs := make(chan upgrade.Event, 1<<14)
	defer m.sys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(upgrade.Event); ok {
			select {
			case evs <- ev:
			default:
				m.t.Error("event buffer full")
			}
		}
	})()
	type result struct {
		rep *upgrade.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := m.root.Upgrade(context.Background(), p)
		done <- result{rep, err}
	}()
	// A second sender while the plan runs, to the tree's workers (not for
	// lazy or skipping plans, whose processes migrate at their next
	// message: the model must know which got one).
	var load sync.WaitGroup
	var loaded []int
	if p.Mode != upgrade.Lazy && p.OnTimeout != upgrade.SkipOnTimeout && !p.DryRun {
		for range 10 + m.rng.IntN(20) {
			// Not to a worker that is behind its module's current version:
			// it would migrate on the message, before or after the
			// snapshot, as it happens.
			if w := m.workers[m.rng.IntN(len(m.workers))]; !w.outside && w.version == m.cur[w.module] {
				loaded = append(loaded, w.id)
			}
		}
		msgs := make([]mmsg, len(loaded))
		for i, id := range loaded {
			m.sent++
			m.seqs[[2]int{1, id}]++
			msgs[i] = mmsg{Sender: 1, Seq: m.seqs[[2]int{1, id}], ID: m.sent}
		}
		load.Go(func() {
			for i, id := range loaded {
				m.sendTo(pids[id], msgs[i])
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	deadline := func() { // let the pending round's deadline pass, once its other members answered
		m.must(m.sys.Clock.WaitForTimers(ctx, 1), "round timer")
		for _, w := range m.prepared(p) {
			if w.id != fx.target {
				ictx, icancel := context.WithTimeout(ctx, time.Second)
				_, _ = m.sys.Info(ictx, pids[w.id]) // served after its prepare request
				icancel()
			}
		}
		m.sys.Clock.Advance(p.Timeout)
	}
	var release chan struct{} // closed once the target's failure is reported
	switch fx.kind {
	case "busy":
		deadline()
		release = fx.busy.release
	}
	entered := fx.f.entered
	committed := false
	var res result
	for res.rep == nil {
		select {
		case res = <-done:
		case <-entered:
			entered = nil
			switch fx.kind {
			case "slow":
				deadline()
				release = fx.f.release
			case "kill":
				gone := m.sys.Watch(pids[fx.victim])
				m.must(m.sys.Kill(pids[fx.victim]), "kill")
				<-gone.Done()
				m.killed = true
				close(fx.f.release)
			}
		case ev := <-evs:
			if testing.Verbose() {
				m.t.Logf("  event %T %+v", ev, ev)
			}
			m.steps = append(m.steps, ev)
			switch e := ev.(type) {
			case upgrade.UpgradeCommitted:
				committed = true
			case upgrade.UpgradeAwaiting:
				m.wake(ctx, p, pids, fx)
			case upgrade.WaveCommitted:
				if !committed { // a gate follows
					m.must(m.sys.Clock.WaitForTimers(ctx, 1), "gate timer")
					m.sys.Clock.Advance(p.Gate.Observe)
				}
			case upgrade.ProcessFailed:
				if release != nil && e.PID == pids[fx.target] {
					close(release)
					release = nil
				}
			case upgrade.ProcessSkipped:
				if release != nil && e.PID == pids[fx.target] {
					close(release)
					release = nil
				}
			}
		case <-ctx.Done():
			m.t.Fatalf("plan did not finish: %s", describe(p))
		}
	}
	for drained := false; !drained; { // what the plan emitted before it returned
		select {
		case ev := <-evs:
			m.steps = append(m.steps, ev)
		default:
			drained = true
		}
	}
	if release != nil {
		close(release) // the plan ended before the target's failure (refused, say)
	}
	if fx.f.release != nil && entered != nil {
		close(fx.f.release) // never entered
	}
	load.Wait()
	m.mu.Lock()
	clear(m.faults)
	m.mu.Unlock()
	flushed := map[int]bool{}
	for _, id := range loaded {
		flushed[id] = true
	}
	m.lastLoaded = flushed
	return res.rep, res.err
}

// wake sends a call to a random part of a lazy plan's waiting workers
// (each migrates on it); if some are left, the plan's deadline passes.
func (m *model) wake(ctx context.Context, p upgrade.Plan, pids map[int]actor.PID, fx effect) {
	m.woken = map[int]bool{}
	doomed := m.doomed(p, fx, true)
	var waiting []*mworker
	for _, w := range m.movers(p) {
		if w.version == m.current(w.module) && !doomed[w.id] {
			waiting = append(waiting, w)
		}
	}
	if testing.Verbose() {
		for _, w := range waiting {
			m.t.Logf("  waiting: worker %d %s@%s", w.id, w.module, w.version)
		}
	}
	all := true
	for _, w := range waiting {
		if m.rng.IntN(3) == 0 {
			all = false
			continue
		}
		m.woken[w.id] = true
		cctx, cancel := context.WithTimeout(ctx, actortest.DefaultWait)
		_, err := m.sys.Call(cctx, pids[w.id], mmsg{Sender: 9, Seq: m.next9(w.id)})
		cancel()
		m.must(err, "wake")
	}
	failing := fx.target >= 0 && m.woken[fx.target] && m.pickupFails(p, fx, m.workers[fx.target])
	if !all || failing {
		m.must(m.sys.Clock.WaitForTimers(ctx, 1), "await timer")
		m.sys.Clock.Advance(p.Timeout)
	}
}

// ---- checking a plan's outcome against the model, and updating it

// routeOf is the model's route for worker w to the plan's target.
func (m *model) routeOf(p upgrade.Plan, w *mworker) []string {
	c := change(p, w.module)
	r, _ := m.route(w.module, w.version, c.To.Name(), append(m.known(w.module), c.To.Name()))
	return r
}

// pickupFails reports whether w's migration to the plan's target fails by
// the fault (run at its next message, for a lazy plan).
func (m *model) pickupFails(p upgrade.Plan, fx effect, w *mworker) bool {
	if w.id != fx.target {
		return false
	}
	route := m.routeOf(p, w)
	return (fx.kind == "fail" || fx.kind == "panic") && has(route, '+') || fx.kind == "downfail" && has(route, '-')
}

func has(trail []string, sign byte) bool {
	return slices.ContainsFunc(trail, func(s string) bool { return s[0] == sign })
}

// fails reports whether the fault fails a step before the commit.
func (m *model) fails(p upgrade.Plan, fx effect) bool {
	if fx.kind == "" || fx.kind == "kill" {
		return false
	}
	if fx.kind == "gate_fail" || fx.kind == "gate_panic" {
		return m.hasGate(p)
	}
	w := m.workers[fx.target]
	prepared := slices.ContainsFunc(m.prepared(p), func(x *mworker) bool { return x.id == w.id })
	route := m.routeOf(p, w)
	switch fx.kind {
	case "fail", "panic":
		return prepared && has(route, '+') && !(w.version != m.current(w.module) && p.Stragglers == upgrade.KillStragglers)
	case "downfail":
		return prepared && has(route, '-') && !(w.version != m.current(w.module) && p.Stragglers == upgrade.KillStragglers)
	case "slow":
		return p.OnTimeout == upgrade.RollBackOnTimeout && !(w.version != m.current(w.module) && p.Stragglers == upgrade.KillStragglers)
	case "busy":
		return p.OnTimeout == upgrade.RollBackOnTimeout
	}
	return false
}

// hasGate reports whether a rolling plan has a gate: a first wave that is
// not its last.
func (m *model) hasGate(p upgrade.Plan) bool {
	total, moving := len(m.prepared(p)), 0
	for _, w := range m.prepared(p) {
		if w.version == m.current(w.module) {
			moving++
		}
	}
	return p.Mode == upgrade.Rolling && len(p.Waves) > 1 && min(int(ceil(p.Waves[0]*float64(total))), moving) > 0
}

func ceil(x float64) float64 {
	n := float64(int(x))
	if n < x {
		n++
	}
	return n
}

// skipped reports whether the fault makes the plan leave its target out.
func (m *model) skipped(p upgrade.Plan, fx effect) bool {
	if fx.kind != "busy" && fx.kind != "slow" {
		return false
	}
	w := m.workers[fx.target]
	return p.OnTimeout == upgrade.SkipOnTimeout && (fx.kind == "busy" ||
		fx.kind == "slow" && !(w.version != m.current(w.module) && p.Stragglers == upgrade.KillStragglers))
}

// commitRefused reports whether the commit itself must fail: a skipped
// process keeps its version in use, and with another one staying too,
// OTP's two-versions rule refuses the commit.
func (m *model) commitRefused(p upgrade.Plan, fx effect) bool {
	if !m.skipped(p, fx) {
		return false
	}
	for _, c := range p.Changes {
		staying := map[string]bool{}
		for _, w := range m.workers {
			if w.module != c.Module || w.version == c.To.Name() {
				continue
			}
			lazyCur := p.Mode == upgrade.Lazy && w.version == m.current(w.module)
			if w.outside || lazyCur || w.id == fx.target {
				staying[w.version] = true
			}
		}
		if len(staying) > 1 {
			return true
		}
	}
	return false
}

// snapshot returns each module's current version, as the system says.
func (m *model) snapshot() map[string]string {
	out := map[string]string{}
	for _, mod := range m.mods {
		cur, _ := m.sys.Current(mod)
		out[mod] = cur.Name()
	}
	return out
}

func (m *model) checkOutcome(p upgrade.Plan, rep *upgrade.Report, err error, want string, fx effect, before map[string]string, pids map[int]actor.PID) {
	t := m.t
	got := rep.Outcome
	switch {
	case want != "":
		if got != upgrade.Refused {
			t.Errorf("the model refuses (%s); the system: %v %v", want, got, err)
		}
	case got == upgrade.Refused:
		t.Errorf("the system refused (%v); the model sees no reason", err)
	case p.DryRun:
		if got != upgrade.Simulated {
			t.Errorf("dry run: %v", got)
		}
	case m.fails(p, fx) || m.commitRefused(p, fx):
		if got != upgrade.RolledBack {
			t.Errorf("the fault %q fails the plan; the system: %v %v", fx.kind, got, err)
		}
	case p.Mode == upgrade.Lazy:
		if got != upgrade.Converged && got != upgrade.Unconverged {
			t.Errorf("lazy: %v %v", got, err)
		}
	default:
		if got != upgrade.Committed {
			t.Errorf("no failure; the system: %v %v", got, err)
		}
	}
	if t.Failed() {
		return
	}
	committed := got == upgrade.Committed || got == upgrade.Converged || got == upgrade.Unconverged
	if got == upgrade.Refused {
		if rep.Schedule != nil || len(rep.Processes) > 0 {
			t.Errorf("a refused plan reports a schedule or processes")
		}
		m.update(p, fx, false)
		return
	}
	if !committed {
		if cur := m.snapshot(); !equalMaps(cur, before) {
			t.Errorf("%v changed current versions: %v, were %v", got, cur, before)
		}
	}
	m.checkReport(p, rep, fx, pids, committed)
	if got == upgrade.RolledBack && p.Mode == upgrade.Rolling {
		// Finished waves ran the new version and migrated back: their
		// states went up and down the lineage, once each.
		byPID := m.byPID(pids)
		for _, ev := range m.steps {
			if e, ok := ev.(upgrade.ProcessResumed); ok && e.Version == change(p, e.Module).To.Name() {
				if w := byPID[e.PID]; w != nil {
					to := change(p, w.module).To.Name()
					back, _ := m.route(w.module, to, w.version, append(m.known(w.module), to))
					w.trail = append(append(slices.Clone(w.trail), m.routeOf(p, w)...), back...)
				}
			}
		}
	}
	m.update(p, fx, committed)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkReport checks each entry of the report against the model (as it
// was before the plan): where the process started, and a result the
// outcome allows.
func (m *model) checkReport(p upgrade.Plan, rep *upgrade.Report, fx effect, pids map[int]actor.PID, committed bool) {
	t := m.t
	byPID := m.byPID(pids)
	seen := map[int]bool{}
	doomed := m.doomed(p, fx, committed)
	for _, r := range rep.Processes {
		w := byPID[r.PID]
		if w == nil {
			if !r.Late {
				t.Errorf("report lists %v, which the tree did not hold", r.PID)
			}
			continue
		}
		seen[w.id] = true
		c := change(p, w.module)
		if r.From != w.version || r.Target != c.To.Name() {
			t.Errorf("worker %d: reported %s -> %s (target %s), model has it on %s", w.id, r.From, r.To, r.Target, w.version)
		}
		straggler := w.version != m.current(w.module)
		var allowed []upgrade.Result
		killStraggler := straggler && p.Stragglers == upgrade.KillStragglers
		switch {
		case w.version == c.To.Name() && p.DryRun && killStraggler:
			allowed = []upgrade.Result{upgrade.Killed}
		case w.version == c.To.Name() && p.DryRun:
			allowed = []upgrade.Result{upgrade.WouldMigrate}
		case w.version == c.To.Name() && committed && killStraggler:
			allowed = []upgrade.Result{upgrade.Killed}
		case w.version == c.To.Name() && committed:
			allowed = []upgrade.Result{upgrade.Unchanged} // held through the commit
		case w.version == c.To.Name():
			allowed = []upgrade.Result{upgrade.Restored, upgrade.NotReached}
			if doomed[w.id] {
				allowed = append(allowed, upgrade.Exited)
			}
		case m.killed && w.id == fx.victim:
			allowed = []upgrade.Result{upgrade.Exited}
		case doomed[w.id] && p.Mode == upgrade.Lazy && !straggler:
			allowed = []upgrade.Result{upgrade.Exited, upgrade.Pending} // restarted with a sibling
		case doomed[w.id] && committed && !(straggler && p.Stragglers == upgrade.KillStragglers):
			allowed = []upgrade.Result{upgrade.Migrated, upgrade.Exited} // restarted with a sibling after its switch, or before
		case p.DryRun && straggler && p.Stragglers == upgrade.KillStragglers:
			allowed = []upgrade.Result{upgrade.Killed}
		case p.DryRun:
			allowed = []upgrade.Result{upgrade.WouldMigrate}
			if w.id == fx.target && (fx.kind == "fail" || fx.kind == "panic") && has(m.routeOf(p, w), '+') {
				allowed = []upgrade.Result{upgrade.Failed}
			}
		case committed && w.id == fx.target && m.skipped(p, fx):
			allowed = []upgrade.Result{upgrade.Skipped}
		case committed && straggler && p.Stragglers == upgrade.KillStragglers:
			allowed = []upgrade.Result{upgrade.Killed}
		case committed && p.Mode == upgrade.Lazy && !straggler:
			allowed = []upgrade.Result{upgrade.Pending}
			if m.woken[w.id] && !m.pickupFails(p, fx, w) {
				allowed = []upgrade.Result{upgrade.Migrated}
			}
		case committed:
			allowed = []upgrade.Result{upgrade.Migrated}
		case w.id == fx.target && (fx.kind == "slow" || fx.kind == "busy"):
			allowed = []upgrade.Result{upgrade.NoAnswer, upgrade.Skipped}
		case w.id == fx.target && fx.kind != "gate_fail" && fx.kind != "gate_panic":
			allowed = []upgrade.Result{upgrade.Failed, upgrade.NotReached, upgrade.Restored}
		default:
			allowed = []upgrade.Result{upgrade.Restored, upgrade.NotReached}
		}
		if !slices.Contains(allowed, r.Result) {
			t.Errorf("worker %d (%v, %s on %s, straggler %v): result %v, want one of %v (err %v)", w.id, r.PID, w.module, w.version, straggler, r.Result, allowed, r.Err)
		}
		wantTo := w.version
		switch r.Result {
		case upgrade.Migrated, upgrade.Unchanged:
			wantTo = c.To.Name()
		case upgrade.Exited, upgrade.Killed:
			wantTo = r.To // where it died
		}
		if r.To != wantTo {
			t.Errorf("worker %d: result %v reported on %s, want %s", w.id, r.Result, r.To, wantTo)
		}
	}
	deferred := rep.Schedule != nil && rep.Schedule.Deferred
	for _, w := range m.workers {
		if c := change(p, w.module); c != nil && !w.outside && !seen[w.id] && !(deferred && w.version == c.To.Name()) {
			t.Errorf("worker %d (%s@%s) is missing from the report", w.id, w.module, w.version)
		}
	}
}

// doomed lists the workers the plan's outcome has their supervisors
// restart: the victim of a kill, and stragglers killed by policy at a
// commit, with the siblings their strategy takes along.
func (m *model) doomed(p upgrade.Plan, fx effect, committed bool) map[int]bool {
	out := map[int]bool{}
	if m.killed {
		m.restart(fx.victim, out)
	}
	if committed && p.Stragglers == upgrade.KillStragglers {
		for _, w := range m.prepared(p) {
			if w.version != m.cur[w.module] {
				m.restart(w.id, out)
			}
		}
	}
	return out
}

// update moves the model to where the plan left the system.
func (m *model) update(p upgrade.Plan, fx effect, committed bool) {
	fresh := m.doomed(p, fx, committed) // restarted by their supervisors: Init state on the version current then
	m.killed = false
	if committed {
		for _, w := range m.workers {
			if change(p, w.module) != nil {
				delete(m.skipOf, w.id) // a new release: a failed pickup is tried again
			}
		}
		for _, w := range m.workers {
			c := change(p, w.module)
			if c == nil || w.version == c.To.Name() || w.outside || fresh[w.id] {
				continue // outside workers migrate at their next message
			}
			straggler := w.version != m.cur[w.module]
			route := m.routeOf(p, w)
			faulted := m.pickupFails(p, fx, w)
			switch {
			case w.id == fx.target && m.skipped(p, fx):
				// left out: it migrates at its next message
			case p.Mode == upgrade.Lazy && !straggler && !m.woken[w.id]:
				// migrates at its next message
			case p.Mode == upgrade.Lazy && !straggler && faulted:
				m.skipOf[w.id] = c.To.Name() // its pickup failed: no retry until another version
			default:
				w.version, w.trail = c.To.Name(), append(slices.Clone(w.trail), route...)
				delete(m.skipOf, w.id)
			}
		}
		for _, c := range p.Changes {
			m.previous[c.Module] = m.cur[c.Module]
			m.cur[c.Module] = c.To.Name()
			m.everCur[c.Module][c.To.Name()] = true
		}
	}
	for id := range fresh {
		w := m.workers[id]
		w.version, w.trail = m.cur[w.module], nil
		delete(m.skipOf, id)
	}
}

// restart marks id restarted, with the siblings its supervisor's strategy
// takes along (one_for_all: the whole group; rest_for_one: those after it).
func (m *model) restart(id int, fresh map[int]bool) {
	fresh[id] = true
	for _, g := range m.groups {
		if i := slices.Index(g, id); i >= 0 {
			if m.restFor {
				g = g[i:]
			}
			for _, x := range g {
				fresh[x] = true
			}
		}
	}
}

// verify compares the system with the model: every worker's version and
// state, nothing suspended, the current and previous versions, the module
// tables, and the ledger of messages. At the end of a run, every worker is
// sent a message first (stragglers migrate) and the whole ledger must
// balance.
func (m *model) verify(last bool) {
	t := m.t
	pids := m.pids()
	if len(m.lastLoaded) > 0 {
		m.flush(pids, m.lastLoaded, m.tables())
		m.lastLoaded = nil
	}
	if last {
		all := map[int]bool{}
		for _, w := range m.workers {
			all[w.id] = true
		}
		m.flush(pids, all, m.tables())
	}
	ctx := context.Background()
	for _, w := range m.workers {
		pid, ok := pids[w.id]
		if !ok {
			t.Errorf("worker %d is not running; the tree:", w.id)
			{
				var dump func(h *supervisor.Handle)
				dump = func(h *supervisor.Handle) {
					cs, err := h.WhichChildren(ctx)
					t.Logf("  %v: %+v %v", h.PID(), cs, err)
					for _, c := range cs {
						if c.Type == supervisor.Supervisor && !c.PID.IsZero() {
							dump(supervisor.Of(m.sys.System, c.PID))
						}
					}
				}
				dump(m.root)
			}
			continue
		}
		v, _ := m.sys.VersionOf(pid)
		var st mstate
		if err := m.sys.Inspect(ctx, pid, func(s any) { st = s.(mstate) }); err != nil {
			t.Errorf("worker %d: %v", w.id, err)
			continue
		}
		if v.Version != w.version || !slices.Equal(st.Trail, w.trail) {
			t.Errorf("worker %d (%v): runs %s@%s with trail %v; the model says %s with trail %v",
				w.id, pid, w.module, v.Version, st.Trail, w.version, w.trail)
		}
		if info, err := m.sys.Info(ctx, pid); err != nil || info.Suspended {
			t.Errorf("worker %d (%v) is suspended (%v)", w.id, pid, err)
		}
	}
	var sups func(h *supervisor.Handle)
	sups = func(h *supervisor.Handle) {
		if info, err := m.sys.Info(ctx, h.PID()); err != nil || info.Suspended {
			t.Errorf("supervisor %v is suspended (%v)", h.PID(), err)
		}
		cs, _ := h.WhichChildren(ctx)
		for _, c := range cs {
			if c.Type == supervisor.Supervisor && !c.PID.IsZero() {
				sups(supervisor.Of(m.sys.System, c.PID))
			}
		}
	}
	sups(m.root)
	for _, mod := range m.mods {
		info, _ := m.sys.Module(mod)
		if info.Current != m.cur[mod] {
			t.Errorf("module %s: current %s, the model says %s", mod, info.Current, m.cur[mod])
		}
		inUse := map[string]int64{}
		for _, w := range m.workers {
			if w.module == mod {
				inUse[w.version]++
			}
		}
		for name, n := range info.Activations {
			if n != inUse[name] {
				t.Errorf("module %s: %s has %d activations, the model counts %d", mod, name, n, inUse[name])
			}
		}
		for name, n := range inUse {
			if _, ok := info.Activations[name]; !ok && n > 0 {
				t.Errorf("module %s: %s is in use by %d workers but not known", mod, name, n)
			}
		}
		// A version that has been current, is neither current nor
		// previous, runs nowhere and lies on no route from a version in
		// use to the current one must have left the table.
		needed := map[string]bool{}
		for v, n := range inUse {
			if n > 0 && v != info.Current {
				trail, _ := m.route(mod, v, info.Current, m.table(mod))
				needed[v] = true
				for _, e := range trail {
					needed[e[1:]] = true
				}
			}
		}
		for name := range info.Activations {
			if m.everCur[mod][name] && name != info.Current && name != info.Previous && inUse[name] == 0 && !needed[name] {
				t.Errorf("module %s: %s is retired but still known (table %v)", mod, name, m.table(mod))
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.bad) > 0 {
		t.Errorf("order violations: %v", m.bad)
	}
	for id := 1; id <= m.sent; id++ {
		if n := m.handled[id] + m.dead[id] + m.refused[id]; n != 1 && (last || n > 1) {
			t.Errorf("message %d: handled %d times, dead-lettered %d times, refused %d times", id, m.handled[id], m.dead[id], m.refused[id])
		}
	}
}
