package actor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// noTick keeps held wakes from being started by the timer within a test:
// what starts them must be the sender's goroutine.
const noTick = time.Hour

// newWakeSys is newSys with the runner module and the given wake tick.
func newWakeSys(t *testing.T, tick time.Duration) *actortest.System {
	t.Helper()
	sys := newSys(t)
	actor.SetWakeTick(sys.System, tick)
	require.NoError(t, sys.Load(runnerVersion))
	return sys
}

// A process woken by a send from a handler waits for that handler to
// return, then runs (on the sender's goroutine: nothing else starts it).
func TestWokenProcessWaitsForTheSendersHandler(t *testing.T) {
	sys := newWakeSys(t, noTick)
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	idle, err := sys.Spawn("worker", nil) // never ran: idle
	require.NoError(t, err)

	gate, sent := make(chan struct{}), make(chan error, 1)
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		sent <- ctx.Send(idle, "hello")
		<-gate
	})))
	require.NoError(t, <-sent)
	assert.Equal(t, 1, actor.HeldWakes(sys.System))
	assert.Zero(t, actor.Taken(sys.System, idle), "the woken process ran while the sender's handler had not returned")
	close(gate)
	v, err := call(t, sys, idle, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{"hello"}, v)
	assert.Zero(t, actor.HeldWakes(sys.System))
}

// A handler that sends to several idle processes wakes them all: one
// runs on its goroutine, the others get goroutines of their own.
func TestEveryWokenProcessRuns(t *testing.T) {
	sys := newWakeSys(t, noTick)
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	var idle []actor.PID
	for range 4 {
		pid, err := sys.Spawn("worker", nil)
		require.NoError(t, err)
		idle = append(idle, pid)
	}
	held := make(chan int, 1)
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		for i, pid := range idle {
			_ = ctx.Send(pid, i)
		}
		held <- actor.HeldWakes(sys.System)
	})))
	assert.Equal(t, len(idle), <-held)
	for i, pid := range idle {
		v, err := call(t, sys, pid, getSeen{})
		require.NoError(t, err)
		assert.Equal(t, []any{i}, v)
	}
}

// A sender that has more to do after the handler that woke a process
// (more messages queued) does not keep it waiting: the woken process gets
// a goroutine of its own, and the sender's next message can wait for it.
func TestWokenProcessDoesNotWaitForABusySender(t *testing.T) {
	sys := newWakeSys(t, noTick)
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	probe, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	worker, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(worker, tee{To: probe}))

	gate := make(chan struct{})
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		<-gate // the next message is queued before this one ends
		_ = ctx.Send(worker, "x")
	})))
	done := make(chan struct{})
	require.NoError(t, sys.Send(sender, runIn(func(*actor.Context) {
		for actor.Pushed(sys.System, probe) < 1 { // the worker has run
			runtime.Gosched() // a busy handler
		}
		close(done)
	})))
	close(gate)
	select {
	case <-done:
	case <-time.After(actortest.DefaultWait):
		require.Fail(t, "the woken process waited for its busy sender")
	}
}

// A handler that waits through its System for the process it woke (a
// Call, a Stop) starts it first: with no timer to do it, the wait would
// never end.
func TestAWaitingHandlerStartsWhatItWoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait func(ctx *actor.Context, pid actor.PID) error
	}{
		{"call", func(ctx *actor.Context, pid actor.PID) error {
			v, err := ctx.Call(context.Background(), pid, getSeen{})
			if err == nil && fmt.Sprint(v) != "[hello]" {
				err = fmt.Errorf("seen %v", v)
			}
			return err
		}},
		{"stop", func(ctx *actor.Context, pid actor.PID) error {
			return ctx.System().Stop(context.Background(), pid)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newWakeSys(t, noTick)
			sender, err := sys.Spawn("runner", nil)
			require.NoError(t, err)
			worker, err := sys.Spawn("worker", nil)
			require.NoError(t, err)
			result := make(chan error, 1)
			require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
				if err := ctx.Send(worker, "hello"); err != nil {
					result <- err
					return
				}
				result <- tc.wait(ctx, worker)
			})))
			requireResult(t, result, "the handler waits for the process it woke")
		})
	}
}

// A handler that waits for the process it woke in a way the runtime does
// not see (a Go channel) is let go by the timer: the woken process starts
// within two ticks.
func TestAHeldWakeIsBounded(t *testing.T) {
	sys := newWakeSys(t, 50*time.Microsecond)
	require.NoError(t, sys.Load(actor.Define("closer", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			close(msg.(chan struct{}))
			return s, nil
		},
	})))
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	closer, err := sys.Spawn("closer", nil)
	require.NoError(t, err)
	result := make(chan error, 1)
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		closed := make(chan struct{})
		if err := ctx.Send(closer, closed); err != nil {
			result <- err
			return
		}
		<-closed
		result <- nil
	})))
	requireResult(t, result, "the woken process waits for a handler that waits for it")
}

// requireResult waits for a handler's result: nil, and soon.
func requireResult(t *testing.T, result <-chan error, stuck string) {
	t.Helper()
	select {
	case err := <-result:
		require.NoError(t, err)
	case <-time.After(actortest.DefaultWait):
		require.Fail(t, stuck)
	}
}

// A sender whose handler crashes after the send starts what it woke as
// it exits.
func TestACrashingSenderStartsWhatItWoke(t *testing.T) {
	sys := newWakeSys(t, noTick)
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	probe, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	w := sys.Watch(sender)
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		_ = ctx.Send(probe, "before the crash")
		panic("crash")
	})))
	<-w.Done()
	v, err := call(t, sys, probe, getSeen{})
	require.NoError(t, err)
	assert.Equal(t, []any{"before the crash"}, v)
}

// A process held for an abandoned sender stuck in its handler, and
// abandoned itself, is started when the system has stopped: its goroutine
// comes back, finds it abandoned and is counted out.
func TestAStoppedSystemStartsWhatIsStillHeld(t *testing.T) {
	sys := newWakeSys(t, noTick)
	sender, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	worker, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	gate, sent := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(gate) }) // the stuck handler returns last
	require.NoError(t, sys.Send(sender, runIn(func(ctx *actor.Context) {
		_ = ctx.Send(worker, "x")
		close(sent)
		<-gate
	})))
	<-sent
	require.NoError(t, sys.Abandon(sender))
	require.NoError(t, sys.Abandon(worker))
	assert.Equal(t, 2, sys.Abandoned(), "both goroutines are still to come back")
	assert.Equal(t, 1, actor.HeldWakes(sys.System))
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	require.NoError(t, sys.Shutdown(ctx))
	assert.Zero(t, actor.HeldWakes(sys.System))
	require.Eventually(t, func() bool { return sys.Abandoned() == 1 }, actortest.DefaultWait, time.Millisecond,
		"the worker's goroutine came back")
}

// Held wakes change when a process runs, never what it is sent or the
// order: processes pass tokens on at random, and some handlers wait after
// their send (for a Call, or a Go channel, to a process they have just
// sent to) or yield for a while. Every token must be handled once per
// hop, each sender's messages in the order it sent them, with the timer
// or without it.
func TestHeldWakesModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			tick := noTick
			if seed%2 == 0 {
				tick = 20 * time.Microsecond
			}
			runWakeModel(t, rng, tick)
		})
	}
}

// hop is a token in the model: Left hops to go, Seq its number among the
// messages from From to its receiver.
type hop struct {
	Token, Left, Seq int
	From             actor.PID
	Then             string // what the receiver does after passing it on
}

type hopLog struct {
	mu      sync.Mutex
	handled map[int]int          // token → hops handled
	last    map[[2]actor.PID]int // (from, to) → last Seq
	bad     []string
	done    chan int // tokens that finished
}

func runWakeModel(t *testing.T, rng *rand.Rand, tick time.Duration) {
	sys := newWakeSys(t, tick)
	const procs, echoes, tokens = 12, 3, 40
	log := &hopLog{handled: map[int]int{}, last: map[[2]actor.PID]int{}, done: make(chan int, tokens)}
	var hoppers, echoPIDs []actor.PID
	var mu sync.Mutex // guards seqs, shared by the handlers
	seqs := map[[2]actor.PID]int{}
	thens := []string{"", "", "", "call", "yield"}
	if tick != noTick {
		thens = append(thens, "chan") // only the timer lets a Go channel's wait go
	}
	seed := rng.Uint64()
	// A token's route is a function of the seed: the same whatever the
	// order the handlers run in.
	next := func(from actor.PID, token, left int) (to, echo actor.PID, seq int, then string) {
		r := rand.New(rand.NewPCG(seed, uint64(token)<<8|uint64(left)))
		to, echo, then = hoppers[r.IntN(len(hoppers))], echoPIDs[r.IntN(len(echoPIDs))], thens[r.IntN(len(thens))]
		mu.Lock()
		defer mu.Unlock()
		seqs[[2]actor.PID{from, to}]++
		return to, echo, seqs[[2]actor.PID{from, to}], then
	}
	// An echo answers a call and closes a channel; it never waits.
	require.NoError(t, sys.Load(actor.Define("echo", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			switch m := msg.(type) {
			case chan struct{}:
				close(m)
			default:
				ctx.Reply(m)
			}
			return s, nil
		},
	})))
	require.NoError(t, sys.Load(actor.Define("hopper", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			m := msg.(hop)
			log.record(m, ctx.Self())
			if m.Left == 0 {
				log.done <- m.Token
				return s, nil
			}
			to, echo, seq, then := next(ctx.Self(), m.Token, m.Left-1)
			if err := ctx.Send(to, hop{Token: m.Token, Left: m.Left - 1, Seq: seq, From: ctx.Self(), Then: then}); err != nil {
				return s, err
			}
			switch m.Then {
			case "call": // the echo is held, then waited for
				if err := ctx.Send(echo, "wake"); err != nil {
					return s, err
				}
				if _, err := ctx.Call(context.Background(), echo, "ping"); err != nil {
					return s, err
				}
			case "chan":
				c := make(chan struct{})
				if err := ctx.Send(echo, c); err != nil {
					return s, err
				}
				<-c
			case "yield":
				for range 10 {
					runtime.Gosched()
				}
			}
			return s, nil
		},
	})))
	for range procs {
		pid, err := sys.Spawn("hopper", nil)
		require.NoError(t, err)
		hoppers = append(hoppers, pid)
	}
	for range echoes {
		pid, err := sys.Spawn("echo", nil)
		require.NoError(t, err)
		echoPIDs = append(echoPIDs, pid)
	}
	var total int
	for tok := range tokens {
		left := rng.IntN(30)
		total += left + 1
		to, _, seq, then := next(actor.PID{}, tok, left)
		require.NoError(t, sys.Send(to, hop{Token: tok, Left: left, Seq: seq, Then: then}))
	}
	for range tokens {
		select {
		case <-log.done:
		case <-time.After(actortest.DefaultWait):
			log.mu.Lock()
			defer log.mu.Unlock()
			require.Fail(t, "tokens stuck", "handled %v", log.handled)
		}
	}
	// Every handler has returned before the system stops: a hopper still
	// waiting for an echo to close its channel would wait for ever once
	// the echo took its stop request (the system lane comes first).
	require.Eventually(t, func() bool {
		for _, pid := range append(hoppers, echoPIDs...) {
			if !actor.Idle(sys.System, pid) {
				return false
			}
		}
		return actor.HeldWakes(sys.System) == 0
	}, actortest.DefaultWait, time.Millisecond)
	log.mu.Lock()
	defer log.mu.Unlock()
	assert.Empty(t, log.bad)
	sum := 0
	for _, n := range log.handled {
		sum += n
	}
	assert.Equal(t, total, sum, "every hop handled once")
	assert.Len(t, log.handled, tokens)
}

func (l *hopLog) record(m hop, self actor.PID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handled[m.Token]++
	key := [2]actor.PID{m.From, self}
	if m.Seq != l.last[key]+1 {
		l.bad = append(l.bad, fmt.Sprintf("%v → %v: seq %d after %d", m.From, self, m.Seq, l.last[key]))
	}
	l.last[key] = m.Seq
}
