package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// Graft with its defaults: an unbounded mailbox per process, a goroutine only
// while a mailbox has work, and the module's current version picked up on
// every message. Each workload loads one version of one module, as a user
// would.
func graftFramework() Framework {
	return Framework{
		Name:     "graft",
		FanIn:    graftFanIn,
		PingPong: graftPingPong,
		Call:     graftCall,
		Spawn:    graftSpawn,
		Restart:  graftRestart,
	}
}

// graftSystem builds a system with v loaded. The caller shuts it down with
// shutdownGraft.
func graftSystem(v *actor.Version) (*actor.System, error) {
	sys := actor.NewSystem()
	if err := sys.Load(v); err != nil {
		return nil, errors.Join(fmt.Errorf("graft: load %v: %w", v, err), shutdownGraft(sys))
	}
	return sys, nil
}

// shutdownGraft stops what a run left running. Teardown is not measured, but
// a system that does not stop fails the run: it would be a bug in Graft.
func shutdownGraft(sys *actor.System) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := sys.Shutdown(ctx); err != nil {
		return fmt.Errorf("graft: shutdown: %w", err)
	}
	return nil
}

func graftFanIn(r *Run, n int, shape FanInShape) (err error) {
	done := newLatch(1)
	sys, err := graftSystem(actor.Define("sink", "v1", actor.Funcs[int]{
		Handle: func(_ *actor.Context, count int, _ any) (int, error) {
			count++
			if count == n {
				done.arrive()
			}
			return count, nil
		},
	}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	pid, err := sys.Spawn("sink", nil)
	if err != nil {
		return fmt.Errorf("graft: spawn: %w", err)
	}

	r.Begin()
	if shape == FanInStructs {
		for i := range n {
			if err := sys.Send(pid, fanInMsg{Seq: uint64(i), From: 1, Kind: 2}); err != nil {
				return fmt.Errorf("graft: send %d: %w", i, err)
			}
		}
	} else {
		for i := range n {
			if err := sys.Send(pid, i); err != nil {
				return fmt.Errorf("graft: send %d: %w", i, err)
			}
		}
	}
	err = done.wait("fan-in")
	r.End()
	return err
}

func graftPingPong(r *Run, pairs, perPair int) (err error) {
	done := newLatch(pairs)
	sys, err := graftSystem(actor.Define("player", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			b := msg.(ball[actor.PID])
			if b.left == 1 {
				done.arrive()
				return s, nil
			}
			return s, ctx.Send(b.from, ball[actor.PID]{left: b.left - 1, from: ctx.Self()})
		},
	}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	pids := make([]actor.PID, 2*pairs)
	for i := range pids {
		if pids[i], err = sys.Spawn("player", nil); err != nil {
			return fmt.Errorf("graft: spawn: %w", err)
		}
	}

	r.Begin()
	for p := range pairs {
		if err := sys.Send(pids[2*p+1], ball[actor.PID]{left: perPair, from: pids[2*p]}); err != nil {
			return fmt.Errorf("graft: send: %w", err)
		}
	}
	err = done.wait("ping-pong")
	r.End()
	return err
}

func graftCall(r *Run, n int) (err error) {
	sys, err := graftSystem(actor.Define("echo", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			ctx.Reply(msg)
			return s, nil
		},
	}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	pid, err := sys.Spawn("echo", nil)
	if err != nil {
		return fmt.Errorf("graft: spawn: %w", err)
	}

	// No deadline on the context: the system's default call timeout (5 s)
	// applies, as for a caller that does not set one.
	ctx := context.Background()
	r.Begin()
	for i := range n {
		start := time.Now()
		if _, err := sys.Call(ctx, pid, i); err != nil {
			return fmt.Errorf("graft: call %d: %w", i, err)
		}
		r.Record(time.Since(start))
	}
	r.End()
	return nil
}

func graftSpawn(r *Run, n int) (err error) {
	handled, stopped := newLatch(n), newLatch(n)
	sys, err := graftSystem(actor.Define("worker", "v1", actor.Funcs[struct{}]{
		Handle: func(_ *actor.Context, s struct{}, _ any) (struct{}, error) {
			handled.arrive()
			return s, nil
		},
	}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	pids := make([]actor.PID, 0, n)

	r.Begin()
	for range n {
		pid, err := sys.Spawn("worker", nil)
		if err != nil {
			return fmt.Errorf("graft: spawn %d: %w", len(pids), err)
		}
		pids = append(pids, pid)
	}
	for i, pid := range pids {
		if err := sys.Send(pid, i); err != nil {
			return fmt.Errorf("graft: send: %w", err)
		}
	}
	err = handled.wait("spawn: handled")
	if err == nil {
		r.Idle()
	}
	// An exit signal with reason shutdown from outside, as erlang:exit/2: a
	// process that does not trap exits is gone without running Terminate
	// (as in OTP), so the end of each is seen through the system's
	// ProcessExited events, subscribed only now so that spawning and
	// handling ran unobserved, as in the other workloads.
	cancel := sys.Subscribe(func(ev actor.Event) {
		if ex, ok := ev.(actor.ProcessExited); ok && ex.Module == "worker" {
			stopped.arrive()
		}
	})
	defer cancel()
	for _, pid := range pids {
		if err := sys.Exit(pid, actor.Shutdown); err != nil {
			return fmt.Errorf("graft: exit: %w", err)
		}
	}
	if err == nil {
		err = stopped.wait("spawn: stopped")
	}
	r.End()
	return err
}

// RestartSemantics is what Graft's W5 worker does with its messages at a
// crash: the child spec's options.
type RestartSemantics uint8

const (
	// KeepName (Handoff and KeepName, the default here): the crashed
	// worker's queue goes to its replacement, and its name stays bound
	// through the restart, so sends by name in the gap queue for the
	// replacement: nothing is refused or reported.
	KeepName RestartSemantics = iota
	// Handoff alone: the queue goes to the replacement; a send while no
	// incarnation holds the name fails with ErrUnknownName (reported).
	Handoff
	// OTP: neither, OTP's semantics and Graft's default: each crash
	// reports its queue as dead letters, and sends in the gap fail.
	OTP
)

// GraftRestartSemantics selects the child spec of Graft's W5 (the bench
// tests' -graft.w5 flag sets it).
var GraftRestartSemantics = KeepName

// graftRestart is W5: one worker under a one_for_one supervisor
// (supervisor.Start), registered as "w" so that SendNamed always reaches the
// current incarnation, with the child spec's options of
// GraftRestartSemantics. Without KeepName, a send while no incarnation holds
// the name fails with ErrUnknownName (reported); without Handoff, a crashed
// incarnation's queued messages are reported as DeadLetter events with its
// exit reason. The sender never blocks (the mailbox is unbounded and a
// refused send is cheap), so it runs far ahead of the worker and each crash
// takes a backlog of thousands of messages with it.
func graftRestart(r *Run, n int) (err error) {
	p := newRestartProbe(n)
	sys, err := graftSystem(actor.Define("w", "v1", actor.Funcs[*restartWorker]{
		Init: func(*actor.Context, any) (*restartWorker, error) {
			return p.incarnate(), nil
		},
		Handle: func(_ *actor.Context, w *restartWorker, msg any) (*restartWorker, error) {
			w.handle(msg)
			return w, nil
		},
	}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	cancel := sys.Subscribe(func(ev actor.Event) {
		if dl, ok := ev.(actor.DeadLetter); ok {
			p.reported(dl.Message)
		}
	})
	defer cancel()
	// Handoff: what the crashed worker had queued goes to its replacement
	// (moved whole), as with the peers whose mailbox outlives a restart;
	// KeepName: sends by name in the restart's gap queue for the
	// replacement, as sends to the peers' PIDs, which survive a restart,
	// do.
	spec := supervisor.ChildSpec{ID: "w", Start: supervisor.StartSpec{
		Module: "w", Options: []actor.SpawnOption{actor.WithName("w")},
	}}
	spec.Handoff = GraftRestartSemantics <= Handoff
	spec.KeepName = GraftRestartSemantics == KeepName
	_, err = supervisor.Start(sys, supervisor.Flags{Intensity: restartIntensity, Period: time.Hour},
		[]supervisor.ChildSpec{spec})
	if err != nil {
		return fmt.Errorf("graft: start supervisor: %w", err)
	}
	return p.drive(r, func(msg any) error { return sys.SendNamed("w", msg) })
}
