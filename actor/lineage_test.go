package actor_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

func lv(name string, l actor.Lineage, down bool) *actor.Version {
	f := actor.Funcs[int]{Follows: l.Follows, UpgradesFrom: l.UpgradesFrom, DowngradesTo: l.DowngradesTo, Handle: counterHandle}
	if down {
		f.Downgrade = func(_ string, n int, _ any) (any, error) { return n, nil }
	}
	return actor.Define("m", name, f)
}

func routeNames(route []actor.Step) []string {
	var out []string
	for _, s := range route {
		out = append(out, s.String())
	}
	return out
}

func TestRouteChainsDeclaredSteps(t *testing.T) {
	v1 := lv("v1", actor.Lineage{}, false)
	v2 := lv("v2", actor.Lineage{Follows: "v1"}, true)
	v3 := lv("v3", actor.Lineage{Follows: "v2", UpgradesFrom: []string{"v1"}}, true)
	v4 := lv("v4", actor.Lineage{Follows: "v3", DowngradesTo: []string{"v2"}}, true)
	all := []*actor.Version{v4, v2, v1, v3} // any order

	for _, c := range []struct {
		from, to *actor.Version
		want     []string
		dir      actor.Direction
	}{
		{v1, v2, []string{"v1 up to v2"}, actor.Upward},
		{v1, v3, []string{"v1 up to v3"}, actor.Upward}, // the shortcut
		{v1, v4, []string{"v1 up to v3", "v3 up to v4"}, actor.Upward},
		{v4, v2, []string{"v4 down to v2"}, actor.Downward},
		{v4, v1, []string{"v4 down to v2", "v2 down to v1"}, actor.Downward},
		{v3, v1, []string{"v3 down to v2", "v2 down to v1"}, actor.Downward},
		{v2, v2, nil, actor.SameVersion},
	} {
		route, err := actor.Route(c.from, c.to, all)
		require.NoError(t, err, "%v → %v", c.from, c.to)
		assert.Equal(t, c.want, routeNames(route), "%v → %v", c.from, c.to)
		assert.Equal(t, c.dir, actor.DirectionOf(c.from, c.to, all))
	}

	// Missing steps are named.
	for _, c := range []struct {
		from, to *actor.Version
		known    []*actor.Version
		want     string
	}{
		{v4, v1, []*actor.Version{v1, v4}, "the lineage of m@v4 passes v3, which is not loaded in this system"},
		{v1, v4, []*actor.Version{v1, v4}, "the lineage of m@v4 passes v3, which is not loaded"},
		{v2, v1, nil, "downgrade from m@v2 to v1"},
		{lv("x", actor.Lineage{Follows: "v1"}, false), v1, []*actor.Version{v1}, "x has no Downgrade"},
		{lv("a", actor.Lineage{}, false), lv("b", actor.Lineage{}, false), nil, "not in one lineage"},
	} {
		if c.want == "downgrade from m@v2 to v1" {
			c.from = lv("v2", actor.Lineage{Follows: "v1"}, false)
		}
		_, err := actor.Route(c.from, c.to, c.known)
		assert.ErrorIs(t, err, actor.ErrNoRoute)
		assert.ErrorContains(t, err, c.want)
	}
	other := actor.Define("o", "v1", actor.Funcs[int]{Handle: counterHandle})
	_, err := actor.Route(v1, other, nil)
	assert.ErrorIs(t, err, actor.ErrNoRoute)
}

func TestStageRefusesBadLineage(t *testing.T) {
	sys := actortest.NewSystem(t)
	assert.ErrorIs(t, sys.Stage(lv("v1", actor.Lineage{Follows: "v1"}, false)), actor.ErrLineage)
	assert.ErrorIs(t, sys.Stage(lv("v1", actor.Lineage{UpgradesFrom: []string{"v1"}}, false)), actor.ErrLineage)
	require.NoError(t, sys.Stage(lv("v1", actor.Lineage{Follows: "v2"}, false)))
	assert.ErrorIs(t, sys.Stage(lv("v2", actor.Lineage{Follows: "v1"}, false)), actor.ErrLineage, "a cycle")
	_, ok := sys.Current("m")
	assert.False(t, ok, "nothing loaded")
}

func TestMigrateState(t *testing.T) {
	v1 := lv("v1", actor.Lineage{}, false)
	v2 := actor.Define("m", "v2", actor.Funcs[string]{Follows: "v1", Handle: func(_ *actor.Context, s string, _ any) (string, error) { return s, nil },
		CodeChange: actor.Migrate(func(n int, _ any) (string, error) { return string(rune('a' + n)), nil }),
		Downgrade:  func(_ string, s string, _ any) (any, error) { return int(s[0] - 'a'), nil }})
	out, err := actor.MigrateState(v1, v2, nil, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, "c", out)
	back, err := actor.MigrateState(v2, v1, nil, out, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, back)
	_, err = actor.MigrateState(v1, v2, nil, "not an int", nil)
	assert.ErrorIs(t, err, actor.ErrStateType)
}
