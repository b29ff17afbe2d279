package bench

import (
	"fmt"
	"log/slog"
	"time"

	pactor "github.com/asynkron/protoactor-go/actor"
)

// protoactor-go (latest pseudo-version) with its defaults: an unbounded
// lock-free mailbox per actor, a goroutine only while a mailbox has work.
// Its default logger writes to stderr; it is replaced by one that discards.
func protoactorFramework() Framework {
	return Framework{
		Name:     "protoactor",
		FanIn:    protoactorFanIn,
		PingPong: protoactorPingPong,
		Call:     protoactorCall,
		Spawn:    protoactorSpawn,
		Restart:  protoactorRestart,
	}
}

// protoactorCallTimeout bounds one W3 round trip; a healthy one takes µs.
const protoactorCallTimeout = 10 * time.Second

// protoactorActor adapts a handler function to protoactor's Actor. Lifecycle
// messages go to onStop (for *Stopped) or are ignored; everything else is a
// user message for handle.
type protoactorActor struct {
	handle func(c pactor.Context, msg any)
	onStop func()
}

func (a *protoactorActor) Receive(c pactor.Context) {
	switch msg := c.Message().(type) {
	case *pactor.Started, *pactor.Stopping, *pactor.Restarting:
	case *pactor.Stopped:
		if a.onStop != nil {
			a.onStop()
		}
	default:
		a.handle(c, msg)
	}
}

func newProtoactorSystem() *pactor.ActorSystem {
	return pactor.NewActorSystem(pactor.WithLoggerFactory(func(*pactor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

// protoactorProps makes props whose every actor runs handle (and onStop).
func protoactorProps(handle func(c pactor.Context, msg any), onStop func()) *pactor.Props {
	return pactor.PropsFromProducer(func() pactor.Actor {
		return &protoactorActor{handle: handle, onStop: onStop}
	})
}

func protoactorFanIn(r *Run, n int, shape FanInShape) error {
	sys := newProtoactorSystem()
	defer sys.Shutdown()
	done := newLatch(1)
	count := 0 // touched only by the actor
	pid := sys.Root.Spawn(protoactorProps(func(pactor.Context, any) {
		count++
		if count == n {
			done.arrive()
		}
	}, nil))
	defer sys.Root.Stop(pid)

	r.Begin()
	if shape == FanInStructs {
		for i := range n {
			sys.Root.Send(pid, fanInMsg{Seq: uint64(i), From: 1, Kind: 2})
		}
	} else {
		for i := range n {
			sys.Root.Send(pid, i)
		}
	}
	err := done.wait("fan-in")
	r.End()
	return err
}

func protoactorPingPong(r *Run, pairs, perPair int) error {
	sys := newProtoactorSystem()
	defer sys.Shutdown()
	done := newLatch(pairs)
	props := protoactorProps(func(c pactor.Context, msg any) {
		b := msg.(ball[*pactor.PID])
		if b.left == 1 {
			done.arrive()
			return
		}
		c.Send(b.from, ball[*pactor.PID]{left: b.left - 1, from: c.Self()})
	}, nil)
	pids := make([]*pactor.PID, 2*pairs)
	for i := range pids {
		pids[i] = sys.Root.Spawn(props)
	}
	defer func() {
		for _, pid := range pids {
			sys.Root.Stop(pid)
		}
	}()

	r.Begin()
	for p := range pairs {
		sys.Root.Send(pids[2*p+1], ball[*pactor.PID]{left: perPair, from: pids[2*p]})
	}
	err := done.wait("ping-pong")
	r.End()
	return err
}

func protoactorCall(r *Run, n int) error {
	sys := newProtoactorSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(protoactorProps(func(c pactor.Context, msg any) {
		c.Respond(msg)
	}, nil))
	defer sys.Root.Stop(pid)

	r.Begin()
	for i := range n {
		start := time.Now()
		if _, err := sys.Root.RequestFuture(pid, i, protoactorCallTimeout).Result(); err != nil {
			return fmt.Errorf("protoactor: call %d: %w", i, err)
		}
		r.Record(time.Since(start))
	}
	r.End()
	return nil
}

func protoactorSpawn(r *Run, n int) error {
	sys := newProtoactorSystem()
	defer sys.Shutdown()
	handled, stopped := newLatch(n), newLatch(n)
	props := protoactorProps(func(pactor.Context, any) { handled.arrive() }, stopped.arrive)
	pids := make([]*pactor.PID, n)

	r.Begin()
	for i := range pids {
		pids[i] = sys.Root.Spawn(props)
	}
	for i, pid := range pids {
		sys.Root.Send(pid, i)
	}
	err := handled.wait("spawn: handled")
	if err == nil {
		r.Idle()
	}
	for _, pid := range pids {
		sys.Root.Stop(pid)
	}
	if err == nil {
		err = stopped.wait("spawn: stopped")
	}
	r.End()
	return err
}

// protoactorRestart is W5: the worker is spawned, named "w", as the child of
// a supervisor actor whose props carry a OneForOne strategy (the default
// decider restarts on any panic) with the same large limit as the others.
// A failing actor suspends its mailbox and reports the failure to its
// parent, which sends it Restart: a new actor from the producer, same PID
// and mailbox, so queued messages survive. (A guardian strategy on the root
// context would decide on the failing actor's goroutine; a parent actor is
// the shape of an OTP supervisor, as for Graft and Ergo.) Dead letters come
// on the event stream and count as reported (none are expected).
func protoactorRestart(r *Run, n int) error {
	sys := newProtoactorSystem()
	defer sys.Shutdown()
	p := newRestartProbe(n)
	sub := sys.EventStream.Subscribe(func(ev any) {
		if dl, ok := ev.(*pactor.DeadLetterEvent); ok {
			p.reported(dl.Message)
		}
	})
	defer sys.EventStream.Unsubscribe(sub)
	worker := pactor.PropsFromProducer(func() pactor.Actor {
		w := p.incarnate()
		return &protoactorActor{handle: func(_ pactor.Context, msg any) { w.handle(msg) }}
	})
	type spawned struct {
		pid *pactor.PID
		err error
	}
	started := make(chan spawned, 1)
	supProps := pactor.PropsFromFunc(func(c pactor.Context) {
		if _, ok := c.Message().(*pactor.Started); ok {
			pid, err := c.SpawnNamed(worker, "w")
			started <- spawned{pid, err}
		}
	}, pactor.WithSupervisor(pactor.NewOneForOneStrategy(restartIntensity, time.Hour, pactor.DefaultDecider)))
	sup, err := sys.Root.SpawnNamed(supProps, "sup")
	if err != nil {
		return fmt.Errorf("protoactor: spawn supervisor: %w", err)
	}
	defer func() { _ = sys.Root.StopFuture(sup).Wait() }()
	w := <-started
	if w.err != nil {
		return fmt.Errorf("protoactor: spawn worker: %w", w.err)
	}
	pid := w.pid
	return p.drive(r, func(msg any) error {
		sys.Root.Send(pid, msg)
		return nil
	})
}
