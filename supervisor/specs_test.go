package supervisor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/supervisor"
)

func TestChildSpecUpgrade(t *testing.T) {
	changedB := spec("b", supervisor.Permanent)
	changedB.Start.Args = "b, reconfigured"
	cases := []struct {
		strategy supervisor.Strategy
		want     []supervisor.SpecAction
	}{
		{supervisor.OneForOne, []supervisor.SpecAction{{"restart", "b"}, {"start", "d"}}},
		{supervisor.RestForOne, []supervisor.SpecAction{{"restart", "b"}, {"restart", "c"}, {"start", "d"}}},
		{supervisor.OneForAll, []supervisor.SpecAction{{"restart", "a"}, {"restart", "b"}, {"restart", "c"}, {"start", "d"}}},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: tc.strategy},
				[]supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("b", supervisor.Permanent), spec("c", supervisor.Permanent)})
			require.NoError(t, err)
			before := children(t, h)

			acts, err := h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), changedB, spec("c", supervisor.Permanent), spec("d", supervisor.Permanent)})
			require.NoError(t, err)
			assert.Equal(t, tc.want, acts)
			after := children(t, h)
			restarted := map[string]bool{}
			for _, a := range acts {
				restarted[a.ID] = true
			}
			for _, id := range []string{"a", "b", "c"} {
				assert.Equal(t, restarted[id], before[id] != after[id], "child %s restarted iff the diff says so", id)
			}
			who, err := r.Call(ctx, after["b"], whoAmI{})
			require.NoError(t, err)
			assert.Equal(t, "b, reconfigured", who, "b runs its new spec")

			// Removing a spec stops that child only, whatever the strategy.
			acts, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), changedB, spec("d", supervisor.Permanent)})
			require.NoError(t, err)
			assert.Equal(t, []supervisor.SpecAction{{"stop", "c"}}, acts)
			infos, err := h.WhichChildren(ctx)
			require.NoError(t, err)
			var ids []string
			for _, c := range infos {
				ids = append(ids, c.ID)
			}
			assert.Equal(t, []string{"a", "b", "d"}, ids)
			assert.Equal(t, after["a"], children(t, h)["a"])

			// Invalid specs change nothing.
			_, err = h.UpgradeSpecs(ctx, []supervisor.ChildSpec{spec("a", supervisor.Permanent), spec("a", supervisor.Permanent)})
			assert.ErrorIs(t, err, supervisor.ErrInvalidSpec)
			assert.Len(t, children(t, h), 3)
		})
	}
}
