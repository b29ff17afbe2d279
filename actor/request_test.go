package actor_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/mailbox"
)

type answer struct {
	v   any
	err error
}

// request sends req with SendRequest and returns the channel its answer
// arrives on; a second answer would fail the test.
func request(t *testing.T, send func(func(any, error))) <-chan answer {
	t.Helper()
	ch := make(chan answer, 2)
	send(func(v any, err error) { ch <- answer{v, err} })
	return ch
}

func one(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	a := <-ch
	assert.Empty(t, ch, "answered more than once")
	return a
}

// SendRequest answers through the function, with what Call would return,
// in every case Call has.
func TestSendRequestAnswersAsCallDoes(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithName("w"))
	require.NoError(t, err)
	to := func(req any) func(func(any, error)) {
		return func(f func(any, error)) { sys.SendRequest(pid, req, f) }
	}

	a := one(t, request(t, to(echo{V: "hi"})))
	require.NoError(t, a.err)
	assert.Equal(t, "hi", a.v)

	a = one(t, request(t, func(f func(any, error)) { sys.SendRequestNamed("w", echo{V: 2}, f) }))
	require.NoError(t, a.err)
	assert.Equal(t, 2, a.v)

	a = one(t, request(t, func(f func(any, error)) { sys.SendRequestNamed("nobody", echo{V: 2}, f) }))
	assert.ErrorIs(t, a.err, actor.ErrUnknownName)
	a = one(t, request(t, to(nil)))
	assert.ErrorIs(t, a.err, actor.ErrNilMessage)
	a = one(t, request(t, func(f func(any, error)) { sys.SendRequestNamed("w", nil, f) }))
	assert.ErrorIs(t, a.err, actor.ErrNilMessage)

	a = one(t, request(t, to("not answered")))
	assert.ErrorIs(t, a.err, actor.ErrNoReply)

	// The target dies while handling the request.
	a = one(t, request(t, to(boom{V: "in request"})))
	var pe *actor.PanicError
	require.ErrorAs(t, a.err, &pe)
	assert.Equal(t, "in request", pe.Value)
	assert.True(t, isExit(a.err, pe), "got %v", a.err)

	// The target is dead already: answered at once, on this goroutine.
	ch := request(t, to(echo{V: 1}))
	require.Len(t, ch, 1)
	assert.True(t, isExit(one(t, ch).err, actor.NoProc))
}

// A deferred request is answered by its ReplyTo, or with the exit reason
// when its process exits first.
func TestSendRequestDeferred(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	waitPending := func() {
		for {
			ok, err := call(t, sys, pid, hasPending{})
			require.NoError(t, err)
			if ok.(bool) {
				return
			}
		}
	}
	ch := request(t, func(f func(any, error)) { sys.SendRequest(pid, deferReply{}, f) })
	waitPending()
	require.NoError(t, sys.Send(pid, answerDeferred{V: "later"}))
	a := one(t, ch)
	require.NoError(t, a.err)
	assert.Equal(t, "later", a.v)

	ch = request(t, func(f func(any, error)) { sys.SendRequest(pid, deferReply{}, f) })
	waitPending()
	stop := errors.New("giving up")
	require.NoError(t, sys.Send(pid, crash{Err: stop}))
	a = one(t, ch)
	assert.ErrorIs(t, a.err, stop)
	var ee *actor.ExitError
	assert.ErrorAs(t, a.err, &ee)
}

// A bounded mailbox that refuses the request answers ErrMailboxFull at
// once, as it fails a Call.
func TestSendRequestRefusedByAFullMailbox(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithMailbox(1, mailbox.Reject))
	require.NoError(t, err)
	release := hold(t, sys, pid)
	require.NoError(t, sys.Send(pid, 1))
	ch := request(t, func(f func(any, error)) { sys.SendRequest(pid, echo{V: 2}, f) })
	require.Len(t, ch, 1, "answered before SendRequest returned")
	assert.ErrorIs(t, one(t, ch).err, actor.ErrMailboxFull)
	release()
}

// A process may send a request to itself (a Call would fail with
// ErrCallSelf): it handles it after the message at hand.
func TestSendRequestToItself(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(runnerVersion))
	pid, err := sys.Spawn("runner", nil)
	require.NoError(t, err)
	ch := make(chan answer, 1)
	require.NoError(t, sys.Send(pid, runIn(func(ctx *actor.Context) {
		ctx.System().SendRequest(ctx.Self(), runIn(func(ctx *actor.Context) {
			ctx.Reply(ctx.IsCall())
		}), func(v any, err error) { ch <- answer{v, err} })
	})))
	a := <-ch
	require.NoError(t, a.err)
	assert.Equal(t, true, a.v, "handled as a call")
}

// A request to a process of another node goes through the Remote as a
// call and is answered from there.
func TestSendRequestToAnotherNode(t *testing.T) {
	a, b, _, _ := pair(t)
	pid, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	far := remote(pid)
	got := one(t, request(t, func(f func(any, error)) { a.SendRequest(far, echo{V: "there"}, f) }))
	require.NoError(t, got.err)
	assert.Equal(t, "there", got.v)
	probe := actortest.NewProbe(t, b.System)
	probe.Monitor(pid)
	require.NoError(t, b.Kill(pid))
	probe.ExpectDown(pid, actor.Killed)
	got = one(t, request(t, func(f func(any, error)) { a.SendRequest(far, echo{V: "gone"}, f) }))
	assert.True(t, isExit(got.err, actor.NoProc), "got %v", got.err)
}

// An answer function that panics is recovered and logged: the process
// that answered goes on.
func TestSendRequestAnswerPanicIsRecovered(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	sys := newSys(t, actortest.WithSystemOptions(actor.WithLogger(zap.New(core))))
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	sys.SendRequest(pid, echo{V: 1}, func(any, error) { panic("answer") })
	v, err := sys.Call(context.Background(), pid, echo{V: 2})
	require.NoError(t, err, "the process answered the next call")
	assert.Equal(t, 2, v)
	entries := logs.FilterMessage("a request's answer function panicked").All()
	require.Len(t, entries, 1)
}

// The requests of TestSendRequestModel.
type (
	rEcho    struct{ N int } // answered with N
	rDefer   struct{ N int } // deferred; answered with N by rRelease
	rRelease struct{}        // answers every deferred request
	rNoReply struct{}        // not answered: ErrNoReply
	rPanic   struct{}        // the process panics
)

var requestModel = actor.Define("reqmodel", "v1", actor.Funcs[map[int]actor.ReplyTo]{
	Init: func(*actor.Context, any) (map[int]actor.ReplyTo, error) { return map[int]actor.ReplyTo{}, nil },
	Handle: func(ctx *actor.Context, held map[int]actor.ReplyTo, msg any) (map[int]actor.ReplyTo, error) {
		switch m := msg.(type) {
		case rEcho:
			ctx.Reply(m.N)
		case rDefer:
			held[m.N] = ctx.Defer()
		case rRelease:
			for n, r := range held {
				r.Reply(n)
			}
			clear(held)
		case rPanic:
			panic("model")
		}
		return held, nil
	},
})

// Random requests to a few processes, some by name, among releases,
// panics and kills (each killed or crashed process replaced by a new one),
// with the sender now and then waiting for a process to catch up: every
// answer function is called exactly once, with an answer the reference
// model allows. A request its process handles answers with its value (or
// ErrNoReply, or with the value of its release when deferred); a request
// whose process dies before answering it (queued, deferred, or sent after
// the death) answers with an exit error, or ErrUnknownName by name.
func TestSendRequestModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	sys := newSys(t)
	require.NoError(t, sys.Load(requestModel))
	const workers, ops = 4, 600

	type slot struct {
		pid   actor.PID
		gen   int  // the incarnation: requests to an earlier one may meet its exit
		named bool // the first incarnation holds the slot's name
	}
	slots := make([]slot, workers)
	names := make([]string, workers)
	var all []actor.PID
	for i := range slots {
		names[i] = fmt.Sprintf("rm%d", i)
		pid, err := sys.Spawn("reqmodel", nil, actor.WithName(names[i]))
		require.NoError(t, err)
		slots[i] = slot{pid: pid, named: true}
		all = append(all, pid)
	}
	type want struct {
		slot, gen int
		value     any   // the reply when handled (nil: none)
		err       error // the error when handled instead
		mayExit   bool  // its process may die before it is answered
		byName    bool
	}
	type got struct {
		id int
		answer
	}
	answers := make(chan got, 2*ops) // room for an answer too many: it must not block the process
	calls := make([]atomic.Int32, ops)
	var wants []want
	send := func(w int, req any, wt want) {
		id := len(wants)
		wt.slot, wt.gen = w, slots[w].gen
		wt.byName = slots[w].named && rng.IntN(3) == 0
		wants = append(wants, wt)
		f := func(v any, err error) {
			calls[id].Add(1)
			answers <- got{id, answer{v, err}}
		}
		if wt.byName {
			sys.SendRequestNamed(names[w], req, f)
		} else {
			sys.SendRequest(slots[w].pid, req, f)
		}
	}
	died := func(w int) { // the slot's process is gone, or going: a new one takes its place
		for i := range wants {
			if wants[i].slot == w && wants[i].gen == slots[w].gen {
				wants[i].mayExit = true
			}
		}
		pid, err := sys.Spawn("reqmodel", nil)
		require.NoError(t, err)
		slots[w] = slot{pid: pid, gen: slots[w].gen + 1}
		all = append(all, pid)
	}
	for range ops {
		w := rng.IntN(workers)
		switch k := rng.IntN(100); {
		case k < 45:
			send(w, rEcho{len(wants)}, want{value: len(wants)})
		case k < 65:
			send(w, rDefer{len(wants)}, want{value: len(wants)})
		case k < 77:
			send(w, rRelease{}, want{err: actor.ErrNoReply})
		case k < 85:
			send(w, rNoReply{}, want{err: actor.ErrNoReply})
		case k < 87:
			send(w, rPanic{}, want{mayExit: true})
			died(w)
		case k < 89:
			require.NoError(t, sys.Kill(slots[w].pid))
			died(w)
		default: // the process catches up
			_, _ = sys.Call(context.Background(), slots[w].pid, rEcho{-1})
		}
	}
	// The end: every process is killed, and with it what is still
	// queued or deferred there.
	probe := actortest.NewProbe(t, sys.System)
	for _, pid := range all {
		probe.Monitor(pid)
		_ = sys.Kill(pid)
	}
	for i := range wants {
		wants[i].mayExit = true // deferred ones not released, and the last ones queued
	}
	for range all {
		_ = probe.Recv() // each Down
	}

	kinds := map[string]int{}
	for i := range wants {
		var g got
		select {
		case g = <-answers:
		case <-time.After(actortest.DefaultWait):
			t.Fatalf("seed %d: %d of %d requests never answered", seed, len(wants)-i, len(wants))
		}
		wt := wants[g.id]
		switch {
		case g.err == nil && wt.value != nil:
			kinds["value"]++
			assert.Equal(t, wt.value, g.v, "seed %d: request %d", seed, g.id)
		case wt.err != nil && errors.Is(g.err, wt.err):
			kinds["error"]++
		case wt.mayExit && wt.byName && errors.Is(g.err, actor.ErrUnknownName):
			kinds["unknown name"]++
		case wt.mayExit:
			kinds["exit"]++
			var ee *actor.ExitError
			assert.ErrorAs(t, g.err, &ee, "seed %d: request %d answered %v, %v", seed, g.id, g.v, g.err)
		default:
			assert.Fail(t, "an answer the model does not allow", "seed %d: request %d (want %+v) answered %v, %v", seed, g.id, wt, g.v, g.err)
		}
	}
	for id := range wants {
		assert.Equal(t, int32(1), calls[id].Load(), "seed %d: request %d answered once", seed, id)
	}
	assert.Empty(t, answers, "seed %d: answered more than once", seed)
	t.Logf("answers: %v", kinds)
}
