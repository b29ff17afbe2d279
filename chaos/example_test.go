package chaos_test

import (
	"context"
	"fmt"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/supervisor"
)

// A user's service under chaos: modules "orders" and "stock" count what
// they are sent. Their handlers let fault messages act (fault.Act), and
// their migrations let the injected migration faults act
// (fault.ActCodeChange, fault.ActDowngrade); the rest is the service's own
// code.
func countingVersion(module, name, follows string) *actor.Version {
	return actor.Define(module, name, actor.Funcs[int]{
		Follows: follows,
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			if m, ok := msg.(fault.Msg); ok {
				fault.Act(m)
			}
			return n + 1, nil
		},
		CodeChange: func(_ string, old, extra any) (int, error) {
			n, _ := old.(int)
			return n, fault.ActCodeChange(extra)
		},
		Downgrade: func(_ string, n int, extra any) (any, error) { return n, fault.ActDowngrade(extra) },
	})
}

func ExampleRun() {
	sys := actor.NewSystem()
	orders := []*actor.Version{countingVersion("orders", "v1", ""), countingVersion("orders", "v2", "v1")}
	stock := []*actor.Version{countingVersion("stock", "v1", ""), countingVersion("stock", "v2", "v1")}
	_ = sys.Load(orders[0])
	_ = sys.Load(stock[0])
	var specs []supervisor.ChildSpec
	for i := range 8 {
		specs = append(specs, supervisor.ChildSpec{ID: fmt.Sprint("orders-", i), Start: supervisor.StartSpec{Module: "orders"}, Handoff: true})
	}
	for i := range 4 {
		specs = append(specs, supervisor.ChildSpec{ID: fmt.Sprint("stock-", i), Start: supervisor.StartSpec{Module: "stock"}, Handoff: true})
	}
	root, _ := supervisor.Start(sys, supervisor.Flags{Intensity: 1000, Period: 1e9}, specs)

	// Plans move one module or both at once; a fifth of the workers get
	// no load for a while (Idle's default), so lazy upgrades leave
	// stragglers for later plans.
	res, err := chaos.Run(context.Background(), sys, root, chaos.Config{
		Seed: 42, Faults: 200, Module: "orders", Versions: orders,
		Modules: []chaos.Module{{Name: "stock", Versions: stock}},
		Rate:    4000, UpgradeTimeout: 100e6, Shutdown: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("faults:", res.TotalFaults(), "lost:", res.Lost, "duplicated:", res.Duplicated)
	fmt.Println("invariants hold:", res.OK())
	// Output:
	// faults: 200 lost: 0 duplicated: 0
	// invariants hold: true
}
