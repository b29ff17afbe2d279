package bench

import (
	"fmt"
	"log"
	"log/slog"
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
		Restart:  hollywoodRestart,
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

func hollywoodFanIn(r *Run, n int, shape FanInShape) error {
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
	if shape == FanInStructs {
		for i := range n {
			e.Send(pid, fanInMsg{Seq: uint64(i), From: 1, Kind: 2})
		}
	} else {
		for i := range n {
			e.Send(pid, i)
		}
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

// quietSlog silences the default slog logger until the returned function is
// called. Hollywood logs every event that has a Log method through it (a
// restart is an error with its stack trace), and has no option to set a
// logger of its own.
func quietSlog() (restore func()) {
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	return func() {
		slog.SetDefault(prev)
		// SetDefault points the log package at the handler it is given,
		// and does not point it back when given the original default.
		log.SetOutput(out)
		log.SetFlags(flags)
	}
}

// hollywoodRestart is W5. Hollywood's supervision is per actor: a panic in
// Receive is recovered, the actor gets Stopped, and after RestartDelay a new
// receiver from the producer takes over the same PID and inbox; the rest of
// the batch that was being processed is handed to it first, in order. Its
// defaults (3 restarts in the actor's lifetime, 500 ms delay) would stop the
// worker after the third crash and take 83 minutes for 10,000 restarts, so
// the limit is set like the others' intensity and the delay to zero. The PID
// ("w/w") is stable across restarts, so it serves as the name. Messages sent
// to an unknown PID would be broadcast as DeadLetterEvent; a subscriber
// counts them as reported (none are expected).
func hollywoodRestart(r *Run, n int) error {
	defer quietSlog()()
	e, err := newHollywoodEngine()
	if err != nil {
		return err
	}
	p := newRestartProbe(n)
	// stopped is closed when the worker's ActorStoppedEvent reaches the
	// subscriber: the event stream logs each event before forwarding it, so
	// by then it has logged all of them and slog can be restored.
	stopped := make(chan struct{})
	events := e.SpawnFunc(func(c *hactor.Context) {
		switch ev := c.Message().(type) {
		case hactor.DeadLetterEvent:
			p.reported(ev.Message)
		case hactor.ActorStoppedEvent:
			if ev.PID.ID == "w/w" {
				close(stopped)
			}
		}
	}, "events")
	// The event stream is an actor: this subscription is in place before
	// any event broadcast after it.
	e.Subscribe(events)
	pid := e.Spawn(func() hactor.Receiver {
		w := p.incarnate()
		return &hollywoodActor{handle: func(_ *hactor.Context, msg any) { w.handle(msg) }}
	}, "w", hactor.WithID("w"), hactor.WithMaxRestarts(restartIntensity), hactor.WithRestartDelay(0))
	defer func() {
		<-e.Stop(pid).Done()
		<-stopped
		e.Unsubscribe(events)
		<-e.Stop(events).Done()
	}()
	return p.drive(r, func(msg any) error {
		e.Send(pid, msg)
		return nil
	})
}
