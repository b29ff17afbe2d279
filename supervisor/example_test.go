package supervisor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
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

// An upgrade of a tree: counter v2 follows v1 and keeps its count in a
// struct; the atomic plan suspends every counter, migrates each state
// along the lineage, commits, and resumes them on v2. The report says
// where each process ended.
func ExampleHandle_Upgrade() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	ctx := context.Background()
	type total struct{ N, Upgrades int }
	v1 := actor.Define("counter", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, _ any) (int, error) {
			ctx.Reply(n + 1)
			return n + 1, nil
		},
	})
	v2 := actor.Define("counter", "v2", actor.Funcs[total]{
		Follows: "v1", // its lineage: v1 → v2 runs its CodeChange, v2 → v1 its Downgrade
		Handle: func(ctx *actor.Context, t total, _ any) (total, error) {
			t.N++
			ctx.Reply(t)
			return t, nil
		},
		CodeChange: actor.Migrate(func(n int, _ any) (total, error) { return total{N: n, Upgrades: 1}, nil }),
		Downgrade:  func(_ string, t total, _ any) (any, error) { return t.N, nil },
	})
	_ = sys.Load(v1)
	top, _ := supervisor.Start(sys, supervisor.Flags{}, []supervisor.ChildSpec{
		{ID: "a", Start: supervisor.StartSpec{Module: "counter"}},
		{ID: "b", Start: supervisor.StartSpec{Module: "counter"}},
	})
	children, _ := top.WhichChildren(ctx)
	_, _ = sys.Call(ctx, children[0].PID, "inc")

	rep, err := top.Upgrade(ctx, upgrade.Plan{
		Mode:    upgrade.Atomic,
		Changes: []upgrade.Change{{Module: "counter", To: v2}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Outcome)
	for _, p := range rep.Processes {
		fmt.Println(p.From, "->", p.To, p.Result)
	}
	r, _ := sys.Call(ctx, children[0].PID, "inc")
	fmt.Printf("%+v\n", r)
	// Output:
	// committed
	// v1 -> v2 migrated
	// v1 -> v2 migrated
	// {N:2 Upgrades:1}
}

// One process per bank account under a simple_one_for_one supervisor,
// each registered under its own name: the name is part of the instance's
// spec (SpawnOptions), so its restarts take it again and Init does not
// have to register it.
func ExampleHandle_StartSimpleChild() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	ctx := context.Background()
	_ = sys.Load(actor.Define("account", "v1", actor.Funcs[string]{
		Init: func(ctx *actor.Context, args any) (string, error) {
			owner := args.(string)
			ctx.SetStartInfo("opened for " + owner)
			return owner, nil
		},
		Handle: func(ctx *actor.Context, owner string, msg any) (string, error) {
			ctx.Reply(owner)
			return owner, nil
		},
	}))
	bank, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.SimpleOneForOne},
		[]supervisor.ChildSpec{{ID: "account", Start: supervisor.StartSpec{Module: "account"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var info any
	_, err = bank.StartSimpleChild(ctx, "ada", supervisor.SpawnOptions(actor.WithName("account-42")), supervisor.StartInfo(&info))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info)
	owner, _ := sys.CallNamed(ctx, "account-42", "owner?")
	fmt.Println("account-42:", owner)
	// Output:
	// opened for ada
	// account-42: ada
}
