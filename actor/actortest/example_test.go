package actortest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// A test of a module that ticks on a timer: the fake clock moves only when
// the test says so, and the probe records what the module sends.
func Example() {
	t := &testing.T{} // in a real test, the *testing.T of the test function
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
	probe := actortest.NewProbe(t, sys.System)
	_ = sys.Load(actor.Define("ticker", "v1", actor.Funcs[actor.PID]{
		Init: func(ctx *actor.Context, args any) (actor.PID, error) {
			ctx.SendAfter(ctx.Self(), time.Minute, "tick")
			return args.(actor.PID), nil
		},
		Handle: func(ctx *actor.Context, to actor.PID, msg any) (actor.PID, error) {
			return to, ctx.Send(to, msg)
		},
	}))
	_, _ = sys.Spawn("ticker", probe.PID())

	fmt.Println("before:", len(probe.Received()))
	sys.Clock.Advance(time.Minute)
	fmt.Println("after a minute:", probe.Recv())
	// Output:
	// before: 0
	// after a minute: tick
}
