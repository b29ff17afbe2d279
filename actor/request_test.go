package actor_test

import (
	"context"
	"errors"
	"testing"

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
