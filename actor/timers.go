package actor

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// SendAfter timers are kept in a table per system, so that a handoff can
// list those pending for the processes it moves, with the time each has
// left, and take them over: a timer taken is stopped here and armed again
// in the new build. Timers of other kinds (call timeouts, supervisors'
// shutdown timers) are not in it.

// PendingTimer is a SendAfter timer that has not fired.
type PendingTimer struct {
	To  PID
	Msg any
	// Due is when it fires on the system clock; Left is what remained
	// when it was read.
	Due  time.Time
	Left time.Duration
}

// sendAfter is a SendAfter timer in the system's table. A firing that
// finds the timer no longer armed (stopped, taken or reset meanwhile: the
// clock's own Stop may come too late to prevent the callback) does
// nothing, so Stop and TakeTimers are exact: a timer they report as
// stopped never delivers.
type sendAfter struct {
	s   *System
	to  PID
	msg any

	mu    sync.Mutex
	t     Timer     // guarded by mu
	due   time.Time // guarded by mu
	gen   uint64    // guarded by mu: the arming the clock's timer fires for
	armed bool      // guarded by mu: in the table, not fired, not stopped
	// inflight is set while a firing delivers the message, and closed
	// once it has (or has reported it). Guarded by mu.
	inflight chan struct{}
}

type timerTable struct {
	mu sync.Mutex
	m  map[*sendAfter]struct{} // guarded by mu
}

func (s *System) sendAfter(pid PID, d time.Duration, msg any) Timer {
	t := &sendAfter{s: s.root, to: pid, msg: msg}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.arm(d)
	return t
}

// arm starts the timer for d. t.mu is held.
func (t *sendAfter) arm(d time.Duration) {
	t.gen++
	gen := t.gen
	t.due = t.s.clock.Now().Add(d)
	if !t.armed {
		t.armed = true
		tt := &t.s.timers
		tt.mu.Lock()
		if tt.m == nil {
			tt.m = make(map[*sendAfter]struct{})
		}
		tt.m[t] = struct{}{}
		tt.mu.Unlock()
	}
	t.t = t.s.clock.AfterFunc(d, func() { t.fire(gen) })
}

// disarm stops the timer and reports whether it was armed; it leaves the
// table unless a firing is still delivering (TakeTimers waits for that
// one). t.mu is held.
func (t *sendAfter) disarm() bool {
	if !t.armed {
		return false
	}
	t.armed = false
	t.t.Stop()
	if t.inflight == nil {
		t.untable()
	}
	return true
}

// untable removes the timer from the system's table. t.mu is held.
func (t *sendAfter) untable() {
	tt := &t.s.timers
	tt.mu.Lock()
	delete(tt.m, t)
	tt.mu.Unlock()
}

func (t *sendAfter) fire(gen uint64) {
	t.mu.Lock()
	if gen != t.gen || !t.armed {
		t.mu.Unlock()
		return // stopped, taken or reset meanwhile
	}
	t.armed = false
	done := make(chan struct{})
	t.inflight = done
	t.mu.Unlock()
	s := t.s
	// Nobody is there to be told of a refusal: it is a dead letter.
	err := s.Send(t.to, t.msg)
	switch {
	case err == nil || t.msg == nil:
	case errors.Is(err, ErrMailboxFull):
		s.undeliverable(t.to, t.msg, ErrMailboxFull)
	case errors.Is(err, NoProc):
		s.undeliverable(t.to, t.msg, NoProc)
	default:
		s.undeliverable(t.to, t.msg, err)
	}
	t.mu.Lock()
	t.inflight = nil
	if !t.armed { // not reset meanwhile
		t.untable()
	}
	t.mu.Unlock()
	close(done)
}

func (t *sendAfter) C() <-chan time.Time { return nil }

// Stop prevents the timer from firing and reports whether it did.
func (t *sendAfter) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.disarm()
}

// Reset makes the timer fire after d and reports whether it was pending.
func (t *sendAfter) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.disarm()
	t.arm(d)
	return was
}

// PendingTimers lists the SendAfter timers pending for the processes of
// pids, earliest first.
func (s *System) PendingTimers(pids []PID) []PendingTimer {
	var out []PendingTimer
	for _, t := range s.timersFor(pids) {
		t.mu.Lock()
		if t.armed {
			out = append(out, t.pending())
		}
		t.mu.Unlock()
	}
	sortTimers(out)
	return out
}

// TakeTimers stops the SendAfter timers pending for the processes of pids
// and returns them, earliest first, for the caller to arm elsewhere. A
// timer that is firing as they are taken is waited for: its message is in
// its target's queue (or reported) when TakeTimers returns, never both
// there and in the result.
func (s *System) TakeTimers(pids []PID) []PendingTimer {
	var out []PendingTimer
	var firing []chan struct{}
	for _, t := range s.timersFor(pids) {
		t.mu.Lock()
		if t.armed {
			out = append(out, t.pending())
			t.disarm()
		} else if t.inflight != nil {
			firing = append(firing, t.inflight)
		}
		t.mu.Unlock()
	}
	for _, f := range firing {
		<-f
	}
	sortTimers(out)
	return out
}

// pending describes the timer. t.mu is held.
func (t *sendAfter) pending() PendingTimer {
	return PendingTimer{To: t.to, Msg: t.msg, Due: t.due, Left: max(t.due.Sub(t.s.clock.Now()), 0)}
}

func (s *System) timersFor(pids []PID) []*sendAfter {
	want := make(map[PID]bool, len(pids))
	for _, p := range pids {
		want[p] = true
	}
	tt := &s.timers
	tt.mu.Lock()
	defer tt.mu.Unlock()
	var out []*sendAfter
	for t := range tt.m {
		if want[t.to] {
			out = append(out, t)
		}
	}
	return out
}

func sortTimers(ts []PendingTimer) {
	slices.SortStableFunc(ts, func(a, b PendingTimer) int { return a.Due.Compare(b.Due) })
}
