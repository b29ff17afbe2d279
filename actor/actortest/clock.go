package actortest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/graftrt/graft/actor"
)

// FakeClock is an actor.Clock that moves only when told to. Timers fire
// during Advance, in deadline order; AfterFunc callbacks run synchronously
// inside Advance (not on their own goroutine as with the real clock), so
// when Advance returns, everything it fired has run.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer // pending, any order
	seq     uint64
	changed chan struct{} // closed and replaced whenever timers change
}

// NewFakeClock returns a clock standing at 2026-01-01 00:00:00 UTC.
func NewFakeClock() *FakeClock {
	return &FakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

var _ actor.BackgroundClock = (*FakeClock)(nil)

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires after d of fake time.
func (c *FakeClock) NewTimer(d time.Duration) actor.Timer {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// AfterFunc calls f during the Advance that passes d from now.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) actor.Timer {
	t := &fakeTimer{clock: c, f: f}
	t.Reset(d)
	return t
}

// AfterFuncBackground is AfterFunc for the runtime's own housekeeping
// (the timer that keeps the default call timeout, see
// actor.BackgroundClock): Advance fires it as any other, but Pending and
// WaitForTimers do not count it, so that a test waiting for the timer of
// the code it tests is not misled by one that happens to be armed.
func (c *FakeClock) AfterFuncBackground(d time.Duration, f func()) actor.Timer {
	t := &fakeTimer{clock: c, f: f, background: true}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due,
// earliest first (timers set by what fires are honoured too).
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.nextDueLocked(end)
		if t == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.now = t.when
		c.removeLocked(t)
		now := c.now
		c.mu.Unlock()
		if t.f != nil {
			t.f()
		} else {
			select {
			case t.ch <- now:
			default:
			}
		}
	}
}

// Pending returns the number of timers that have not fired or been
// stopped, background ones (AfterFuncBackground) aside.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(false)
}

// PendingBackground returns the number of background timers that have not
// fired or been stopped.
func (c *FakeClock) PendingBackground() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(true)
}

func (c *FakeClock) countLocked(background bool) int {
	n := 0
	for _, t := range c.timers {
		if t.background == background {
			n++
		}
	}
	return n
}

// WaitForTimers waits until at least n timers are pending (background ones
// aside), so that a test can advance the clock knowing the code under test
// has armed its timer.
func (c *FakeClock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if c.countLocked(false) >= n {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *FakeClock) nextDueLocked(end time.Time) *fakeTimer {
	var next *fakeTimer
	for _, t := range c.timers {
		if t.when.After(end) {
			continue
		}
		if next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.seq < next.seq) {
			next = t
		}
	}
	return next
}

func (c *FakeClock) removeLocked(t *fakeTimer) bool {
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	c.notifyLocked()
	return true
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	clock *FakeClock
	ch    chan time.Time
	f     func()
	// background: see AfterFuncBackground.
	background bool
	when       time.Time // guarded by clock.mu
	seq        uint64    // guarded by clock.mu: orders timers due at the same instant
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	active := c.removeLocked(t)
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return active
}
