package actor_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// batcher is a version that handles messages in batches, as a plugin
// version does: "fail" stops it with errFail, "explode" makes the whole
// call panic, a block parks the batch, a call is answered with the number
// of messages seen so far unless it is "silent".
type batcher struct {
	max   int
	mu    sync.Mutex
	sizes []int
}

var errFail = errors.New("fail")

type batchState struct{ Seen []any }

func (b *batcher) Init(*actor.Context, any) (any, error) { return &batchState{}, nil }
func (b *batcher) Handle(ctx *actor.Context, state, msg any) (any, error) {
	panic("a batch handler is called through HandleBatch")
}
func (b *batcher) MaxBatch() int { return b.max }
func (b *batcher) HandleBatch(ctx *actor.Context, state any, batch *actor.Batch) (any, int, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, batch.Len())
	b.mu.Unlock()
	s := state.(*batchState)
	for i := range batch.Len() {
		switch m := batch.Message(i).(type) {
		case block:
			close(m.Entered)
			<-m.Gate
		case string:
			switch m {
			case "fail":
				return s, i + 1, errFail
			case "explode":
				panic("batch exploded")
			case "silent":
				continue
			}
			s.Seen = append(s.Seen, m)
			if batch.IsCall(i) {
				batch.Reply(i, len(s.Seen))
			}
		}
	}
	return s, batch.Len(), nil
}

func (b *batcher) batchSizes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...)
}

func spawnBatcher(t *testing.T, max int) (*actortest.System, *batcher, actor.PID) {
	t.Helper()
	sys := actortest.NewSystem(t)
	b := &batcher{max: max}
	require.NoError(t, sys.Load(actor.NewVersion("batcher", "v1", b)))
	pid, err := sys.Spawn("batcher", nil)
	require.NoError(t, err)
	return sys, b, pid
}

func holdBatcher(t *testing.T, sys *actortest.System, pid actor.PID) (release func()) {
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(pid, block{Gate: gate, Entered: entered}))
	<-entered
	return func() { close(gate) }
}

func TestBatchGathersQueuedMessagesUpToTheBound(t *testing.T) {
	sys, b, pid := spawnBatcher(t, 4)
	release := holdBatcher(t, sys, pid)
	for _, m := range []string{"a", "b", "c", "d", "e", "f"} {
		require.NoError(t, sys.Send(pid, m))
	}
	type result struct {
		n   any
		err error
	}
	got := make(chan result, 1)
	go func() { n, err := call(t, sys, pid, "g"); got <- result{n, err} }()
	waitPushed(t, sys, pid, 8) // the block, six casts and the call
	release()
	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, 7, r.n)
	assert.Equal(t, []int{1, 4, 3}, b.batchSizes(), "the block alone, then batches of at most 4; the call rides in the last")
}

func TestBatchErrorReportsTheRestUndeliverable(t *testing.T) {
	sys, _, pid := spawnBatcher(t, 64)
	letters := deadLetters(sys)
	w := sys.Watch(pid)
	release := holdBatcher(t, sys, pid)
	require.NoError(t, sys.Send(pid, "a"))
	require.NoError(t, sys.Send(pid, "fail"))
	require.NoError(t, sys.Send(pid, "lost-1"))
	replies := make(chan error, 1)
	go func() { _, err := call(t, sys, pid, "lost-call"); replies <- err }()
	require.Eventually(t, func() bool { return actor.Pushed(sys.System, pid) == 5 },
		actortest.DefaultWait, time.Millisecond, "the block, a, fail, lost-1 and the call are queued")
	release()
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), errFail)
	assert.True(t, isExit(<-replies, errFail), "the caller behind the failure gets the exit reason at once")
	got := letters()
	require.Len(t, got, 1)
	assert.Equal(t, "lost-1", got[0].Message)
	assert.ErrorIs(t, got[0].Reason, errFail)
}

func TestBatchPanicConsumesNothing(t *testing.T) {
	sys, _, pid := spawnBatcher(t, 64)
	letters := deadLetters(sys)
	w := sys.Watch(pid)
	release := holdBatcher(t, sys, pid)
	require.NoError(t, sys.Send(pid, "a"))
	require.NoError(t, sys.Send(pid, "explode"))
	release()
	<-w.Done()
	var pe *actor.PanicError
	require.ErrorAs(t, w.Reason(), &pe)
	got := letters()
	require.Len(t, got, 2, "a panic leaves the batch unhandled: both are reported")
	assert.Equal(t, "a", got[0].Message)
	assert.Equal(t, "explode", got[1].Message)
}

func TestBatchUnansweredCallGetsNoReply(t *testing.T) {
	sys, _, pid := spawnBatcher(t, 64)
	_, err := call(t, sys, pid, "silent")
	assert.ErrorIs(t, err, actor.ErrNoReply)
	n, err := call(t, sys, pid, "x")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// jsonState is an Encoded state, as a plugin version holds one.
type jsonState []byte

func (j jsonState) Decode(into any) error { return json.Unmarshal(j, into) }

type encoded struct{}

func (encoded) Init(*actor.Context, any) (any, error)          { return jsonState(`{"N": 41}`), nil }
func (encoded) Handle(_ *actor.Context, s, _ any) (any, error) { return s, nil }

func TestTypedVersionDecodesAnEncodedState(t *testing.T) {
	type counter struct{ N int }
	sys := actortest.NewSystem(t)
	enc := actor.NewVersion("c", "v1", encoded{})
	require.NoError(t, sys.Load(enc))
	pid, err := sys.Spawn("c", nil)
	require.NoError(t, err)
	typed := actor.Define("c", "v2", actor.Funcs[counter]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, s counter, msg any) (counter, error) {
			s.N++
			ctx.Reply(s.N)
			return s, nil
		},
	})
	require.NoError(t, sys.Load(typed))
	n, err := call(t, sys, pid, "inc")
	require.NoError(t, err)
	assert.Equal(t, 42, n, "the encoded state was decoded into counter")
}

// A caller answered early in a batch may reuse its call envelope for its
// next call while the batch still runs; finishing the batch must not touch
// that next call.
func TestBatchDoesNotTouchAnAnsweredCallAgain(t *testing.T) {
	sys, _, pid := spawnBatcher(t, 64)
	release := holdBatcher(t, sys, pid)
	second := make(chan error, 1)
	go func() {
		if n, err := call(t, sys, pid, "a"); err != nil || n != 1 {
			second <- fmt.Errorf("first call: %v, %v", n, err)
			return
		}
		n, err := call(t, sys, pid, "b")
		if err == nil && n != 2 {
			err = fmt.Errorf("second call answered %v", n)
		}
		second <- err
	}()
	waitPushed(t, sys, pid, 2)
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(pid, block{Gate: gate, Entered: entered}))
	release()
	<-entered // the batch [a, block] answered a and is parked
	waitPushed(t, sys, pid, 4)
	close(gate)
	assert.NoError(t, <-second)
}

func waitPushed(t *testing.T, sys *actortest.System, pid actor.PID, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return actor.Pushed(sys.System, pid) >= n },
		actortest.DefaultWait, time.Millisecond)
}

func TestOnHandledSeesEveryConsumedMessage(t *testing.T) {
	sys := newSys(t)
	var mu sync.Mutex
	var seen []any
	cancel, err := sys.OnHandled(func(_ actor.PID, msg any) {
		mu.Lock()
		seen = append(seen, msg)
		mu.Unlock()
	})
	require.NoError(t, err)
	_, err = sys.OnHandled(func(actor.PID, any) {})
	assert.ErrorIs(t, err, actor.ErrObserved)

	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(pid, "a"))
	_, err = call(t, sys, pid, echo{V: 1})
	require.NoError(t, err)
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, boom{V: "x"}))
	<-w.Done()
	mu.Lock()
	assert.Equal(t, []any{"a", echo{V: 1}, boom{V: "x"}}, seen, "casts, call requests, and a message whose handler panicked")
	mu.Unlock()

	// Batches report the messages they consumed, not the rest.
	bsys, _, bpid := spawnBatcher(t, 64)
	var bseen []any
	_, err = bsys.OnHandled(func(_ actor.PID, msg any) { bseen = append(bseen, msg) })
	require.NoError(t, err)
	release := holdBatcher(t, bsys, bpid)
	bw := bsys.Watch(bpid)
	for _, m := range []string{"a", "fail", "lost"} {
		require.NoError(t, bsys.Send(bpid, m))
	}
	release()
	<-bw.Done()
	assert.Equal(t, []any{"a", "fail"}, bseen[1:], "after the block: a, and fail, which stopped it")

	cancel()
	_, err = sys.OnHandled(func(actor.PID, any) {})
	assert.NoError(t, err, "free again once cancelled")
}

// A call the batch handler fails on gets the exit reason, as from Handle,
// not ErrNoReply.
func TestBatchFailingCallGetsTheExit(t *testing.T) {
	sys, _, pid := spawnBatcher(t, 64)
	_, err := call(t, sys, pid, "fail")
	assert.True(t, isExit(err, errFail), "%v", err)
}
