package actor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// PendingTimers lists SendAfter timers with the time they have left;
// TakeTimers stops them and hands them over: they never fire here, and
// other processes' timers are untouched.
func TestTakeTimers(t *testing.T) {
	sys := actortest.NewSystem(t)
	a, b := actortest.NewProbe(t, sys.System), actortest.NewProbe(t, sys.System)
	sys.SendAfter(a.PID(), time.Second, "a1")
	sys.SendAfter(a.PID(), 5*time.Second, "a5")
	t2 := sys.SendAfter(a.PID(), 2*time.Second, "a2")
	sys.SendAfter(b.PID(), 3*time.Second, "b3")
	sys.Clock.Advance(time.Second)
	a.Expect("a1")
	assert.True(t, t2.Reset(3*time.Second), "a reset timer was pending") // now due at 4s

	pending := sys.PendingTimers([]actor.PID{a.PID()})
	require.Len(t, pending, 2)
	assert.Equal(t, "a2", pending[0].Msg)
	assert.Equal(t, 3*time.Second, pending[0].Left)
	assert.Equal(t, "a5", pending[1].Msg)
	assert.Equal(t, 4*time.Second, pending[1].Left)

	taken := sys.TakeTimers([]actor.PID{a.PID()})
	assert.Equal(t, pending, taken)
	assert.Empty(t, sys.PendingTimers([]actor.PID{a.PID()}))
	assert.False(t, t2.Stop(), "a taken timer is no longer pending")
	sys.Clock.Advance(10 * time.Second)
	b.Expect("b3")
	assert.Empty(t, a.Received(), "taken timers never fire here")
	assert.Empty(t, sys.TakeTimers([]actor.PID{b.PID()}), "a fired timer is not pending")
}

// Stop is exact: a stopped SendAfter never delivers, and reports true
// only when it prevented the delivery.
func TestSendAfterStop(t *testing.T) {
	sys := actortest.NewSystem(t)
	a := actortest.NewProbe(t, sys.System)
	tm := sys.SendAfter(a.PID(), time.Second, "x")
	assert.True(t, tm.Stop())
	assert.False(t, tm.Stop())
	sys.Clock.Advance(2 * time.Second)
	assert.False(t, tm.Reset(time.Second))
	sys.Clock.Advance(time.Second)
	a.Expect("x")
	assert.False(t, tm.Stop(), "fired")
}
