package actor

import "time"

// Clock is the source of time for a System: call timeouts, SendAfter and
// everything built on them (restart intensity, upgrade deadlines). Tests
// inject a fake clock (actortest.FakeClock) and advance it by hand.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer whose C fires once after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f on its own goroutine after d. Its Timer's C is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// BackgroundClock is a Clock that keeps the runtime's own housekeeping
// timers apart from the others: the System arms its timer that keeps the
// default call timeout (see WithCallTimeout) with AfterFuncBackground when
// its clock has it. actortest.FakeClock does, so that a test waiting for a
// timer of its own is not misled by that one.
type BackgroundClock interface {
	Clock
	// AfterFuncBackground is AfterFunc for a housekeeping timer.
	AfterFuncBackground(d time.Duration, f func()) Timer
}

// Timer is a stoppable, resettable timer from a Clock. It is an interface,
// not *time.Timer, so a fake clock can implement it.
type Timer interface {
	// C returns the channel the timer fires on (nil for AfterFunc timers).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset makes the timer fire after d; it reports whether it was active.
	Reset(d time.Duration) bool
}

// RealClock is the wall clock. Its zero value is ready to use.
type RealClock struct{}

func (RealClock) Now() time.Time                            { return time.Now() }
func (RealClock) NewTimer(d time.Duration) Timer            { return realTimer{time.NewTimer(d)} }
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
