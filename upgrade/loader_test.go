package upgrade_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

func TestNativeLoader(t *testing.T) {
	sys := actortest.NewSystem(t)
	n := chain("n", 2)
	v1, v2 := n[0], n[1]
	require.NoError(t, sys.Load(v1))
	native := upgrade.NewNative(v1, v2)

	got, err := native.Load(context.Background(), sys.System, upgrade.Ref{Module: "n", Version: "v2"})
	require.NoError(t, err)
	assert.Same(t, v2, got)
	cur, _ := sys.Current("n")
	assert.Same(t, v1, cur, "loading stages; the plan makes it current")

	_, err = native.Load(context.Background(), sys.System, upgrade.Ref{Module: "n", Version: "v9"})
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion)
	_, err = native.Load(context.Background(), sys.System, upgrade.Ref{Module: "n"})
	assert.ErrorIs(t, err, upgrade.ErrInvalidRef)
	var empty upgrade.Native
	_, err = empty.Load(context.Background(), sys.System, upgrade.Ref{Module: "n", Version: "v1"})
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion, "the zero Native is an empty catalogue")

	// Another Version object under a name already loaded is a conflict.
	_, err = upgrade.NewNative(ver("n", "v2", vs{follows: "v1"})).Load(context.Background(), sys.System, upgrade.Ref{Module: "n", Version: "v2"})
	assert.ErrorIs(t, err, actor.ErrVersionConflict)
}

// Loaders that run versions out of process register how to list those
// processes; LoaderProcesses merges every list of one system, and another
// system sees none of them.
func TestLoaderProcesses(t *testing.T) {
	sys, other := actortest.NewSystem(t), actortest.NewSystem(t)
	assert.Empty(t, upgrade.LoaderProcesses(sys.System), "nothing registered")

	upgrade.RegisterLoaderProcesses(sys.System, func() []upgrade.LoaderProcess {
		return []upgrade.LoaderProcess{{Module: "b", Version: "v1", OSPID: 30}, {Module: "a", Version: "v2"}}
	})
	upgrade.RegisterLoaderProcesses(sys.System, func() []upgrade.LoaderProcess {
		return []upgrade.LoaderProcess{{Module: "a", Version: "v1", OSPID: 20}, {Module: "b", Version: "v1", OSPID: 10}}
	})
	assert.Equal(t, []upgrade.LoaderProcess{
		{Module: "a", Version: "v1", OSPID: 20},
		{Module: "a", Version: "v2"}, // registered, not running now
		{Module: "b", Version: "v1", OSPID: 10},
		{Module: "b", Version: "v1", OSPID: 30},
	}, upgrade.LoaderProcesses(sys.System), "both lists, by module, version and OS PID")
	assert.Empty(t, upgrade.LoaderProcesses(other.System), "per system")
}

// A loader resolves a reference to a version, wherever its code lives;
// the version then goes into a plan like any other.
func ExampleNative() {
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	greet := func(v, follows string) *actor.Version {
		return actor.Define("greeter", v, actor.Funcs[struct{}]{
			Follows: follows,
			Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
				ctx.Reply(fmt.Sprintf("%s says hello to %v", ctx.Version(), msg))
				return s, nil
			},
		})
	}
	v1 := greet("v1", "")
	_ = sys.Load(v1)
	pid, _ := sys.Spawn("greeter", nil)

	var loader upgrade.Loader = upgrade.NewNative(v1, greet("v2", "v1"))
	v2, err := loader.Load(context.Background(), sys, upgrade.Ref{Module: "greeter", Version: "v2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan := upgrade.Plan{Changes: []upgrade.Change{{Module: "greeter", To: v2}}}
	rep, _ := upgrade.Execute(context.Background(), sys, plan, upgrade.Processes(sys, pid))
	fmt.Println(rep.Outcome)
	reply, _ := sys.Call(context.Background(), pid, "Ada")
	fmt.Println(reply)
	// Output:
	// committed
	// v2 says hello to Ada
}
