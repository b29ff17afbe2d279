package supervisor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Module "ledger" for tree exports: v1 holds a funds, v2 (following v1)
// a funds and a count of deposits.
type (
	credit     struct{ N int }
	funds      struct{}
	ledgerArgs struct{ Open int }
	ledger2    struct{ Balance, Deposits int }
)

var ledgerV1 = actor.Define("ledger", "v1", actor.Funcs[int]{
	Codec: actor.JSON,
	Types: []any{credit{}, funds{}, ledgerArgs{}},
	Init: func(ctx *actor.Context, args any) (int, error) {
		a, _ := args.(ledgerArgs)
		return a.Open, nil
	},
	Handle: func(ctx *actor.Context, s int, msg any) (int, error) {
		switch m := msg.(type) {
		case credit:
			return s + m.N, nil
		case funds:
			ctx.Reply(s)
		}
		return s, nil
	},
})

var ledgerV2 = actor.Define("ledger", "v2", actor.Funcs[ledger2]{
	Follows: "v1",
	Codec:   actor.JSON,
	Types:   []any{credit{}, funds{}, ledgerArgs{}},
	Init: func(ctx *actor.Context, args any) (ledger2, error) {
		a, _ := args.(ledgerArgs)
		return ledger2{Balance: a.Open}, nil
	},
	Handle: func(ctx *actor.Context, s ledger2, msg any) (ledger2, error) {
		switch m := msg.(type) {
		case credit:
			s.Balance += m.N
			s.Deposits++
		case funds:
			ctx.Reply(s.Balance)
		}
		return s, nil
	},
	CodeChange: actor.Migrate(func(n int, _ any) (ledger2, error) { return ledger2{Balance: n}, nil }),
})

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	t.Cleanup(cancel)
	return ctx
}

// startBank starts a tree: a named account, a stopped transient one, and
// a simple_one_for_one pool of three accounts under a nested supervisor.
func startBank(t *testing.T, sys *actortest.System) *supervisor.Handle {
	require.NoError(t, sys.Load(ledgerV1))
	top, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.RestForOne, Intensity: 5, Period: 1e9}, []supervisor.ChildSpec{
		{ID: "main", Start: supervisor.StartSpec{Module: "ledger", Args: ledgerArgs{Open: 100}, Options: []actor.SpawnOption{actor.WithName("main")}}},
		{ID: "spare", Start: supervisor.StartSpec{Module: "ledger"}, Restart: supervisor.Transient},
		supervisor.Spec("pool", supervisor.Flags{Strategy: supervisor.SimpleOneForOne}, []supervisor.ChildSpec{
			{ID: "ledger", Start: supervisor.StartSpec{Module: "ledger"}},
		}),
	}, actor.WithName("bank"))
	require.NoError(t, err)
	ctx := bg(t)
	children, err := top.WhichChildren(ctx)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(ctx, children[1].PID)) // transient, normal exit: stays stopped
	_, err = top.WhichChildren(ctx)                    // served after the exit
	require.NoError(t, err)
	pool := supervisor.Of(sys.System, children[2].PID)
	for i := range 3 {
		_, err := pool.StartSimpleChild(ctx, ledgerArgs{Open: i}, supervisor.SpawnOptions(actor.WithName("p"+string(rune('0'+i)))))
		require.NoError(t, err)
	}
	return top
}

// A suspended tree is read as data and started again in another system:
// same shape, names and order, each state migrated to the current
// version there and its queued messages handled first; the old tree,
// resumed, goes on as if nothing happened.
func TestExportAndRestoreTree(t *testing.T) {
	old := actortest.NewSystem(t)
	top := startBank(t, old)
	ctx := bg(t)
	pids, err := supervisor.TreePIDs(ctx, old.System, top)
	require.NoError(t, err)
	require.Len(t, pids, 6, "bank, main, pool and three instances (spare is not running)")
	var workers []actor.PID
	for _, pid := range pids {
		if v, _ := old.VersionOf(pid); v.Module != supervisor.ModuleName {
			workers = append(workers, pid)
		}
	}
	require.NoError(t, old.CheckExport(workers))
	require.NoError(t, old.SuspendAll(ctx, pids))
	require.NoError(t, old.SendNamed("main", credit{N: 5}))
	require.NoError(t, old.SendNamed("p2", credit{N: 7}))

	tree, err := supervisor.ExportTree(ctx, old.System, top)
	require.NoError(t, err)
	assert.Equal(t, "bank", tree.Spawn.Name)
	require.Len(t, tree.Children, 3)
	assert.Equal(t, "main", tree.Children[0].Spawn.Name)
	assert.True(t, tree.Children[1].PID.IsZero())
	require.NotNil(t, tree.Children[2].Sub)
	require.NotNil(t, tree.Children[2].Sub.Template)
	require.Len(t, tree.Children[2].Sub.Children, 3)

	assert.ElementsMatch(t, workers, tree.Workers())
	exports := map[actor.PID]actor.Exported{}
	for _, pid := range workers {
		ex, err := old.Export(ctx, pid)
		require.NoError(t, err)
		exports[pid] = ex
	}

	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Stage(ledgerV1))
	require.NoError(t, sys.Load(ledgerV2))
	h, mapped, err := supervisor.RestoreTree(ctx, sys.System, tree, func(old actor.PID) *actor.Restore {
		ex := exports[old]
		return &actor.Restore{Version: ex.Version, Codec: ex.Codec, State: ex.State, Queued: ex.Queued}
	})
	require.NoError(t, err)
	assert.Len(t, mapped, 6)
	bank, ok := sys.Whereis("bank")
	require.True(t, ok)
	assert.Equal(t, h.PID(), bank)
	for name, want := range map[string]int{"main": 105, "p0": 0, "p1": 1, "p2": 9} {
		v, err := sys.CallNamed(ctx, name, funds{})
		require.NoError(t, err, name)
		assert.Equal(t, want, v, name)
		pid, _ := sys.Whereis(name)
		pv, _ := sys.VersionOf(pid)
		assert.Equal(t, "v2", pv.Version, name)
	}
	children, err := h.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, children, 3)
	assert.Equal(t, []string{"main", "spare", "pool"}, []string{children[0].ID, children[1].ID, children[2].ID})
	assert.True(t, children[1].PID.IsZero(), "spare stays stopped")
	flags, err := h.Flags(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervisor.RestForOne, flags.Strategy)
	// A restart starts from the spec's arguments with Init, as usual.
	restarted := make(chan struct{}, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart && s.ID == "main" {
			restarted <- struct{}{}
		}
	})()
	main, _ := sys.Whereis("main")
	require.NoError(t, sys.Exit(main, actor.Kill))
	<-restarted
	v, err := sys.CallNamed(ctx, "main", funds{})
	require.NoError(t, err)
	assert.Equal(t, 100, v)

	// The old tree resumes untouched: its queued messages are handled there.
	require.NoError(t, old.ResumeAll(ctx, pids))
	v, err = old.CallNamed(ctx, "main", funds{})
	require.NoError(t, err)
	assert.Equal(t, 105, v)
}

// A restore that fails (a state that does not decode) starts nothing.
func TestRestoreTreeFailureStartsNothing(t *testing.T) {
	old := actortest.NewSystem(t)
	top := startBank(t, old)
	ctx := bg(t)
	tree, err := supervisor.ExportTree(ctx, old.System, top)
	require.NoError(t, err)
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(ledgerV1))
	_, _, err = supervisor.RestoreTree(ctx, sys.System, tree, func(actor.PID) *actor.Restore {
		return &actor.Restore{Version: "v1", Codec: "json", State: []byte(`"not a number"`)}
	})
	require.ErrorIs(t, err, actor.ErrStateType)
	assert.Equal(t, 0, sys.ProcessCount())
}
