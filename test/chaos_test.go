package test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/mailbox"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// The chaos suite: Graft's guarantees shown by the public toolkit
// (package chaos) against a service built like a user's. make test runs
// the CI-sized run; make chaos runs it for -chaos.duration with
// -chaos.faults=0.
var (
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of the fault schedule (0: from the time)")
	chaosFaults   = flag.Int("chaos.faults", 10_000, "faults to inject (0: until -chaos.duration)")
	chaosDuration = flag.Duration("chaos.duration", 0, "how long to run (0: until -chaos.faults)")
)

// chaosState is the state of every version of module "chaosmod".
type chaosState struct{ N int }

// chaosVersion is a compiled-in version of "chaosmod": it counts messages
// and does what fault messages and migration extras ask.
func chaosVersion(name, follows string) *actor.Version {
	return actor.Define("chaosmod", name, actor.Funcs[chaosState]{
		Follows: follows,
		Handle: func(ctx *actor.Context, s chaosState, msg any) (chaosState, error) {
			if m, ok := msg.(fault.Msg); ok {
				fault.Act(m)
			}
			s.N++
			ctx.Reply(s.N)
			return s, nil
		},
		CodeChange: func(from string, old, extra any) (chaosState, error) {
			if err := fault.ActCodeChange(extra); err != nil {
				return chaosState{}, err
			}
			s, _ := old.(chaosState)
			if e, ok := old.(actor.StrictDecoder); ok { // from the plugin version
				err := e.DecodeStrict(&s)
				return s, err
			}
			return s, nil
		},
		Downgrade: func(to string, s chaosState, extra any) (any, error) {
			return s, fault.ActDowngrade(extra)
		},
	})
}

// auxState is the state of versions v2 and v3 of module "chaosaux"; v1
// keeps a bare int.
type auxState struct{ N int }

// auxVersions are the versions of "chaosaux", the suite's second module:
// a plain lineage v1 → v2 → v3 without shortcuts (moving between v1 and v3
// takes two steps) whose state changes type at v2.
func auxVersions() []*actor.Version {
	act := func(msg any) {
		if m, ok := msg.(fault.Msg); ok {
			fault.Act(m)
		}
	}
	v1 := actor.Define("chaosaux", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			act(msg)
			ctx.Reply(n + 1)
			return n + 1, nil
		},
	})
	next := func(name, follows string, from func(old any) (auxState, bool)) *actor.Version {
		return actor.Define("chaosaux", name, actor.Funcs[auxState]{
			Follows: follows,
			Handle: func(ctx *actor.Context, s auxState, msg any) (auxState, error) {
				act(msg)
				s.N++
				ctx.Reply(s.N)
				return s, nil
			},
			CodeChange: func(prev string, old, extra any) (auxState, error) {
				if err := fault.ActCodeChange(extra); err != nil {
					return auxState{}, err
				}
				s, ok := from(old)
				if !ok {
					return auxState{}, fmt.Errorf("chaosaux %s: a %T state from %s", name, old, prev)
				}
				return s, nil
			},
			Downgrade: func(to string, s auxState, extra any) (any, error) {
				if follows == "v1" {
					return s.N, fault.ActDowngrade(extra)
				}
				return s, fault.ActDowngrade(extra)
			},
		})
	}
	v2 := next("v2", "v1", func(old any) (auxState, bool) {
		n, ok := old.(int)
		return auxState{N: n}, ok
	})
	v3 := next("v3", "v2", func(old any) (auxState, bool) {
		s, ok := old.(auxState)
		return s, ok
	})
	return []*actor.Version{v1, v2, v3}
}

// chaosTree is the service: a root one_for_one over three supervisors of
// different strategies and a few workers with bounded mailboxes; each
// supervisor runs workers of both modules.
func chaosTree(t testing.TB, sys *actor.System) *supervisor.Handle {
	workers := func(module, prefix string, n int, handoff bool, opts ...actor.SpawnOption) []supervisor.ChildSpec {
		specs := make([]supervisor.ChildSpec, n)
		for i := range specs {
			specs[i] = supervisor.ChildSpec{ID: fmt.Sprint(prefix, i), Handoff: handoff,
				Start: supervisor.StartSpec{Module: module, Options: opts}}
		}
		return specs
	}
	lots := supervisor.Flags{Intensity: 100_000, Period: time.Second}
	oneForAll, restForOne := lots, lots
	oneForAll.Strategy, restForOne.Strategy = supervisor.OneForAll, supervisor.RestForOne
	bounded := actor.WithMailbox(16, mailbox.DropOldest)
	specs := []supervisor.ChildSpec{
		supervisor.Spec("a", lots, append(workers("chaosmod", "a", 24, true), workers("chaosaux", "ax", 8, true)...)),
		// rest_for_one: a chaosmod worker's crash restarts the chaosaux
		// workers after it.
		supervisor.Spec("b", restForOne, append(workers("chaosmod", "b", 8, false), workers("chaosaux", "bx", 4, false)...)),
		supervisor.Spec("c", oneForAll, append(workers("chaosmod", "c", 4, true), workers("chaosaux", "cx", 2, true)...)),
	}
	specs = append(specs, workers("chaosmod", "bounded", 4, false, bounded)...)
	specs = append(specs, workers("chaosaux", "boundedx", 2, false, bounded)...)
	root, err := supervisor.Start(sys, lots, specs)
	require.NoError(t, err)
	return root
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes a while")
	}
	dir := t.TempDir()
	exe, err := plugintest.Build(dir, "chaosmod-v3", "./testdata/chaosmod", nil)
	require.NoError(t, err)

	sys := actor.NewSystem(actor.WithLogger(zap.NewNop()))
	v1, v2 := chaosVersion("v1", ""), chaosVersion("v2", "v1")
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Stage(v2))
	v3, err := plugin.NewLoader(plugin.WithCallTimeout(250*time.Millisecond)).
		Load(context.Background(), sys, exe.Ref("chaosmod", "v3"))
	require.NoError(t, err)
	aux := auxVersions()
	require.NoError(t, sys.Load(aux[0]))
	for _, v := range aux[1:] {
		require.NoError(t, sys.Stage(v))
	}
	root := chaosTree(t, sys)

	res, err := chaos.Run(context.Background(), sys, root, chaos.Config{
		Seed: *chaosSeed, Faults: *chaosFaults, Duration: *chaosDuration,
		Module: "chaosmod", Versions: []*actor.Version{v1, v2, v3},
		Modules:        []chaos.Module{{Name: "chaosaux", Versions: aux}},
		UpgradeTimeout: 200 * time.Millisecond, HangFor: 400 * time.Millisecond,
		Burst: 64, Shutdown: true, Out: os.Stdout,
	})
	require.NoError(t, err)
	require.NoError(t, res.Err())
	if *chaosDuration == 0 {
		require.GreaterOrEqual(t, res.TotalFaults(), *chaosFaults)
	}
}
