package chaos_test

import (
	"context"
	"fmt"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/supervisor"
)

// A user's service under chaos: module "orders" counts what it is sent.
// Its handler lets fault messages act (fault.Act), and its migration lets
// the injected migration faults act (fault.ActMigration); the rest is the
// service's own code.
func ordersVersion(name, follows string) *actor.Version {
	return actor.Define("orders", name, actor.Funcs[int]{
		Follows: follows,
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			if m, ok := msg.(fault.Msg); ok {
				fault.Act(m)
			}
			return n + 1, nil
		},
		CodeChange: func(_ string, old, extra any) (int, error) {
			n, _ := old.(int)
			return n, fault.ActMigration(extra)
		},
		Downgrade: func(_ string, n int, extra any) (any, error) { return n, fault.ActMigration(extra) },
	})
}

func ExampleRun() {
	sys := actor.NewSystem()
	v1, v2 := ordersVersion("v1", ""), ordersVersion("v2", "v1")
	_ = sys.Load(v1)
	specs := make([]supervisor.ChildSpec, 8)
	for i := range specs {
		specs[i] = supervisor.ChildSpec{ID: fmt.Sprint("orders-", i), Start: supervisor.StartSpec{Module: "orders"}, Handoff: true}
	}
	root, _ := supervisor.Start(sys, supervisor.Flags{Intensity: 1000, Period: 1e9}, specs)

	res, err := chaos.Run(context.Background(), sys, root, chaos.Config{
		Seed: 42, Faults: 200, Module: "orders", Versions: []*actor.Version{v1, v2},
		Rate: 4000, Shutdown: true,
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
