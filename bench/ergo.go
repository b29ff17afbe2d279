package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/act"
	"ergo.services/ergo/app/system"
	"ergo.services/ergo/gen"
)

// Ergo v3.2.0 with its defaults, but with networking disabled: a node
// otherwise starts its embedded registrar on port 4499 and an acceptor, and
// two runs (or a test elsewhere on the machine) would collide on the port.
// Its usage-metrics process (which would look up and dial metrics.ergo.services
// after five minutes) is disabled too, and so is its console logger. Every
// node also catches SIGINT and SIGTERM to stop itself; TestMain makes sure
// they still end the benchmark.
func ergoFramework() Framework {
	return Framework{
		Name:     "ergo",
		FanIn:    ergoFanIn,
		PingPong: ergoPingPong,
		Call:     ergoCall,
		Spawn:    ergoSpawn,
		Restart:  ergoRestart,
	}
}

// ergoActor adapts handler functions to Ergo's act.Actor. Ergo's processes
// are addressed from outside the node through gen.Node, which sends on
// behalf of the node's core process.
type ergoActor struct {
	act.Actor
	handle func(a *ergoActor, msg any) error
	call   func(request any) any
	onStop func()
}

func (a *ergoActor) HandleMessage(_ gen.PID, msg any) error {
	return a.handle(a, msg)
}

func (a *ergoActor) HandleCall(_ gen.PID, _ gen.Ref, request any) (any, error) {
	return a.call(request), nil
}

func (a *ergoActor) Terminate(error) {
	if a.onStop != nil {
		a.onStop()
	}
}

// ergoFactory makes a factory whose every process runs the given handlers;
// nil ones are never called by the workload that passes nil.
func ergoFactory(handle func(a *ergoActor, msg any) error, call func(any) any, onStop func()) gen.ProcessFactory {
	return func() gen.ProcessBehavior {
		return &ergoActor{handle: handle, call: call, onStop: onStop}
	}
}

func startErgoNode() (gen.Node, error) {
	var opts gen.NodeOptions
	opts.Network.Mode = gen.NetworkModeDisabled
	opts.Env = map[gen.Env]any{system.DISABLE_METRICS: true}
	opts.Log.Level = gen.LogLevelError
	opts.Log.DefaultLogger.Disable = true
	node, err := ergo.StartNode("bench@localhost", opts)
	if err != nil {
		return nil, fmt.Errorf("ergo: start node: %w", err)
	}
	return node, nil
}

func ergoFanIn(r *Run, n int, shape FanInShape) error {
	node, err := startErgoNode()
	if err != nil {
		return err
	}
	defer node.Stop()
	done := newLatch(1)
	count := 0 // touched only by the actor
	pid, err := node.Spawn(ergoFactory(func(*ergoActor, any) error {
		count++
		if count == n {
			done.arrive()
		}
		return nil
	}, nil, nil), gen.ProcessOptions{})
	if err != nil {
		return fmt.Errorf("ergo: spawn: %w", err)
	}

	r.Begin()
	if shape == FanInStructs {
		for i := range n {
			if err := node.Send(pid, fanInMsg{Seq: uint64(i), From: 1, Kind: 2}); err != nil {
				return fmt.Errorf("ergo: send %d: %w", i, err)
			}
		}
	} else {
		for i := range n {
			if err := node.Send(pid, i); err != nil {
				return fmt.Errorf("ergo: send %d: %w", i, err)
			}
		}
	}
	err = done.wait("fan-in")
	r.End()
	return err
}

func ergoPingPong(r *Run, pairs, perPair int) error {
	node, err := startErgoNode()
	if err != nil {
		return err
	}
	defer node.Stop()
	done := newLatch(pairs)
	player := ergoFactory(func(a *ergoActor, msg any) error {
		b := msg.(ball[gen.PID])
		if b.left == 1 {
			done.arrive()
			return nil
		}
		return a.Send(b.from, ball[gen.PID]{left: b.left - 1, from: a.PID()})
	}, nil, nil)
	pids := make([]gen.PID, 2*pairs)
	for i := range pids {
		if pids[i], err = node.Spawn(player, gen.ProcessOptions{}); err != nil {
			return fmt.Errorf("ergo: spawn: %w", err)
		}
	}

	r.Begin()
	for p := range pairs {
		if err := node.Send(pids[2*p+1], ball[gen.PID]{left: perPair, from: pids[2*p]}); err != nil {
			return fmt.Errorf("ergo: send: %w", err)
		}
	}
	err = done.wait("ping-pong")
	r.End()
	return err
}

func ergoCall(r *Run, n int) error {
	node, err := startErgoNode()
	if err != nil {
		return err
	}
	defer node.Stop()
	pid, err := node.Spawn(ergoFactory(nil, func(req any) any { return req }, nil), gen.ProcessOptions{})
	if err != nil {
		return fmt.Errorf("ergo: spawn: %w", err)
	}

	r.Begin()
	for i := range n {
		start := time.Now()
		if _, err := node.Call(pid, i); err != nil {
			return fmt.Errorf("ergo: call %d: %w", i, err)
		}
		r.Record(time.Since(start))
	}
	r.End()
	return nil
}

func ergoSpawn(r *Run, n int) error {
	node, err := startErgoNode()
	if err != nil {
		return err
	}
	defer node.Stop()
	handled, stopped := newLatch(n), newLatch(n)
	worker := ergoFactory(func(*ergoActor, any) error {
		handled.arrive()
		return nil
	}, nil, stopped.arrive)
	pids := make([]gen.PID, 0, n)

	r.Begin()
	for range n {
		pid, err := node.Spawn(worker, gen.ProcessOptions{})
		if err != nil {
			return fmt.Errorf("ergo: spawn %d: %w", len(pids), err)
		}
		pids = append(pids, pid)
	}
	for i, pid := range pids {
		if err := node.Send(pid, i); err != nil {
			return fmt.Errorf("ergo: send: %w", err)
		}
	}
	err = handled.wait("spawn: handled")
	if err == nil {
		r.Idle()
	}
	// An exit signal with reason shutdown, as a supervisor sends: the
	// process runs Terminate and is gone.
	for _, pid := range pids {
		node.SendExit(pid, gen.TerminateReasonShutdown)
	}
	if err == nil {
		err = stopped.wait("spawn: stopped")
	}
	r.End()
	return err
}

// stopErgoProcess sends pid an exit signal with reason shutdown and waits
// until the process is gone.
func stopErgoProcess(node gen.Node, pid gen.PID) error {
	if err := node.SendExit(pid, gen.TerminateReasonShutdown); err != nil {
		return fmt.Errorf("ergo: stop %s: %w", pid, err)
	}
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(100 * time.Microsecond) {
		if _, err := node.ProcessState(pid); err != nil {
			return nil // gen.ErrProcessUnknown: gone
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ergo: %s still running %v after shutdown", pid, waitLimit)
		}
	}
}

// ergoRestartSup is W5's supervisor: Ergo's act.Supervisor, simple one for
// one (see ergoRestart for why not one_for_one), with one permanent child
// spec "w" of which it starts one instance when told to. It hands the PID
// of each incarnation to current once Ergo reports the child started.
type ergoRestartSup struct {
	act.Supervisor
	child   gen.ProcessFactory
	current *atomic.Pointer[gen.PID]
}

// ergoStartChild tells ergoRestartSup to start its instance of "w"
// (StartChild works only from inside the supervisor).
type ergoStartChild struct{}

func (s *ergoRestartSup) Init(...any) (act.SupervisorSpec, error) {
	return act.SupervisorSpec{
		Type:              act.SupervisorTypeSimpleOneForOne,
		Children:          []act.SupervisorChildSpec{{Name: "w", Factory: s.child}},
		EnableHandleChild: true,
		// Intensity is a uint16 and Period whole seconds: the largest
		// limit Ergo takes, far above a run's 10,000 crashes.
		Restart: act.SupervisorRestart{
			Strategy:  act.SupervisorStrategyPermanent,
			Intensity: math.MaxUint16,
			Period:    3600,
		},
	}, nil
}

func (s *ergoRestartSup) HandleMessage(_ gen.PID, msg any) error {
	if _, ok := msg.(ergoStartChild); ok {
		return s.StartChild("w")
	}
	return nil
}

func (s *ergoRestartSup) HandleChildStart(_ gen.Atom, pid gen.PID) error {
	s.current.Store(&pid)
	return nil
}

func (s *ergoRestartSup) HandleChildTerminate(gen.Atom, gen.PID, error) error { return nil }

// ergoRestart is W5. A panic in HandleMessage terminates the worker with
// TerminateReasonPanic; its supervisor gets the exit signal and spawns a new
// one. The crashed process's mailbox goes with it: whatever was queued
// behind the crashing message is dropped without a trace (Ergo has no dead
// letters), so it shows as lost. A send that fails (no such process, or
// terminated) counts as reported.
//
// Ergo v3.2.0 cannot run W5 as specified, one_for_one with the worker
// registered under a name, because its names race with restarts twice:
//
//   - The crashed child's name is released after its links are told
//     (node.cleanupProcess: RouteTerminatePID, then names.Delete), so the
//     supervisor's restart can find "w" still taken; SpawnRegister fails
//     with ErrTaken and the supervisor terminates itself, "resource is
//     taken". That stopped about one run in thirty under -race, after a
//     handful of restarts. Ergo's one_for_one always registers its
//     children; simple_one_for_one, the same strategy over instances of one
//     spec, does not, so W5 uses it, with one instance.
//   - A new process is visible before it is built: spawn takes the name
//     before it creates the mailbox, so a send by name in that window
//     dereferences a nil queue (node/core.go:130) and kills the program; and
//     it enters the PID table before its state is set without
//     synchronisation (node/node.go:2311), a data race with a send by PID.
//
// So the sender sends to the PID the supervisor last got in
// HandleChildStart, which Ergo calls (through a message the supervisor
// sends itself) after the spawn has returned: what a name would give, minus
// the races, a little later. Sends to the crashed incarnation until then
// fail or are dropped with its mailbox, as sends by name would.
func ergoRestart(r *Run, n int) error {
	node, err := startErgoNode()
	if err != nil {
		return err
	}
	defer node.Stop()
	p := newRestartProbe(n)
	var current atomic.Pointer[gen.PID]
	worker := func() gen.ProcessBehavior {
		w := p.incarnate()
		return &ergoActor{handle: func(_ *ergoActor, msg any) error {
			w.handle(msg)
			return nil
		}}
	}
	sup := func() gen.ProcessBehavior { return &ergoRestartSup{child: worker, current: &current} }
	supPID, err := node.Spawn(sup, gen.ProcessOptions{})
	if err != nil {
		return fmt.Errorf("ergo: spawn supervisor: %w", err)
	}
	// node.Stop (deferred above) sends shutdown to every process at once,
	// the worker included, and the supervisor may restart the worker
	// before its own shutdown arrives: a spawn racing with Stop's walk over
	// the processes (the data race above, and a child Stop never sees,
	// which the node then waits for until its shutdown timeout). So the
	// supervisor is shut down first, which stops its child and then
	// itself, and Stop finds neither.
	defer func() {
		if err := stopErgoProcess(node, supPID); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}()
	if err := node.Send(supPID, ergoStartChild{}); err != nil {
		return fmt.Errorf("ergo: start child: %w", err)
	}
	for deadline := time.Now().Add(waitLimit); current.Load() == nil; time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			return errors.New("ergo: the supervisor reported no child started")
		}
	}
	return p.drive(r, func(msg any) error { return node.Send(*current.Load(), msg) })
}
