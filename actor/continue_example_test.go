package actor_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/graftrt/graft/actor"
)

// A long job written as a loop of short steps (OTP's handle_continue):
// each step asks for the next with Context.Continue, and each step is
// handled by the module's current version, so a new version loaded while
// the job runs takes over between two steps, with the job's state
// migrated. One long handler would have run the old code to its end.
func ExampleContext_Continue() {
	type job struct {
		Next, Last int
		Log        []string // which version ran each step
	}
	type report struct{}
	pause := make(chan struct{}) // step 3 waits here while v2 is loaded
	paused := make(chan struct{})

	step := func(ctx *actor.Context, j job, msg any) (job, error) {
		switch m := msg.(type) {
		case actor.Continued: // one step of the job
			n := m.Step.(int)
			j.Log = append(j.Log, fmt.Sprintf("%d:%s", n, ctx.Version()))
			if n == 3 && ctx.Version() == "v1" {
				close(paused)
				<-pause
			}
			if n < j.Last {
				ctx.Continue(n + 1)
			}
		case report:
			ctx.Reply(strings.Join(j.Log, " "))
		}
		return j, nil
	}
	v1 := actor.Define("job", "v1", actor.Funcs[job]{
		Init: func(ctx *actor.Context, args any) (job, error) {
			ctx.Continue(1) // the first step runs before any message
			return job{Last: args.(int)}, nil
		},
		Handle: step,
	})
	v2 := actor.Define("job", "v2", actor.Funcs[job]{Follows: "v1", Handle: step})

	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	_ = sys.Load(v1)
	pid, _ := sys.Spawn("job", 6)
	<-paused
	_ = sys.Load(v2) // while step 3 runs on v1
	close(pause)
	r, _ := sys.Call(context.Background(), pid, report{})
	fmt.Println(r)
	// Output:
	// 1:v1 2:v1 3:v1 4:v2 5:v2 6:v2
}
