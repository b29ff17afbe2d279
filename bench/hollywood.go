package bench

import (
	"fmt"
	"time"

	hactor "github.com/anthdm/hollywood/actor"
)

// hollywood v1.0.5 with its defaults: a ring-buffer inbox of 1,024 envelopes
// per actor, a goroutine only while an inbox has work. The engine has no
// shutdown of its own; a run stops the actors it spawned and drops the engine.
func hollywoodFramework() Framework {
	return Framework{
		Name:     "hollywood",
		FanIn:    hollywoodFanIn,
		PingPong: hollywoodPingPong,
		Call:     hollywoodCall,
		Spawn:    hollywoodSpawn,
	}
}

// hollywoodCallTimeout bounds one W3 round trip; a healthy one takes µs.
const hollywoodCallTimeout = 10 * time.Second

// hollywoodActor adapts a handler function to hollywood's Receiver. Lifecycle
// messages go to onStop (for Stopped) or are ignored; everything else is a
// user message for handle.
type hollywoodActor struct {
	handle func(c *hactor.Context, msg any)
	onStop func()
}

func (a *hollywoodActor) Receive(c *hactor.Context) {
	switch msg := c.Message().(type) {
	case hactor.Initialized, hactor.Started:
	case hactor.Stopped:
		if a.onStop != nil {
			a.onStop()
		}
	default:
		a.handle(c, msg)
	}
}

func newHollywoodEngine() (*hactor.Engine, error) {
	e, err := hactor.NewEngine(hactor.NewEngineConfig())
	if err != nil {
		return nil, fmt.Errorf("hollywood: %w", err)
	}
	return e, nil
}

func hollywoodFanIn(r *Run, n int) error {
	e, err := newHollywoodEngine()
	if err != nil {
		return err
	}
	done := newLatch(1)
	count := 0 // touched only by the actor
	pid := e.Spawn(func() hactor.Receiver {
		return &hollywoodActor{handle: func(*hactor.Context, any) {
			count++
			if count == n {
				done.arrive()
			}
		}}
	}, "sink")
	defer e.Stop(pid)

	r.Begin()
	for i := range n {
		e.Send(pid, i)
	}
	err = done.wait("fan-in")
	r.End()
	return err
}

func hollywoodPingPong(r *Run, pairs, perPair int) error {
	e, err := newHollywoodEngine()
	if err != nil {
		return err
	}
	done := newLatch(pairs)
	player := func() hactor.Receiver {
		return &hollywoodActor{handle: func(c *hactor.Context, msg any) {
			b := msg.(ball[*hactor.PID])
			if b.left == 1 {
				done.arrive()
				return
			}
			c.Send(b.from, ball[*hactor.PID]{left: b.left - 1, from: c.PID()})
		}}
	}
	pids := make([]*hactor.PID, 2*pairs)
	for i := range pids {
		pids[i] = e.Spawn(player, "player")
	}
	defer func() {
		for _, pid := range pids {
			e.Stop(pid)
		}
	}()

	r.Begin()
	for p := range pairs {
		e.Send(pids[2*p+1], ball[*hactor.PID]{left: perPair, from: pids[2*p]})
	}
	err = done.wait("ping-pong")
	r.End()
	return err
}

func hollywoodCall(r *Run, n int) error {
	e, err := newHollywoodEngine()
	if err != nil {
		return err
	}
	pid := e.Spawn(func() hactor.Receiver {
		return &hollywoodActor{handle: func(c *hactor.Context, msg any) {
			c.Respond(msg)
		}}
	}, "echo")
	defer e.Stop(pid)

	r.Begin()
	for i := range n {
		start := time.Now()
		if _, err := e.Request(pid, i, hollywoodCallTimeout).Result(); err != nil {
			return fmt.Errorf("hollywood: call %d: %w", i, err)
		}
		r.Record(time.Since(start))
	}
	r.End()
	return nil
}

func hollywoodSpawn(r *Run, n int) error {
	e, err := newHollywoodEngine()
	if err != nil {
		return err
	}
	handled, stopped := newLatch(n), newLatch(n)
	worker := func() hactor.Receiver {
		return &hollywoodActor{
			handle: func(*hactor.Context, any) { handled.arrive() },
			onStop: stopped.arrive,
		}
	}
	pids := make([]*hactor.PID, n)

	r.Begin()
	for i := range pids {
		pids[i] = e.Spawn(worker, "worker")
	}
	for i, pid := range pids {
		e.Send(pid, i)
	}
	err = handled.wait("spawn: handled")
	if err == nil {
		r.Idle()
	}
	// Stop, not Poison: like an exit signal, it does not wait for the inbox
	// to drain first, and every inbox is empty here anyway.
	for _, pid := range pids {
		e.Stop(pid)
	}
	if err == nil {
		err = stopped.wait("spawn: stopped")
	}
	r.End()
	return err
}
