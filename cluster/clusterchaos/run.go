package clusterchaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/cluster"
)

// Kind is a kind of fault across nodes.
type Kind string

// The faults across nodes. Each ends the connection between the
// coordinator and a node while the load runs.
const (
	// NodeKill kills a node's OS process (SIGKILL, through
	// Config.Control) and starts it again: a new incarnation, whose own
	// run starts afresh.
	NodeKill Kind = "node_kill"
	// Disconnect closes the coordinator's connection to a node
	// (cluster.Node.Disconnect), as a network failure would.
	Disconnect Kind = "disconnect"
	// FarDisconnect has the node close its connection to the
	// coordinator: the coordinator sees the TCP connection end.
	FarDisconnect Kind = "far_disconnect"
)

// Kinds lists every kind of fault across nodes, in a fixed order.
var Kinds = []Kind{NodeKill, Disconnect, FarDisconnect}

// DefaultWeights are the relative frequencies of the faults when
// Config.Weights is nil.
var DefaultWeights = map[Kind]int{NodeKill: 2, Disconnect: 1, FarDisconnect: 1}

// Control kills and starts the nodes under test: OS processes in the
// tests, containers or machines elsewhere. Both are called on Run's
// goroutine, one at a time.
type Control interface {
	// Kill ends the node abruptly (SIGKILL: no goodbye on its
	// connections) and returns once it is gone.
	Kill(ctx context.Context, node string) error
	// Start starts the node again and returns once its agent serves
	// (Serve).
	Start(ctx context.Context, node string) error
}

// Config is one cluster chaos run. The zero value of every field but
// Nodes has a default.
type Config struct {
	// Seed makes the schedule: the faults across nodes (kinds, nodes, in
	// order) and each node's own run's seed. 0 picks one from the time.
	// The same seed gives the same schedules; interleavings still vary.
	Seed uint64
	// Nodes are the nodes under test; each must serve (Serve).
	Nodes []string
	// Faults across nodes (default 10), one every Interval (default
	// 500 ms of load).
	Faults   int
	Interval time.Duration
	// Weights of the kinds of fault (default DefaultWeights). NodeKill
	// needs Control; Killable lists the nodes it may kill (default:
	// every node).
	Weights  map[Kind]int
	Control  Control
	Killable []string
	// Senders and Rate: the coordinator's load, Rate messages per second
	// in all, sent by name to the named workers of every node (defaults 2
	// and 2,000).
	Senders int
	Rate    int
	// FaultTimeout bounds each wait for what a fault must cause (the
	// monitors firing, a call failing, a node answering again): default
	// 30 s. Keep it longer than the nodes' tick time (a connection one
	// end refused is found by the tick, see docs/cluster.md).
	FaultTimeout time.Duration
	// Settle bounds the wait, after the load stops, for every message
	// sent to a node's last incarnation to be handled or reported
	// (default 30 s).
	Settle time.Duration
	// Out receives the summary (nil: none).
	Out io.Writer
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Weights == nil {
		c.Weights = DefaultWeights
	}
	c.Faults = cmpOr(c.Faults, 10)
	c.Interval = cmpOr(c.Interval, 500*time.Millisecond)
	c.Senders = cmpOr(c.Senders, 2)
	c.Rate = cmpOr(c.Rate, 2000)
	c.FaultTimeout = cmpOr(c.FaultTimeout, 30*time.Second)
	c.Settle = cmpOr(c.Settle, 30*time.Second)
}

func cmpOr[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func (c *Config) validate(self string) error {
	if len(c.Nodes) == 0 {
		return fmt.Errorf("%w: no node under test", ErrBadArgs)
	}
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		switch {
		case n == "" || n == self:
			return fmt.Errorf("%w: node %q (the coordinator runs no chaos of its own)", ErrBadArgs, n)
		case seen[n]:
			return fmt.Errorf("%w: node %s twice", ErrBadArgs, n)
		}
		seen[n] = true
	}
	for _, n := range c.Killable {
		if !seen[n] {
			return fmt.Errorf("%w: killable node %s is not under test", ErrBadArgs, n)
		}
	}
	usable := 0
	for k, w := range c.Weights {
		if !slices.Contains(Kinds, k) || w < 0 {
			return fmt.Errorf("%w: weight %d of %q", ErrBadArgs, w, k)
		}
		if k != NodeKill || c.Control != nil {
			usable += w
		}
	}
	if usable == 0 {
		return fmt.Errorf("%w: no kind of fault to inject (NodeKill needs a Control)", ErrBadArgs)
	}
	return nil
}

// Run drives a cluster chaos run from node (the coordinator) against
// cfg.Nodes, each serving (Serve): it starts every node's own chaos run
// (chaos.Run on its tree, seeded from cfg.Seed), sends load by name to
// the nodes' workers, injects faults across nodes (kills, closed
// connections) on a seeded schedule, then stops the load, waits until
// every message was handled or reported, ends the nodes' runs and checks
// the invariants across nodes and on each node (see the package doc).
//
// The returned error is about the run itself (bad arguments, a node that
// does not serve or could not be started again); invariant violations
// are in the Result (Result.Err).
func Run(ctx context.Context, node *cluster.Node, cfg Config) (*Result, error) {
	if node == nil {
		return nil, fmt.Errorf("%w: no node", ErrBadArgs)
	}
	cfg.defaults()
	if err := cfg.validate(node.Name()); err != nil {
		return nil, err
	}
	if err := register(node); err != nil {
		return nil, err
	}
	r := &run{n: node, sys: node.System(), cfg: cfg, self: node.Name(), led: newLedger(),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), res: newResult(cfg.Seed),
		byName: map[string]int{}, watches: map[actor.Ref]*watch{}, links: map[actor.PID]*watch{},
		changed: make(chan struct{}, 1)}
	for i, name := range cfg.Nodes {
		r.nodes = append(r.nodes, &nodeState{name: name, idx: i})
		r.byName[name] = i
	}
	stopEvents := once(r.sys.Subscribe(r.deadLetter))
	defer stopEvents()
	if err := r.startWatcher(); err != nil {
		return nil, err
	}
	stopWatcher := once(r.stopWatcher)
	defer stopWatcher()
	defer r.calls.Wait()
	defer r.abandon()
	start := time.Now()
	for _, ns := range r.nodes {
		if err := r.attach(ctx, ns, false); err != nil {
			return nil, err
		}
	}
	stopLoad := r.startLoad()
	defer stopLoad()
	err := r.inject(ctx)
	stopLoad()
	if err != nil {
		return nil, err
	}
	recs := r.settle(ctx)
	r.finish(ctx)
	recs = r.records(ctx, recs)
	r.res.Elapsed = time.Since(start)
	// Nothing reports into the result any more: the checks and the
	// summary read it alone.
	r.calls.Wait()
	stopWatcher()
	stopEvents()
	r.check(recs)
	if cfg.Out != nil {
		fmt.Fprint(cfg.Out, r.res)
	}
	return r.res, nil
}

// run is one cluster chaos run's state. The schedule, the nodes' starts
// and the checks run on Run's goroutine; the load on its own; the
// watcher process and the dead-letter subscription report through the
// guarded fields.
type run struct {
	n      *cluster.Node
	sys    *actor.System
	cfg    Config
	self   string
	nodes  []*nodeState
	byName map[string]int // node name → index in nodes
	led    *ledger
	rng    *rand.Rand // the schedule; Run's goroutine only
	res    *Result    // written by Run's goroutine, but for the fields under wmu

	watcher actor.PID
	calls   sync.WaitGroup // the calls held across faults

	wmu     sync.Mutex
	watches map[actor.Ref]*watch // guarded by wmu: monitors placed
	links   map[actor.PID]*watch // guarded by wmu: the link to each process, until it fires
	changed chan struct{}        // a watch fired (capacity 1: a wake-up)
	// Result fields the watcher and the subscription write: Fired,
	// DeadReasons, violations (guarded by wmu until Run's checks).
}

// nodeState is one node under test as the run sees it.
type nodeState struct {
	name string
	idx  int
	// epoch is the node's incarnation, counted by the run (0 first): the
	// load tags each message with it, so that what was sent to a killed
	// incarnation is told from what its last one must account for.
	epoch atomic.Uint32
	// names are the node's targets by index (the registered names of its
	// workers under test), in the order first met; the load reads them.
	names atomic.Pointer[[]string]
	// Run's goroutine only:
	agent   actor.PID
	starts  int
	seed    uint64
	running bool // a run of ours is under way there, to be finished
	// snaps are the records of the incarnations killed, each as it gave
	// them right before its kill.
	snaps []nodeRecords
}

// nodeSeed is the seed of a node's start-th run (from 0).
func nodeSeed(seed uint64, node string, start int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(node))
	x := seed ^ h.Sum64() ^ uint64(start+1)*0x9e3779b97f4a7c15
	// splitmix64's finalizer: nearby inputs give unrelated seeds.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	if x == 0 {
		x = 1 // 0 would mean "from the time" to chaos.Run
	}
	return x
}

func (r *run) agentName(ns *nodeState) cluster.Name {
	return cluster.Name{Name: AgentName, Node: ns.name}
}

// call calls ns's agent within the fault timeout.
func (r *run) call(ctx context.Context, ns *nodeState, req any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FaultTimeout)
	defer cancel()
	return r.n.CallNamed(ctx, r.agentName(ns), req)
}

// retries is how many times a request that met a lost connection is
// tried again: right after a connection was closed, a request may go out
// on a new connection the far end refused, and fail when the tick ends
// it; the next one dials again.
const retries = 5

// whereisAgent finds ns's agent.
func (r *run) whereisAgent(ctx context.Context, ns *nodeState) (actor.PID, error) {
	var err error
	for range retries {
		var pid actor.PID
		cctx, cancel := context.WithTimeout(ctx, r.cfg.FaultTimeout)
		pid, err = r.n.Whereis(cctx, r.agentName(ns))
		cancel()
		if err == nil {
			return pid, nil
		}
		if !errors.Is(err, actor.NoConnection) || ctx.Err() != nil {
			break
		}
	}
	return actor.PID{}, fmt.Errorf("clusterchaos: the agent of %s: %w", ns.name, err)
}

// attach starts ns's own run (a new incarnation's, if restarted), learns
// its targets and watches it.
func (r *run) attach(ctx context.Context, ns *nodeState, restarted bool) error {
	pid, err := r.whereisAgent(ctx, ns)
	if err != nil {
		return err
	}
	seed := nodeSeed(r.cfg.Seed, ns.name, ns.starts)
	var v any
	for range retries {
		if v, err = r.call(ctx, ns, startReq{Origin: r.self, Seed: seed}); !errors.Is(err, actor.NoConnection) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("clusterchaos: start the run of %s: %w", ns.name, err)
	}
	ans, ok := v.(startAns)
	var names []string
	if !ok || json.Unmarshal(ans.Targets, &names) != nil {
		return fmt.Errorf("clusterchaos: %s answered the start with %T", ns.name, v)
	}
	known := []string{}
	if p := ns.names.Load(); p != nil {
		known = slices.Clone(*p)
	}
	for _, name := range names {
		if !slices.Contains(known, name) {
			known = append(known, name)
		}
	}
	ns.names.Store(&known)
	ns.agent, ns.seed, ns.running = pid, seed, true
	ns.starts++
	if restarted {
		// From now on the load's messages are for this incarnation, which
		// watches them: each must be accounted for.
		ns.epoch.Add(1)
	}
	r.watchNode(ctx, ns)
	return nil
}

// inject runs the schedule of faults across nodes, one every
// cfg.Interval, and lets the load run for one more.
func (r *run) inject(ctx context.Context) error {
	kinds, total := r.kinds() // not 0: validated
	killable := r.cfg.Killable
	if len(killable) == 0 {
		killable = r.cfg.Nodes
	}
	timer := time.NewTimer(r.cfg.Interval)
	defer timer.Stop()
	for range r.cfg.Faults {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
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
		ns := r.nodes[r.rng.IntN(len(r.nodes))]
		if k == NodeKill {
			ns = r.nodes[r.byName[killable[r.rng.IntN(len(killable))]]]
		}
		if err := r.fault(ctx, k, ns); err != nil {
			return err
		}
		r.res.Faults[k]++
		timer.Reset(r.cfg.Interval)
	}
	// A last Interval of load: a node killed by the last fault has its
	// new run under load and faults for a while too.
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kinds lists the kinds of fault this run can inject, with their total
// weight.
func (r *run) kinds() ([]Kind, int) {
	var out []Kind
	total := 0
	for _, k := range Kinds {
		w := r.cfg.Weights[k]
		if k == NodeKill && r.cfg.Control == nil {
			w = 0
		}
		if w > 0 {
			out = append(out, k)
			total += w
		}
	}
	return out, total
}

// fault injects one fault on ns and waits for what it must cause: every
// monitor and link across the connection fires, the call in progress
// fails; then a killed node is started again and the node is watched
// again.
func (r *run) fault(ctx context.Context, k Kind, ns *nodeState) error {
	h, err := r.prepare(ctx, ns)
	if err != nil {
		return err
	}
	rec := FaultRecord{Kind: k, Node: ns.name}
	start := time.Now()
	defer func() {
		rec.Back = time.Since(start)
		r.res.Timeline = append(r.res.Timeline, rec)
	}()
	switch k {
	case NodeKill:
		// Its records die with it: what they say now is checked for
		// messages counted twice (taken there, and reported here).
		if snap, err := r.fetch(ctx, ns); err == nil {
			ns.snaps = append(ns.snaps, snap)
		}
		if err := r.cfg.Control.Kill(ctx, ns.name); err != nil {
			return fmt.Errorf("clusterchaos: kill %s: %w", ns.name, err) // its run is ended on the way out
		}
		ns.running = false
	case Disconnect:
		_ = r.n.Disconnect(ns.name) // not connected: the call in progress has failed already
	case FarDisconnect:
		_ = r.n.SendNamed(r.agentName(ns), dropReq{Node: r.self}) // refused: the connection is gone already
	}
	r.awaitLost(ns, h)
	rec.Lost = time.Since(start)
	if k == NodeKill {
		if err := r.cfg.Control.Start(ctx, ns.name); err != nil {
			return fmt.Errorf("clusterchaos: start %s again: %w", ns.name, err)
		}
		return r.attach(ctx, ns, true)
	}
	return r.rewatch(ctx, ns)
}

// prepare makes sure ns is watched, its live workers included, and has a
// call in progress: a hold call its agent has taken (it never answers).
func (r *run) prepare(ctx context.Context, ns *nodeState) (*held, error) {
	for range retries {
		if !r.watched(ns) {
			// The connection was lost on its own since (a connection the
			// far end refused, ended by the tick): watch again.
			r.awaitLost(ns, nil)
			if err := r.rewatch(ctx, ns); err != nil {
				return nil, err
			}
		}
		r.watchTargets(ctx, ns)
		h, ok := r.hold(ctx, ns)
		if ok {
			return h, nil
		}
		// The connection was lost under the hold: what it must cause is
		// checked as for a fault.
		r.awaitLost(ns, h)
	}
	return nil, fmt.Errorf("clusterchaos: no call reached the agent of %s in %d tries", ns.name, retries)
}

// held is a hold call in progress.
type held struct{ done chan error }

// hold starts a hold call to ns's agent and waits until the agent has
// taken it (its count of holds, which pings answer, went up); false if a
// ping failed (the hold, if started, fails too).
func (r *run) hold(ctx context.Context, ns *nodeState) (*held, bool) {
	ping := func() (int64, error) {
		v, err := r.call(ctx, ns, pingReq{})
		if err != nil {
			return 0, err
		}
		n, _ := v.(int64)
		return n, nil
	}
	before, err := ping()
	if err != nil {
		return nil, false
	}
	h := &held{done: make(chan error, 1)}
	r.calls.Go(func() {
		cctx, cancel := context.WithTimeout(context.Background(), r.cfg.FaultTimeout)
		defer cancel()
		_, err := r.n.CallNamed(cctx, r.agentName(ns), holdReq{})
		h.done <- err
	})
	r.res.Calls++
	for {
		n, err := ping()
		if err != nil || len(h.done) > 0 { // the hold ended already: the connection went
			return h, false
		}
		if n > before {
			return h, true
		}
	}
}

// rewatch watches ns again after a lost connection (the same
// incarnation).
func (r *run) rewatch(ctx context.Context, ns *nodeState) error {
	pid, err := r.whereisAgent(ctx, ns)
	if err != nil {
		return err
	}
	if pid != ns.agent {
		return fmt.Errorf("clusterchaos: the agent of %s is another process (%v, was %v): was the node started again behind the run's back?", ns.name, pid, ns.agent)
	}
	r.watchNode(ctx, ns)
	return nil
}

// abandon ends the nodes' runs that are still under way when Run returns
// early (an error): they must not go on injecting faults.
func (r *run) abandon() {
	for _, ns := range r.nodes {
		if ns.running {
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Settle+r.cfg.FaultTimeout)
			_, _ = r.n.CallNamed(ctx, r.agentName(ns), finishReq{Origin: r.self})
			cancel()
			ns.running = false
		}
	}
}

// startLoad starts the senders; the returned function stops them and
// waits.
func (r *run) startLoad() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	perTick := max(r.cfg.Rate/r.cfg.Senders/1000, 1)
	for s := range r.cfg.Senders {
		wg.Go(func() {
			type stream struct{ node, target int }
			seq := map[stream]uint64{}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			next := 0
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				var all []stream
				for _, ns := range r.nodes {
					for t := range len(*ns.names.Load()) {
						all = append(all, stream{ns.idx, t})
					}
				}
				for range perTick {
					st := all[next%len(all)]
					next++
					ns := r.nodes[st.node]
					epoch := ns.epoch.Load()
					seq[st]++
					m := fault.Msg{Origin: r.self, Sender: s, Target: st.target, Seq: seq[st]}
					err := r.n.SendNamed(cluster.Name{Name: (*ns.names.Load())[st.target], Node: ns.name}, m)
					r.led.sent(st.node, m, epoch, err == nil)
				}
			}
		})
	}
	return once(func() { close(done); wg.Wait() })
}

// once returns f made safe to call more than once (the first call runs
// it).
func once(f func()) func() {
	var o sync.Once
	return func() { o.Do(f) }
}

// deadLetter accounts for the dead letters of the load's messages here.
func (r *run) deadLetter(e actor.Event) {
	d, ok := e.(actor.DeadLetter)
	if !ok {
		return
	}
	tn, ok := d.Message.(cluster.ToName)
	if !ok {
		return
	}
	m, ok := tn.Message.(fault.Msg)
	if !ok || m.Origin != r.self {
		return
	}
	node, ok := r.byName[tn.Name.Node]
	if !ok {
		return
	}
	r.led.dead(node, m)
	reason := "nil"
	if d.Reason != nil {
		reason = d.Reason.Error()
	}
	r.wmu.Lock()
	r.res.DeadReasons[reason]++
	r.wmu.Unlock()
}

// settle waits until every message sent to a node's last incarnation was
// handled or reported, asking the nodes for their records now and then
// (nothing says "that was the last one"), or until cfg.Settle passes. It
// returns the last records of each node.
func (r *run) settle(ctx context.Context) []nodeRecords {
	recs := make([]nodeRecords, len(r.nodes))
	deadline := time.NewTimer(r.cfg.Settle)
	defer deadline.Stop()
	look := time.NewTicker(20 * time.Millisecond)
	defer look.Stop()
	for {
		recs = r.records(ctx, recs)
		if t := r.tally(recs); t.pending == 0 {
			return recs
		}
		select {
		case <-look.C:
		case <-deadline.C:
			return recs
		case <-ctx.Done():
			return recs
		}
	}
}

// nodeRecords is what a node reported of the coordinator's messages.
type nodeRecords struct {
	flags    map[recordKey][]uint8
	disorder int
	err      error // the last ask failed (the records are the one before)
}

// records asks every node for its records; a node that does not answer
// keeps the ones it gave before.
func (r *run) records(ctx context.Context, prev []nodeRecords) []nodeRecords {
	out := slices.Clone(prev)
	for i, ns := range r.nodes {
		nr, err := r.fetch(ctx, ns)
		if err != nil {
			out[i].err = err
			continue
		}
		out[i] = nr
	}
	return out
}

// fetch asks ns for its records.
func (r *run) fetch(ctx context.Context, ns *nodeState) (nodeRecords, error) {
	v, err := r.call(ctx, ns, recordsReq{Origin: r.self})
	if err != nil {
		return nodeRecords{}, err
	}
	ans, ok := v.(recordsAns)
	if !ok || ans.Err != "" {
		return nodeRecords{}, fmt.Errorf("clusterchaos: %s answered %T %s", ns.name, v, ans.Err)
	}
	var sr []streamRecord
	if err := json.Unmarshal(ans.Data, &sr); err != nil {
		return nodeRecords{}, err
	}
	flags, disorder := expand(sr)
	return nodeRecords{flags: flags, disorder: disorder}, nil
}

// tally puts the ledger, the nodes' last records (recs) and the
// snapshots of killed incarnations together.
func (r *run) tally(recs []nodeRecords) tally {
	final := make([]uint32, len(r.nodes))
	sets := make([][]map[recordKey][]uint8, len(r.nodes))
	disorder := 0
	for i, ns := range r.nodes {
		final[i] = ns.epoch.Load()
		sets[i] = append(sets[i], recs[i].flags)
		disorder += recs[i].disorder
		for _, snap := range ns.snaps {
			sets[i] = append(sets[i], snap.flags)
			disorder += snap.disorder
		}
	}
	t := r.led.tally(final, sets, func(node, target int) string {
		names := *r.nodes[node].names.Load()
		if target < len(names) {
			return fmt.Sprintf("{%s, %s}", names[target], r.nodes[node].name)
		}
		return fmt.Sprintf("{#%d, %s}", target, r.nodes[node].name)
	})
	t.disorder = int64(disorder)
	return t
}

// finish ends every node's run and collects its result.
func (r *run) finish(ctx context.Context) {
	r.res.Nodes = make([]NodeResult, len(r.nodes))
	var wg sync.WaitGroup
	for i, ns := range r.nodes {
		nr := &r.res.Nodes[i]
		nr.Node, nr.Starts, nr.Seed = ns.name, ns.starts, ns.seed
		if !ns.running {
			nr.Err = "no run under way"
			continue
		}
		ns.running = false
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.cfg.Settle+r.cfg.FaultTimeout)
			defer cancel()
			v, err := r.n.CallNamed(cctx, r.agentName(ns), finishReq{Origin: r.self})
			if err != nil {
				nr.Err = err.Error()
				return
			}
			ans, ok := v.(finishAns)
			switch {
			case !ok:
				nr.Err = fmt.Sprintf("answered %T", v)
			case ans.Err != "":
				nr.Err = ans.Err
			default:
				if err := json.Unmarshal(ans.Result, &nr.Run); err != nil {
					nr.Err = err.Error()
				}
			}
		})
	}
	wg.Wait()
}

// Keys of the invariants across nodes, in the order they are reported.
const (
	checkAccounted = "every message sent to a node's last incarnation handled there once or reported once, here or there (none lost, none duplicated); none sent to a killed one counted twice"
	checkOrder     = "per-sender order kept by each receiving process across nodes"
	checkWatches   = "every monitor and link across a lost connection fired, once; the agent's with noconnection"
	checkCalls     = "every call in progress across a lost connection failed with noconnection"
)

func (r *run) check(recs []nodeRecords) {
	t := r.tally(recs)
	res := r.res
	res.Sent, res.Refused, res.Handled, res.DeadHere, res.DeadThere = t.sent, t.refused, t.handled, t.deadHere, t.deadThere
	res.Lost, res.Duplicated, res.OutOfOrder, res.ToKilled, res.Unseen = t.pending, t.duplicated, t.disorder, t.toKilled, t.unseen
	detail := fmt.Sprintf("%d sent: %d handled, %d dead letters here, %d there, %d lost, %d duplicated; %d to incarnations killed later, %d of them accounted for nowhere",
		t.sent, t.handled, t.deadHere, t.deadThere, t.pending, t.duplicated, t.toKilled, t.unseen)
	if t.firstProblem != "" {
		detail += "; first: " + t.firstProblem
	}
	if len(t.lostSample) > 0 {
		detail += fmt.Sprintf("; lost, e.g.: %v", t.lostSample)
	}
	for _, nr := range recs {
		if nr.err != nil {
			detail += "; records missing: " + nr.err.Error()
		}
	}
	res.check(checkAccounted, t.pending == 0 && t.duplicated == 0, detail)
	res.check(checkOrder, t.disorder == 0, fmt.Sprintf("%d handled out of order", t.disorder))
	fired := 0
	for _, n := range res.Fired {
		fired += n
	}
	res.check(checkWatches, true, fmt.Sprintf("%d monitors and %d links, %d fired", res.Monitors, res.Links, fired))
	res.check(checkCalls, true, fmt.Sprintf("%d calls in progress", res.Calls))
	for _, nr := range res.Nodes {
		name := fmt.Sprintf("node %s: its own run's invariants", nr.Node)
		switch {
		case nr.Err != "":
			res.check(name, false, nr.Err)
		case nr.Run == nil:
			res.check(name, false, "no result")
		default:
			ok, d := true, fmt.Sprintf("seed %d, %d faults, %d messages", nr.Seed, nr.Run.TotalFaults(), nr.Run.Sent)
			if err := nr.Run.Err(); err != nil {
				ok, d = false, err.Error()
			}
			res.check(name, ok, d)
		}
	}
}
