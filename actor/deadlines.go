package actor

import (
	"sync"
	"time"
)

// deadlineTicks is how many ticks of the deadlines' timer make the
// default call timeout.
const deadlineTicks = 16

// deadlines times out the calls that wait under the system's default call
// timeout (a context without a deadline). Arming and stopping a runtime
// timer for each call, and reading the clock for it, cost more than the
// rest of a call's overhead on machines whose clock is slow to read; here
// a call joins a list under a lock and leaves it the same way, without
// reading the clock, and one timer serves the whole list.
//
// The timer ticks every callTimeout/deadlineTicks while calls wait, on the
// system clock (a fake clock fires it in tests). A call expires at the
// tick that makes at least callTimeout since it joined: the 16th tick when
// it armed the timer (the list was idle), else the 17th, since it joined
// somewhere within a tick. So a call times out between callTimeout and
// callTimeout·17/16 after it started, exactly at callTimeout when no other
// call was waiting. Calls join at the back in the order of their expiry,
// so each tick looks only at the front.
type deadlines struct {
	mu          sync.Mutex
	front, back *callEnv // guarded by mu; linked through prev and next
	tick        uint64   // guarded by mu
	timer       Timer    // nil until the first call
	armed       bool     // guarded by mu; the timer will tick
}

// deadlinePeriod is the deadlines' tick.
func (s *system) deadlinePeriod() time.Duration {
	return max(s.callTimeout/deadlineTicks, time.Nanosecond)
}

// joinDeadlines puts c at the back of the list, to be answered with
// ErrTimeout once its time is up, unless it leaves first.
func (s *system) joinDeadlines(c *callEnv) {
	l := &s.deadlines
	l.mu.Lock()
	c.expires = l.tick + deadlineTicks + 1
	if !l.armed {
		l.armed = true
		c.expires--
		if l.timer == nil {
			if bc, ok := s.clock.(BackgroundClock); ok {
				l.timer = bc.AfterFuncBackground(s.deadlinePeriod(), s.tickDeadlines)
			} else {
				l.timer = s.clock.AfterFunc(s.deadlinePeriod(), s.tickDeadlines)
			}
		} else {
			l.timer.Reset(s.deadlinePeriod())
		}
	}
	c.listed = true
	c.prev, c.next = l.back, nil
	if l.back != nil {
		l.back.next = c
	} else {
		l.front = c
	}
	l.back = c
	l.mu.Unlock()
	if s.deadlineHook != nil {
		s.deadlineHook()
	}
}

// leaveDeadlines takes c off the list, if the timer did not already, and
// reports whether the timer answered c (rather than the target, which
// may then still hold it). From then on the timer never touches c.
func (s *system) leaveDeadlines(c *callEnv) (expired bool) {
	l := &s.deadlines
	l.mu.Lock()
	expired, c.timedOut = c.timedOut, false
	if c.listed {
		l.unlinkLocked(c)
	}
	l.mu.Unlock()
	return expired
}

func (l *deadlines) unlinkLocked(c *callEnv) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.front = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.back = c.prev
	}
	c.prev, c.next, c.listed = nil, nil, false
}

// tickDeadlines runs on the timer: it answers every call whose time is up
// with ErrTimeout (finish never blocks: the reply channel has room for the
// one answer) and ticks again while calls wait.
func (s *system) tickDeadlines() {
	l := &s.deadlines
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tick++
	for c := l.front; c != nil && c.expires <= l.tick; c = l.front {
		l.unlinkLocked(c)
		c.timedOut = c.finish(nil, ErrTimeout) // false if the reply won
	}
	if l.front == nil {
		l.armed = false
		return
	}
	l.timer.Reset(s.deadlinePeriod())
}

// idleDeadlines stops the timer when no call waits: it may tick once more
// after the last call left, and a stopped system leaves no timer behind.
func (s *system) idleDeadlines() {
	l := &s.deadlines
	l.mu.Lock()
	if l.front == nil && l.armed {
		l.timer.Stop()
		l.armed = false
	}
	l.mu.Unlock()
}
