package actor

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Event is something reported to subscribers (see System.Subscribe). The
// runtime reports DeadLetter, ProcessExited, VersionLoaded, Migrated and
// MigrationFailed; packages built on it (supervisors, upgrades) report their
// own event types through System.Emit on the same bus. Subscribers switch
// on the concrete type.
type Event any

// DeadLetter reports a message that was accepted and then not handled,
// with the reason: the exit reason of a process that died with the message
// still queued, ErrMailboxFull (a DropOldest mailbox evicted it), NoProc
// (a SendAfter timer found its target dead, or a handed-over queue found
// nobody to take it). A send that returns an error (NoProc, a full Reject
// mailbox, an unknown name) is refused, not a dead letter: its sender was
// told. So for every message sent, exactly one holds: refused at send,
// handled, or reported once as a DeadLetter. Calls are never dead-lettered
// either: their caller gets the error.
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

// ProcessAbandoned reports a process that System.Abandon declared killed
// while its goroutine was still in user code (a Terminate or a handler
// that did not return in time). A ProcessExited with reason Killed
// follows; the goroutine is left to finish and changes nothing when it
// does (System.Abandoned counts such goroutines).
type ProcessAbandoned struct {
	PID     PID
	Module  string
	Version string
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

// events fans events out to subscribers. A subscriber is called
// synchronously, on the goroutine that caused the event (often a process's
// receive loop, or a supervisor deciding a restart), or on a goroutine of
// its own (SubscribeAsync).
type events struct {
	mu   sync.Mutex // serialises changes to subs
	subs atomic.Pointer[[]*subscriber]
	n    atomic.Int32
}

type subscriber struct {
	f func(Event)
	q *eventQueue // non-nil for SubscribeAsync
	// cancel removes the subscriber; the bus calls it when f panics.
	cancel func()
}

// Subscribe calls f for every event from now on, until the returned cancel
// function is called (cancel may be called more than once). A call of f
// already under way when cancel returns may still finish after it.
//
// f runs synchronously on the goroutine that caused the event, which is
// often a process's receive loop or a supervisor between two decisions:
// while f runs, that process handles nothing else. f must be quick and
// must not block, and must not call or wait for a process (a callback
// that asks a supervisor something on ChildStarted waits for a supervisor
// that is waiting for the callback). It sees events in the order each
// goroutine caused them, and ahead of anything that follows the event: a
// runtime-internal ordering the upgrade engine and test harnesses count
// on. Use SubscribeAsync for a callback that does real work.
//
// A panic in f is logged and ends the subscription; the event's emitter
// is not disturbed.
func (s *System) Subscribe(f func(Event)) (cancel func()) {
	return s.subscribe(&subscriber{f: f})
}

// SubscribeAsync is Subscribe with f called on a goroutine of its own, in
// the order the events were emitted: f may block and may call processes
// (a supervisor it is told about, say) without holding up the process
// that caused the event. Events wait in an unbounded queue for f, so none
// is lost and no emitter waits; a subscriber that falls far behind holds
// their memory. cancel stops delivery: events still queued are dropped; a
// call of f under way may finish after cancel returns, and the goroutine
// ends when it does. A panic in f is logged and ends the subscription.
func (s *System) SubscribeAsync(f func(Event)) (cancel func()) {
	q := &eventQueue{wake: make(chan struct{}, 1)}
	sub := &subscriber{f: f, q: q}
	cancelSub := s.subscribe(sub)
	go s.deliver(sub)
	return func() {
		cancelSub()
		q.close()
	}
}

func (s *System) subscribe(sub *subscriber) (cancel func()) {
	e := &s.events
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
	sub.cancel = func() {
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
	return sub.cancel
}

// call runs a subscriber's f on one event; a panic ends the subscription.
func (s *System) call(sub *subscriber, ev Event) (ok bool) {
	returned := false
	defer func() {
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			ok = false
			sub.cancel()
			s.log.Error("event subscriber panicked; unsubscribed", zap.String("event", fmt.Sprintf("%T", ev)), zap.Any("panic", r))
		}
	}()
	sub.f(ev)
	returned = true
	return true
}

// eventQueue holds a SubscribeAsync subscriber's events.
type eventQueue struct {
	mu     sync.Mutex
	evs    []Event
	closed bool
	wake   chan struct{} // a token: events are waiting, or the queue closed
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	if !q.closed {
		q.evs = append(q.evs, ev)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.evs = nil
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// deliver runs f on the queued events until the subscription ends.
func (s *System) deliver(sub *subscriber) {
	q := sub.q
	var batch []Event
	for range q.wake {
		q.mu.Lock()
		batch, q.evs = q.evs, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return
		}
		for i, ev := range batch {
			if !s.call(sub, ev) {
				q.close()
				return
			}
			batch[i] = nil
			q.mu.Lock()
			closed = q.closed
			q.mu.Unlock()
			if closed {
				return
			}
		}
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
		if sub.q != nil {
			sub.q.push(ev)
		} else {
			s.call(sub, ev)
		}
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
// one atomic load per message. A panic in f is logged and removes the
// observer.
func (s *System) OnHandled(f func(pid PID, msg any)) (cancel func(), err error) {
	h := &f
	if !s.onHandled.CompareAndSwap(nil, h) {
		return nil, ErrObserved
	}
	return func() { s.onHandled.CompareAndSwap(h, nil) }, nil
}

// handled calls the OnHandled observer h; a panic removes it.
func (s *System) handled(h *func(PID, any), pid PID, msg any) {
	returned := false
	defer func() {
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			s.onHandled.CompareAndSwap(h, nil)
			s.log.Error("OnHandled observer panicked; removed", zap.Stringer("pid", pid), zap.Any("panic", r))
		}
	}()
	(*h)(pid, msg)
	returned = true
}
