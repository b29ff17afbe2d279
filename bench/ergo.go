package bench

import (
	"fmt"
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

func ergoFanIn(r *Run, n int) error {
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
	for i := range n {
		if err := node.Send(pid, i); err != nil {
			return fmt.Errorf("ergo: send %d: %w", i, err)
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
