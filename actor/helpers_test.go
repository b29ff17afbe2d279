package actor_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// Messages understood by the test module "worker".
type (
	echo    struct{ V any }     // call: replies V
	crash   struct{ Err error } // handler returns Err (a stop)
	boom    struct{ V any }     // handler panics with V
	forward struct {
		To  actor.PID
		Msg any
	}
	trap     struct{} // turn trap_exit on
	linkTo   struct{ PID actor.PID }
	getCount struct{} // call: replies the number of messages handled
	getSeen  struct{} // call: replies the messages not understood, in order
	block    struct {
		Gate    chan struct{}
		Entered chan struct{}
	} // handler waits on Gate
	deferReply     struct{} // call: defer the answer and keep it in state
	answerDeferred struct{ V any }
	tee            struct{ To actor.PID } // forward every message not understood to To
	hasPending     struct{}               // call: replies whether a deferred call waits
)

type workerState struct {
	Count   int
	Pending actor.ReplyTo
	Seen    []any
	Tee     actor.PID
}

// terminated receives the reason of every Terminate of module "worker".
func workerVersion(terminated chan<- error) *actor.Version {
	return actor.Define("worker", "v1", actor.Funcs[*workerState]{
		Init: func(ctx *actor.Context, args any) (*workerState, error) {
			if err, ok := args.(error); ok {
				return nil, err
			}
			if args == "panic" {
				panic("init exploded")
			}
			return &workerState{}, nil
		},
		Handle: func(ctx *actor.Context, s *workerState, msg any) (*workerState, error) {
			s.Count++
			switch m := msg.(type) {
			case echo:
				ctx.Reply(m.V)
			case crash:
				return s, m.Err
			case boom:
				panic(m.V)
			case forward:
				_ = ctx.Send(m.To, m.Msg)
			case trap:
				ctx.TrapExit(true)
			case linkTo:
				if err := ctx.Link(m.PID); err != nil {
					ctx.ReplyError(err)
				}
			case getCount:
				ctx.Reply(s.Count)
			case getSeen:
				ctx.Reply(append([]any(nil), s.Seen...))
			case block:
				close(m.Entered)
				<-m.Gate
			case blockCall:
				close(m.Entered)
				<-m.Gate
				ctx.Reply("done")
			case deferReply:
				s.Pending = ctx.Defer()
			case answerDeferred:
				s.Pending.Reply(m.V)
				s.Pending = actor.ReplyTo{}
			case hasPending:
				ctx.Reply(s.Pending.Valid())
			case tee:
				s.Tee = m.To
			default:
				s.Seen = append(s.Seen, msg)
				if !s.Tee.IsZero() {
					_ = ctx.Send(s.Tee, msg)
				}
			}
			return s, nil
		},
		Terminate: func(ctx *actor.Context, s *workerState, reason error) {
			if terminated != nil {
				terminated <- reason
			}
		},
	})
}

func newSys(t *testing.T, opts ...actortest.Option) *actortest.System {
	t.Helper()
	sys := actortest.NewSystem(t, opts...)
	require.NoError(t, sys.Load(workerVersion(nil)))
	return sys
}

func call(t *testing.T, sys *actortest.System, pid actor.PID, req any) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	return sys.Call(ctx, pid, req)
}

// hold keeps pid busy in a handler until the returned release is called,
// so that what is sent meanwhile stays queued.
func hold(t *testing.T, sys *actortest.System, pid actor.PID) (release func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, sys.Send(pid, block{Gate: gate, Entered: entered}))
	<-entered
	return func() { close(gate) }
}

func isExit(err error, reason error) bool {
	var ee *actor.ExitError
	return errors.As(err, &ee) && errors.Is(ee.Reason, reason)
}

// deadLetters records the system's dead letters from now on; the returned
// function gives those recorded so far.
func deadLetters(sys *actortest.System) func() []actor.DeadLetter {
	var mu sync.Mutex
	var letters []actor.DeadLetter
	cancel := sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			mu.Lock()
			letters = append(letters, d)
			mu.Unlock()
		}
	})
	return func() []actor.DeadLetter {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		return append([]actor.DeadLetter(nil), letters...)
	}
}
