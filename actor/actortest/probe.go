package actortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/graftrt/graft/actor"
)

// DefaultWait is how long a Probe waits for an expected message before
// failing the test. It bounds a wait for an event; it is not a sleep.
const DefaultWait = 10 * time.Second

// Probe is an actor that records every message it receives, for tests to
// expect. It traps exits, so links and kills it takes part in show up as
// ExitMsg messages. Each probe runs a module of its own, loaded by
// NewProbe.
type Probe struct {
	t   testing.TB
	sys *actor.System
	pid actor.PID
	box *inbox
}

type inbox struct {
	mu    sync.Mutex
	msgs  []any
	ready chan struct{} // closed and replaced on every arrival
}

func (b *inbox) put(m any) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	close(b.ready)
	b.ready = make(chan struct{})
	b.mu.Unlock()
}

// probeDo runs f inside the probe's process, so a test can link, monitor
// or spawn as the probe.
type probeDo struct{ f func(*actor.Context) }

// probeVersion is the probe's module. It is immutable and holds no
// per-system state (each probe's inbox is its process state), so every
// System and every probe shares it.
var probeVersion = actor.Define("actortest.probe", "v1", actor.Funcs[*inbox]{
	Init: func(ctx *actor.Context, args any) (*inbox, error) {
		ctx.TrapExit(true)
		return args.(*inbox), nil
	},
	Handle: func(ctx *actor.Context, box *inbox, msg any) (*inbox, error) {
		if do, ok := msg.(probeDo); ok {
			do.f(ctx)
			ctx.Reply(nil)
			return box, nil
		}
		box.put(msg)
		return box, nil
	},
})

// NewProbe spawns a probe in sys.
func NewProbe(t testing.TB, sys *actor.System) *Probe {
	t.Helper()
	box := &inbox{ready: make(chan struct{})}
	if err := sys.Load(probeVersion); err != nil {
		t.Fatalf("actortest: load probe: %v", err)
	}
	pid, err := sys.Spawn("actortest.probe", box)
	if err != nil {
		t.Fatalf("actortest: spawn probe: %v", err)
	}
	return &Probe{t: t, sys: sys, pid: pid, box: box}
}

// PID returns the probe's PID.
func (p *Probe) PID() actor.PID { return p.pid }

// Do runs f in the probe's process and waits for it.
func (p *Probe) Do(f func(ctx *actor.Context)) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWait)
	defer cancel()
	if _, err := p.sys.Call(ctx, p.pid, probeDo{f: f}); err != nil {
		p.t.Fatalf("actortest: probe: %v", err)
	}
}

// Link links the probe with pid.
func (p *Probe) Link(pid actor.PID) {
	p.t.Helper()
	var err error
	p.Do(func(ctx *actor.Context) { err = ctx.Link(pid) })
	if err != nil {
		p.t.Fatalf("actortest: probe link: %v", err)
	}
}

// Monitor makes the probe monitor pid and returns the monitor's Ref.
func (p *Probe) Monitor(pid actor.PID) actor.Ref {
	p.t.Helper()
	var ref actor.Ref
	p.Do(func(ctx *actor.Context) { ref = ctx.Monitor(pid) })
	return ref
}

// Recv returns the next message, waiting up to DefaultWait.
func (p *Probe) Recv() any {
	p.t.Helper()
	m, err := p.RecvWithin(DefaultWait)
	if err != nil {
		p.t.Fatalf("actortest: %v", err)
	}
	return m
}

// RecvWithin returns the next message, or an error after d.
func (p *Probe) RecvWithin(d time.Duration) (any, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.box.mu.Lock()
		if len(p.box.msgs) > 0 {
			m := p.box.msgs[0]
			p.box.msgs = p.box.msgs[1:]
			p.box.mu.Unlock()
			return m, nil
		}
		ready := p.box.ready
		p.box.mu.Unlock()
		select {
		case <-ready:
		case <-deadline.C:
			return nil, fmt.Errorf("probe %v: no message within %v", p.pid, d)
		}
	}
}

// Received returns the messages that arrived and were not taken yet,
// without waiting, and takes them.
func (p *Probe) Received() []any {
	p.box.mu.Lock()
	defer p.box.mu.Unlock()
	out := p.box.msgs
	p.box.msgs = nil
	return out
}

// Expect fails the test unless the next message equals want.
func (p *Probe) Expect(want any) {
	p.t.Helper()
	assert.Equal(p.t, want, p.Recv())
}

// ExpectN returns the next n messages.
func (p *Probe) ExpectN(n int) []any {
	p.t.Helper()
	out := make([]any, 0, n)
	for range n {
		out = append(out, p.Recv())
	}
	return out
}

// ExpectExit waits for the next message and fails the test unless it is an
// ExitMsg from from whose reason matches reason (errors.Is; nil matches
// any reason).
func (p *Probe) ExpectExit(from actor.PID, reason error) actor.ExitMsg {
	p.t.Helper()
	m := p.Recv()
	e, ok := m.(actor.ExitMsg)
	if !ok {
		p.t.Fatalf("actortest: want ExitMsg from %v, got %#v", from, m)
	}
	assert.Equal(p.t, from, e.From, "exit signal sender")
	if reason != nil && !errors.Is(e.Reason, reason) {
		p.t.Errorf("actortest: exit reason %v, want %v", e.Reason, reason)
	}
	return e
}

// ExpectDown waits for the next message and fails the test unless it is a
// Down for pid whose reason matches reason (errors.Is; nil matches any
// reason).
func (p *Probe) ExpectDown(pid actor.PID, reason error) actor.Down {
	p.t.Helper()
	m := p.Recv()
	d, ok := m.(actor.Down)
	if !ok {
		p.t.Fatalf("actortest: want Down for %v, got %#v", pid, m)
	}
	assert.Equal(p.t, pid, d.PID, "down process")
	if reason != nil && !errors.Is(d.Reason, reason) {
		p.t.Errorf("actortest: down reason %v, want %v", d.Reason, reason)
	}
	return d
}
