package clusterchaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/supervisor"
)

// AgentName is the registered name of the process through which a node
// takes part in cluster chaos runs (Serve).
const AgentName = "graft.chaos_agent"

// AgentModule is the agent's module.
const AgentModule = "clusterchaos.agent"

// ErrBadArgs reports arguments Serve or Run cannot use.
var ErrBadArgs = errors.New("clusterchaos: invalid arguments")

// Serve makes node take part in cluster chaos runs (Run, on another
// node): an agent process, registered as AgentName, runs chaos.Run on the
// tree under root with cfg when a coordinator starts a run, and accounts
// for the messages the coordinator sends to the tree's workers. The
// workers of the modules under test (cfg.Module, cfg.Modules) that are
// registered by name take the coordinator's load; the others take the
// node's own only.
//
// The coordinator decides when the node's run starts and ends, and its
// seed: cfg's Seed, Faults, Duration, Stop and Shutdown are replaced (the
// node goes on after a run). cfg.OnHandled, if set, is called too.
func Serve(node *cluster.Node, root *supervisor.Handle, cfg chaos.Config) (actor.PID, error) {
	if node == nil || root == nil {
		return actor.PID{}, fmt.Errorf("%w: Serve needs a node and a supervisor", ErrBadArgs)
	}
	if cfg.Module == "" {
		return actor.PID{}, fmt.Errorf("%w: no module under test (chaos.Config.Module)", ErrBadArgs)
	}
	if err := register(node); err != nil {
		return actor.PID{}, err
	}
	sys := node.System()
	if err := loadOnce(sys, agentVersion); err != nil {
		return actor.PID{}, err
	}
	return sys.Spawn(AgentModule, &agent{node: node, root: root, cfg: cfg}, actor.WithName(AgentName))
}

// loadOnce makes v current in sys unless it is already.
func loadOnce(sys *actor.System, v *actor.Version) error {
	if cur, ok := sys.Current(v.Module()); ok && cur == v {
		return nil
	}
	return sys.Load(v)
}

// agent is the state of a node's agent process.
type agent struct {
	node *cluster.Node
	root *supervisor.Handle
	cfg  chaos.Config
	rec  recorder
	// unsubscribe ends the agent's watch of dead letters.
	unsubscribe func()

	run *nodeRun // the latest run; nil before the first
	// starting is the start call waiting for the run to watch, with its
	// answer.
	starting    actor.ReplyTo
	startAnswer startAns
	// finishing are the finish calls waiting for the run to end.
	finishing []actor.ReplyTo
	// holds counts the hold calls taken (a ping answers with it).
	holds int64
}

// nodeRun is one chaos run on this node. The agent owns its goroutine:
// it closes stop to end the run (the coordinator's finish), and on its
// own exit cancels it too and waits for done.
type nodeRun struct {
	origin  string
	stop    chan struct{}
	stopped sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
	res     *chaos.Result // set before done closes
	err     error
}

func (nr *nodeRun) ended() bool {
	select {
	case <-nr.done:
		return true
	default:
		return false
	}
}

func (nr *nodeRun) end() { nr.stopped.Do(func() { close(nr.stop) }) }

// Messages the agent sends itself (never across nodes).
type (
	// probe: is the run watching yet? (see startRun)
	probe struct{}
	// runEnded: the run's goroutine is done.
	runEnded struct{ run *nodeRun }
)

var agentVersion = actor.Define(AgentModule, "v1", actor.Funcs[*agent]{
	Init: func(ctx *actor.Context, args any) (*agent, error) {
		// A coordinator links to the agent: a lost connection must not
		// end it (the exit signal arrives as a message, ignored).
		ctx.TrapExit(true)
		a := args.(*agent)
		a.unsubscribe = ctx.System().Subscribe(a.rec.deadLetter)
		return a, nil
	},
	Handle: func(ctx *actor.Context, a *agent, msg any) (*agent, error) {
		a.handle(ctx, msg)
		return a, nil
	},
	Terminate: func(ctx *actor.Context, a *agent, reason error) {
		if a.run != nil && !a.run.ended() {
			a.run.end()
			a.run.cancel() // settling would outlive the node: cut it short
			<-a.run.done
		}
		a.unsubscribe()
	},
})

func (a *agent) handle(ctx *actor.Context, msg any) {
	switch m := msg.(type) {
	case startReq:
		a.startRun(ctx, m)
	case probe:
		a.probed(ctx)
	case runEnded:
		if m.run == a.run {
			a.answerEnded()
		}
	case recordsReq:
		data, err := json.Marshal(a.rec.records(m.Origin))
		if err != nil {
			ctx.Reply(recordsAns{Err: err.Error()})
			return
		}
		ctx.Reply(recordsAns{Data: data})
	case finishReq:
		switch {
		case a.run == nil || a.run.origin != m.Origin:
			ctx.Reply(finishAns{Err: "no run of " + m.Origin + " on this node"})
		case a.run.ended():
			ctx.Reply(a.finishAnswer())
		default:
			a.run.end()
			a.finishing = append(a.finishing, ctx.Defer())
		}
	case holdReq:
		ctx.Defer() // never answered: the caller's connection ends first
		a.holds++
	case pingReq:
		ctx.Reply(a.holds)
	case dropReq:
		_ = a.node.Disconnect(m.Node)
	}
}

// startRun starts the node's chaos run for a coordinator. The answer waits
// until the run watches the messages processes consume: a message of the
// coordinator handled before that would be counted nowhere. The run takes
// the system's OnHandled observer and calls the recorder for each message;
// its first call says it is watching. The agent finds out by handling
// probes it sends itself until the recorder has been called (its own
// probes are messages the run watches too).
func (a *agent) startRun(ctx *actor.Context, req startReq) {
	if a.run != nil && !a.run.ended() {
		ctx.ReplyError(fmt.Errorf("clusterchaos: a run of %s is under way on %s", a.run.origin, a.node.Name()))
		return
	}
	targets, err := a.targets()
	if err != nil {
		ctx.ReplyError(err)
		return
	}
	data, err := json.Marshal(targets)
	if err != nil {
		ctx.ReplyError(err)
		return
	}
	a.rec.reset(req.Origin)
	runCtx, cancel := context.WithCancel(context.Background())
	nr := &nodeRun{origin: req.Origin, stop: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	cfg := a.cfg
	cfg.Seed, cfg.Stop, cfg.Faults, cfg.Duration, cfg.Shutdown = req.Seed, nr.stop, 0, 0, false
	user := a.cfg.OnHandled
	cfg.OnHandled = func(pid actor.PID, msg any) {
		a.rec.handled(pid, msg)
		if user != nil {
			user(pid, msg)
		}
	}
	sys, self, root := ctx.System(), ctx.Self(), a.root
	go func() {
		defer close(nr.done)
		defer cancel()
		nr.res, nr.err = chaos.Run(runCtx, sys, root, cfg)
		_ = sys.Send(self, runEnded{nr}) // the agent may be gone: Terminate waits on done then
	}()
	// An agent killed (no Terminate) must not leave its run going on:
	// nothing else would end it.
	exited := sys.Watch(self)
	go func() {
		select {
		case <-exited.Done():
			nr.end()
			cancel()
		case <-nr.done:
		}
	}()
	a.run, a.finishing = nr, nil
	a.starting, a.startAnswer = ctx.Defer(), startAns{Targets: data}
	_ = sys.Send(self, probe{})
}

func (a *agent) probed(ctx *actor.Context) {
	switch {
	case !a.starting.Valid():
	case a.rec.watching.Load():
		a.starting.Reply(a.startAnswer)
		a.starting = actor.ReplyTo{}
	case a.run.ended(): // answered by runEnded
	default:
		_ = ctx.System().Send(ctx.Self(), probe{})
	}
}

// answerEnded answers the calls waiting for the run that has ended.
func (a *agent) answerEnded() {
	if a.starting.Valid() {
		err := a.run.err
		if err == nil {
			err = errors.New("clusterchaos: the run ended before it watched")
		}
		a.starting.Error(err)
		a.starting = actor.ReplyTo{}
	}
	ans := a.finishAnswer()
	for _, r := range a.finishing {
		r.Reply(ans)
	}
	a.finishing = nil
}

func (a *agent) finishAnswer() finishAns {
	if a.run.err != nil {
		return finishAns{Err: a.run.err.Error()}
	}
	b, err := json.Marshal(a.run.res)
	if err != nil {
		return finishAns{Err: err.Error()}
	}
	return finishAns{Result: b}
}

// targets returns the registered names of the tree's workers of the
// modules under test, sorted.
func (a *agent) targets() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sys := a.node.System()
	under := map[string]bool{a.cfg.Module: true}
	for _, m := range a.cfg.Modules {
		under[m.Name] = true
	}
	var names []string
	var walk func(h *supervisor.Handle) error
	walk = func(h *supervisor.Handle) error {
		children, err := h.WhichChildren(ctx)
		if err != nil {
			return err
		}
		for _, c := range children {
			switch {
			case c.PID.IsZero():
			case c.Type == supervisor.Supervisor:
				if err := walk(supervisor.Of(sys, c.PID)); err != nil {
					return err
				}
			case under[c.Module]:
				if info, err := sys.Info(ctx, c.PID); err == nil && info.Name != "" {
					names = append(names, info.Name)
				}
			}
		}
		return nil
	}
	if err := walk(a.root); err != nil {
		return nil, fmt.Errorf("clusterchaos: the tree of %s: %w", a.node.Name(), err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no worker of the modules under test is registered by name on %s", ErrBadArgs, a.node.Name())
	}
	slices.Sort(names)
	return names, nil
}
