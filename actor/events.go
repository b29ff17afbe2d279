package actor

import (
	"sync"
	"sync/atomic"
)

// Event is something reported to subscribers (see System.Subscribe). The
// runtime reports DeadLetter, ProcessExited, VersionLoaded, Migrated and
// MigrationFailed; packages built on it (supervisors, upgrades) report their
// own event types through System.Emit on the same bus. Subscribers switch
// on the concrete type.
type Event any

// DeadLetter reports a message that was not delivered, with the reason:
// NoProc (the target was dead), ErrMailboxFull (a bounded mailbox refused
// it or evicted it), or the exit reason of a process that died with the
// message still queued. Calls are never dead-lettered silently either:
// their caller gets the error.
type DeadLetter struct {
	To      PID
	Message any
	Reason  error
}

// ProcessExited reports the end of a process.
type ProcessExited struct {
	PID     PID
	Module  string
	Version string
	Reason  error
}

// VersionLoaded reports System.Load making Version current.
type VersionLoaded struct {
	Module, Version, Previous string
}

// VersionRetired reports a version that is no longer current and whose
// last activation has ended; its release hook has run.
type VersionRetired struct {
	Module, Version string
}

// Migrated reports a process whose state moved to another version on
// per-message pickup.
type Migrated struct {
	PID              PID
	Module, From, To string
}

// MigrationFailed reports a migration that failed, panicked or returned a
// state the target version does not accept. The process stays on From with
// its state intact and keeps handling messages on From; it does not retry
// until another version is made current.
type MigrationFailed struct {
	PID              PID
	Module, From, To string
	Err              error
}

// events fans events out to subscribers. Subscribers are called
// synchronously on the goroutine that caused the event (often a process's
// receive loop), so they must be quick and must not block; a subscriber that
// needs to do work should hand the event to its own goroutine. The
// alternative, a queue per subscriber, would either lose events when full or
// grow without bound; a callback leaves that choice to the subscriber.
type events struct {
	mu   sync.Mutex // serialises changes to subs
	subs atomic.Pointer[[]*subscriber]
	n    atomic.Int32
}

type subscriber struct{ f func(Event) }

// Subscribe calls f for every event from now on, until the returned cancel
// function is called (cancel may be called more than once). A call of f
// already under way when cancel returns may still finish after it.
func (s *System) Subscribe(f func(Event)) (cancel func()) {
	e := &s.events
	sub := &subscriber{f: f}
	e.mu.Lock()
	var cur []*subscriber
	if p := e.subs.Load(); p != nil {
		cur = *p
	}
	next := append(append([]*subscriber(nil), cur...), sub)
	e.subs.Store(&next)
	e.n.Store(int32(len(next)))
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			var next []*subscriber
			for _, x := range *e.subs.Load() {
				if x != sub {
					next = append(next, x)
				}
			}
			e.subs.Store(&next)
			e.n.Store(int32(len(next)))
		})
	}
}

// watched reports whether anyone subscribes; callers check it before
// building an event so an unobserved system pays nothing.
func (s *System) watched() bool { return s.events.n.Load() > 0 }

// Watched reports whether anyone subscribes to the system's events, for
// packages that emit many and would rather not build them for nobody.
func (s *System) Watched() bool { return s.watched() }

// Emit reports ev to every subscriber. Packages built on the runtime use it
// for their own events; the same rules apply (subscribers run on the
// caller's goroutine).
func (s *System) Emit(ev Event) {
	if s.watched() {
		s.emit(ev)
	}
}

func (s *System) emit(ev Event) {
	p := s.events.subs.Load()
	if p == nil {
		return
	}
	for _, sub := range *p {
		sub.f(ev)
	}
}

// OnHandled calls f after every user message a process has consumed:
// handled by its version (whatever the outcome: a handler that returned an
// error or panicked consumed its message too), with the message as sent (a
// call's request for a call). f runs on the process's goroutine, so it must
// be quick. It is for harnesses that account for every message (package
// chaos): together with DeadLetter events and refused sends, it shows where
// each message went. One observer at a time: a second OnHandled fails with
// ErrObserved until the first is cancelled. Unobserved, the runtime pays
// one atomic load per message.
func (s *System) OnHandled(f func(pid PID, msg any)) (cancel func(), err error) {
	h := &f
	if !s.onHandled.CompareAndSwap(nil, h) {
		return nil, ErrObserved
	}
	return func() { s.onHandled.CompareAndSwap(h, nil) }, nil
}
