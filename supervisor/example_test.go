package supervisor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// A supervision tree: a one_for_one supervisor over a database worker and a
// nested rest_for_one supervisor with two workers. A crash of "handler" is
// repaired by restarting it (and, under rest_for_one, the children started
// after it: none); the rest of the tree is untouched.
func Example() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	restarted := make(chan string, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart {
			restarted <- s.ID
		}
	})()
	_ = sys.Load(actor.Define("svc", "v1", actor.Funcs[struct{}]{
		Handle: func(_ *actor.Context, s struct{}, msg any) (struct{}, error) {
			return s, errors.New(fmt.Sprint(msg)) // any message crashes it
		},
	}))
	worker := func(id string) supervisor.ChildSpec {
		return supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{Module: "svc"}}
	}

	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne}, []supervisor.ChildSpec{
		worker("db"),
		supervisor.Spec("web", supervisor.Flags{Strategy: supervisor.RestForOne},
			[]supervisor.ChildSpec{worker("cache"), worker("handler")}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	children, _ := top.WhichChildren(context.Background())
	for _, c := range children {
		fmt.Println(c.ID, c.Type, c.Module, c.Version)
	}
	web := supervisor.Of(sys, children[1].PID)
	inner, _ := web.WhichChildren(context.Background())
	_ = sys.Send(inner[1].PID, "oops") // crash "handler"
	fmt.Println("restarted:", <-restarted)
	// Output:
	// db worker svc v1
	// web supervisor graft.supervisor v1
	// restarted: handler
}
