package actor

import "time"

// Pushed returns how many user messages were ever queued for pid, so that
// a test can wait until what it sent from another goroutine is queued.
func Pushed(s *System, pid PID) uint64 {
	p := s.lookup(pid)
	if p == nil {
		return 0
	}
	return p.mb.Pushed()
}

// OnNameResolved makes every send by name call f after it has found the
// process holding the name and before it queues the message there (f must
// be set before any send by name).
func OnNameResolved(s *System, f func(name string)) { s.resolvedHook = f }

// Taken returns how many user messages pid has taken so far (as its
// mailbox last published it), 0 if it is not alive.
func Taken(s *System, pid PID) uint64 {
	p := s.lookup(pid)
	if p == nil {
		return 0
	}
	return p.mb.Taken()
}

// OnDeadlineJoined makes every call that waits under the default timeout
// call f once it is in the system's deadlines (f must be set before any
// call).
func OnDeadlineJoined(s *System, f func()) { s.deadlineHook = f }

// Idle reports whether pid's mailbox is idle: no goroutine runs it.
func Idle(s *System, pid PID) bool {
	p := s.lookup(pid)
	return p != nil && !p.mb.Running()
}

// SetWakeTick sets the period of the timer that starts processes held for
// their wakers' goroutines (see wakes); set before any send.
func SetWakeTick(s *System, d time.Duration) { s.wakeTick = d }

// HeldWakes returns how many woken processes wait for their wakers'
// goroutines.
func HeldWakes(s *System) int { return s.wakes.heldCount() }

// WaitingCalls returns how many calls wait under the default timeout.
func WaitingCalls(s *System) int {
	l := &s.deadlines
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := l.front; c != nil; c = c.next {
		n++
	}
	return n
}
