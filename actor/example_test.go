package actor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/graftrt/graft/actor"
)

// A counter whose state changes shape between versions: v1 counts in an
// int, v2 keeps a struct. Loading v2 while the process runs migrates its
// state on the next message.
func Example() {
	type incr struct{}
	type get struct{}

	v1 := actor.Define("counter", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			switch msg.(type) {
			case incr:
				n++
			case get:
				ctx.Reply(fmt.Sprintf("%s: %d", ctx.Version(), n))
			}
			return n, nil
		},
	})
	type total struct{ Count, Upgrades int }
	v2 := actor.Define("counter", "v2", actor.Funcs[total]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, t total, msg any) (total, error) {
			switch msg.(type) {
			case incr:
				t.Count++
			case get:
				ctx.Reply(fmt.Sprintf("%s: %d (upgraded %d time)", ctx.Version(), t.Count, t.Upgrades))
			}
			return t, nil
		},
		CodeChange: actor.Migrate(func(n int, _ any) (total, error) {
			return total{Count: n, Upgrades: 1}, nil
		}),
	})

	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	_ = sys.Load(v1)
	pid, _ := sys.Spawn("counter", nil)
	_ = sys.Send(pid, incr{})
	_ = sys.Send(pid, incr{})
	r, _ := sys.Call(context.Background(), pid, get{})
	fmt.Println(r)

	_ = sys.Load(v2) // hot upgrade: the next message migrates the state
	_ = sys.Send(pid, incr{})
	r, _ = sys.Call(context.Background(), pid, get{})
	fmt.Println(r)
	// Output:
	// v1: 2
	// v2: 3 (upgraded 1 time)
}

// A panic in a handler is an exit reason, delivered to monitors; the host
// keeps running.
func ExampleSystem_Spawn_panic() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	downs := make(chan actor.Down, 1)
	_ = sys.Load(actor.Define("fragile", "v1", actor.Funcs[struct{}]{
		Handle: func(_ *actor.Context, s struct{}, msg any) (struct{}, error) {
			panic(fmt.Sprint("cannot handle ", msg))
		},
	}))
	_ = sys.Load(actor.Define("watcher", "v1", actor.Funcs[struct{}]{
		Init: func(ctx *actor.Context, args any) (struct{}, error) {
			ctx.Monitor(args.(actor.PID))
			return struct{}{}, nil
		},
		Handle: func(_ *actor.Context, s struct{}, msg any) (struct{}, error) {
			if d, ok := msg.(actor.Down); ok {
				downs <- d
			}
			return s, nil
		},
	}))
	fragile, _ := sys.Spawn("fragile", nil)
	_, _ = sys.Spawn("watcher", fragile)
	_ = sys.Send(fragile, "this")
	d := <-downs
	var pe *actor.PanicError
	fmt.Println(errors.As(d.Reason, &pe), pe.Value)
	// Output:
	// true cannot handle this
}

// Exit signals through a link: a process trapping exits receives an
// ExitMsg instead of dying.
func ExampleContext_TrapExit() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	got := make(chan actor.ExitMsg, 1)
	_ = sys.Load(actor.Define("worker", "v1", actor.Funcs[struct{}]{
		Handle: func(_ *actor.Context, s struct{}, msg any) (struct{}, error) {
			return s, errors.New("disk full") // a handler error stops the process
		},
	}))
	_ = sys.Load(actor.Define("boss", "v1", actor.Funcs[struct{}]{
		Init: func(ctx *actor.Context, _ any) (struct{}, error) {
			ctx.TrapExit(true)
			w, err := ctx.SpawnLink("worker", nil)
			if err == nil {
				err = ctx.Send(w, "work")
			}
			return struct{}{}, err
		},
		Handle: func(_ *actor.Context, s struct{}, msg any) (struct{}, error) {
			if e, ok := msg.(actor.ExitMsg); ok {
				got <- e
			}
			return s, nil
		},
	}))
	_, _ = sys.Spawn("boss", nil)
	fmt.Println((<-got).Reason)
	// Output:
	// disk full
}

// A request answered through a function: nothing waits for it. The
// answers come on the goroutines that give them (here the doubler's), in
// the order it handles the requests.
func ExampleSystem_SendRequest() {
	double := actor.Define("double", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			ctx.Reply(2 * msg.(int))
			return s, nil
		},
	})
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	_ = sys.Load(double)
	pid, _ := sys.Spawn("double", nil, actor.WithName("double"))

	answers := make(chan string, 3)
	// Refused at once: answered on this goroutine, before SendRequestNamed
	// returns.
	sys.SendRequestNamed("nobody", 3, func(v any, err error) {
		answers <- fmt.Sprint(errors.Is(err, actor.ErrUnknownName))
	})
	for i := 1; i <= 2; i++ {
		sys.SendRequest(pid, i, func(v any, err error) { answers <- fmt.Sprint(v, err) })
	}
	for range 3 {
		fmt.Println(<-answers)
	}
	// Output:
	// true
	// 2 <nil>
	// 4 <nil>
}
