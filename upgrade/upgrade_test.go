package upgrade_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func version(module, name string, down bool) *actor.Version {
	f := actor.Funcs[int]{Handle: func(ctx *actor.Context, n int, _ any) (int, error) {
		ctx.Reply(ctx.Version())
		return n + 1, nil
	}}
	if down {
		f.Downgrade = func(_ string, n int, _ any) (any, error) { return n, nil }
	}
	return actor.Define(module, name, f)
}

func TestValidateRejectsBadPlans(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1, v2 := version("m", "v1", false), version("m", "v2", false)
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Load(v2))
	other := version("o", "v1", false)
	cases := map[string]upgrade.Plan{
		"no changes":       {},
		"nil version":      {Changes: []upgrade.Change{{Module: "m"}}},
		"no module":        {Changes: []upgrade.Change{{To: v1}}},
		"wrong module":     {Changes: []upgrade.Change{{Module: "m", To: other}}},
		"unknown module":   {Changes: []upgrade.Change{{Module: "o", To: other}}},
		"already current":  {Changes: []upgrade.Change{{Module: "m", To: v2}}},
		"twice":            {Changes: []upgrade.Change{{Module: "m", To: v1}, {Module: "m", To: v1}}},
		"no downgrade":     {Changes: []upgrade.Change{{Module: "m", To: v1}}}, // v2 has no Downgrade
		"unknown mode":     {Mode: 9, Changes: []upgrade.Change{{Module: "m", To: version("m", "v3", false)}}},
		"negative timeout": {Timeout: -1, Changes: []upgrade.Change{{Module: "m", To: version("m", "v3", false)}}},
	}
	for name, p := range cases {
		err := p.Validate(sys.System)
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
		_, err = upgrade.Execute(context.Background(), sys.System, p, nil, nil)
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
	}
	cur, _ := sys.Current("m")
	assert.Same(t, v2, cur, "bad plans change nothing")
	assert.NoError(t, upgrade.Plan{Changes: []upgrade.Change{{Module: "m", To: version("m", "v3", false)}}}.Validate(sys.System))
}

// Execute works on any set of processes, without a supervisor; processes
// of other modules are left alone.
func TestExecuteOnPlainProcesses(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := version("m", "v1", false)
	require.NoError(t, sys.Load(v1))
	require.NoError(t, sys.Load(version("o", "v1", false)))
	var targets []upgrade.Target
	for range 5 {
		pid, err := sys.Spawn("m", nil)
		require.NoError(t, err)
		targets = append(targets, upgrade.Target{PID: pid, Module: "m", Level: 1})
	}
	bystander, err := sys.Spawn("o", nil)
	require.NoError(t, err)
	targets = append(targets, upgrade.Target{PID: bystander, Module: "o", Level: 1})

	v2 := version("m", "v2", true)
	rep, err := upgrade.Execute(context.Background(), sys.System, upgrade.Plan{Changes: []upgrade.Change{{Module: "m", To: v2}}}, targets, nil)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Len(t, rep.Processes, 5, "only processes of changed modules take part")
	for _, tg := range targets[:5] {
		r, err := sys.Call(context.Background(), tg.PID, "v?")
		require.NoError(t, err)
		assert.Equal(t, "v2", r)
	}
	r, err := sys.Call(context.Background(), bystander, "v?")
	require.NoError(t, err)
	assert.Equal(t, "v1", r)

	// And back down, with v2's Downgrade.
	rep, err = upgrade.Execute(context.Background(), sys.System, upgrade.Plan{Changes: []upgrade.Change{{Module: "m", To: v1}}}, targets, nil)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.EqualValues(t, 5, sys.Activations("m", "v1"))
}
