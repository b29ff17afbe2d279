package actor_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// timedCall starts a call that waits under the default timeout and
// returns once it is in the system's deadlines; its result arrives on the
// returned channel.
func timedCall(t *testing.T, sys *actortest.System, joined <-chan struct{}, ctx context.Context, pid actor.PID, req any) <-chan error {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		_, err := sys.Call(ctx, pid, req)
		got <- err
	}()
	select {
	case <-joined:
	case <-time.After(actortest.DefaultWait):
		t.Fatal("the call never joined the deadlines")
	}
	return got
}

// A call alone times out exactly at the default timeout; one that joins
// while the timer ticks for another, within one tick (a sixteenth of the
// timeout) after it; one timer serves both.
func TestCallDeadlinesEachAtItsOwn(t *testing.T) {
	sys := newSys(t)
	joined := make(chan struct{}, 16)
	actor.OnDeadlineJoined(sys.System, func() { joined <- struct{}{} })
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	const tick = 5 * time.Second / 16

	a := timedCall(t, sys, joined, context.Background(), pid, deferReply{}) // alone: 5 s
	sys.Clock.Advance(2 * time.Second)
	b := timedCall(t, sys, joined, context.Background(), pid, deferReply{}) // at 2 s, within tick 7: 7 s + 3/16 s
	assert.Equal(t, 1, sys.Clock.PendingBackground(), "one timer for every waiting call")
	assert.Zero(t, sys.Clock.Pending(), "a background timer: WaitForTimers does not count it")

	sys.Clock.Advance(3*time.Second - time.Nanosecond)
	assert.Equal(t, 2, actor.WaitingCalls(sys.System), "neither time is up")
	sys.Clock.Advance(time.Nanosecond)
	assert.ErrorIs(t, <-a, actor.ErrTimeout, "a at 5 s")
	assert.Equal(t, 1, actor.WaitingCalls(sys.System))

	sys.Clock.Advance(2 * time.Second)
	assert.Equal(t, 1, actor.WaitingCalls(sys.System), "b waits at least 5 s")
	sys.Clock.Advance(3*tick/5 - time.Nanosecond) // 7 s + 3/16 s is the 23rd tick
	assert.Equal(t, 1, actor.WaitingCalls(sys.System))
	sys.Clock.Advance(time.Nanosecond)
	assert.ErrorIs(t, <-b, actor.ErrTimeout, "b at its tick")
	assert.Zero(t, actor.WaitingCalls(sys.System))
	assert.Zero(t, sys.Clock.PendingBackground(), "the timer stops once nobody waits")
}

// Answered calls leave the deadlines and arm no timer of their own; a
// stopped system leaves no timer behind.
func TestCallDeadlinesAnsweredLeave(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	for i := range 100 {
		v, err := sys.Call(context.Background(), pid, echo{V: i})
		require.NoError(t, err)
		require.Equal(t, i, v)
		require.Zero(t, actor.WaitingCalls(sys.System))
		require.LessOrEqual(t, sys.Clock.PendingBackground(), 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))
	assert.Zero(t, sys.Clock.PendingBackground(), "Shutdown stops the timer")
}

// A randomized run against a reference model of the deadlines (a tick
// count and the timer's next tick): calls start, are answered, are
// cancelled and time out in any order while the clock moves in steps of
// any size, some to a tick exactly; each call's outcome is the model's,
// and it is never answered with ErrTimeout before the default timeout has
// passed, nor later than a tick after.
func TestCallDeadlinesModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const timeout = 5 * time.Second
	const period = timeout / 16
	sys := newSys(t)
	joined := make(chan struct{}, 1)
	actor.OnDeadlineJoined(sys.System, func() { joined <- struct{}{} })

	type live struct {
		pid     actor.PID
		start   time.Duration
		expires int
		cancel  context.CancelFunc
		got     <-chan error
	}
	// The model.
	var (
		now      time.Duration
		tick     int
		armed    bool
		nextTick time.Duration
		calls    []*live
	)
	// ended checks call i's outcome, at time at, and forgets it.
	ended := func(i int, want error, at time.Duration, why string) {
		c := calls[i]
		calls = append(calls[:i], calls[i+1:]...)
		err := <-c.got
		if want == nil {
			require.NoError(t, err, "seed %d: %s", seed, why)
			return
		}
		require.ErrorIs(t, err, want, "seed %d: %s", seed, why)
		if want == actor.ErrTimeout {
			waited := at - c.start
			require.GreaterOrEqual(t, waited, timeout, "seed %d: never before the timeout", seed)
			require.LessOrEqual(t, waited, timeout+period, "seed %d: at most a tick after", seed)
		}
	}
	for step := range 500 {
		switch k := rng.IntN(10); {
		case k < 4: // a new call, to a worker of its own
			pid, err := sys.Spawn("worker", nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			c := &live{pid: pid, start: now, expires: tick + 17, cancel: cancel}
			if !armed {
				armed, nextTick, c.expires = true, now+period, tick+16
			}
			c.got = timedCall(t, sys, joined, ctx, pid, deferReply{})
			calls = append(calls, c)
		case k < 6 && len(calls) > 0: // answered
			i := rng.IntN(len(calls))
			require.NoError(t, sys.Send(calls[i].pid, answerDeferred{V: step}))
			ended(i, nil, now, "answered in time")
		case k < 7 && len(calls) > 0: // cancelled
			i := rng.IntN(len(calls))
			calls[i].cancel()
			ended(i, context.Canceled, now, "cancelled in time")
		default: // the clock moves
			d := time.Duration(rng.Int64N(int64(2 * time.Second)))
			if armed && rng.IntN(3) == 0 { // to a tick, or a nanosecond either side
				d = max(0, nextTick-now+time.Duration(rng.IntN(3))-1)
			}
			sys.Clock.Advance(d) // the system's timer ticks as the clock goes
			end := now + d
			for armed && nextTick <= end {
				tick++
				for i := 0; i < len(calls); {
					if calls[i].expires <= tick {
						ended(i, actor.ErrTimeout, nextTick, "its time is up")
						continue
					}
					i++
				}
				if len(calls) == 0 {
					armed = false
				} else {
					nextTick += period
				}
			}
			now = end
			require.Equal(t, len(calls), actor.WaitingCalls(sys.System), "seed %d: the calls still waiting", seed)
		}
	}
	for _, c := range calls {
		c.cancel()
		<-c.got
	}
}
