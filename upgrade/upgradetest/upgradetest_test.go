package upgradetest_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/upgradetest"
)

// The counter module, whose versions the tests break one at a time.
// v2 adds a label and tags to v1; v3 renames Count to Total and keeps tags
// in tenths. v3 upgrades from v1 directly and downgrades to it directly.
type (
	counterV1 struct {
		Count int
		Name  string
	}
	counterV2 struct {
		Count int
		Name  string
		Label string
		Tags  map[string]int
	}
	counterV3 struct {
		Total int
		Name  string
		Label string
		Tags  map[string]int // in tenths
	}
)

type counter struct {
	v1 actor.Funcs[counterV1]
	v2 actor.Funcs[counterV2]
	v3 actor.Funcs[counterV3]
	// v3FromV1 and v3FromV2 are v3's two CodeChange migrations.
	v3FromV1 func(counterV1, any) (counterV3, error)
	v3FromV2 func(counterV2, any) (counterV3, error)
}

// newCounter returns a correct lineage.
func newCounter() *counter {
	c := &counter{}
	c.v1 = actor.Funcs[counterV1]{Handle: keep[counterV1]}
	c.v2 = actor.Funcs[counterV2]{
		Follows: "v1",
		Handle:  keep[counterV2],
		CodeChange: actor.Migrate(func(o counterV1, _ any) (counterV2, error) {
			return counterV2{Count: o.Count, Name: o.Name, Label: "none"}, nil
		}),
		Downgrade: func(_ string, s counterV2, _ any) (any, error) {
			return counterV1{Count: s.Count, Name: s.Name}, nil
		},
	}
	c.v3FromV1 = func(o counterV1, _ any) (counterV3, error) {
		return counterV3{Total: o.Count, Name: o.Name, Label: "none"}, nil
	}
	c.v3FromV2 = func(o counterV2, _ any) (counterV3, error) {
		return counterV3{Total: o.Count, Name: o.Name, Label: o.Label, Tags: scaled(o.Tags, 10)}, nil
	}
	c.v3 = actor.Funcs[counterV3]{
		Follows:      "v2",
		UpgradesFrom: []string{"v1"},
		DowngradesTo: []string{"v1"},
		Handle:       keep[counterV3],
		CodeChange: func(from string, old, extra any) (counterV3, error) {
			if from == "v1" {
				return actor.Migrate(c.v3FromV1)(from, old, extra)
			}
			return actor.Migrate(c.v3FromV2)(from, old, extra)
		},
		Downgrade: func(to string, s counterV3, _ any) (any, error) {
			if to == "v1" {
				return counterV1{Count: s.Total, Name: s.Name}, nil
			}
			return counterV2{Count: s.Total, Name: s.Name, Label: s.Label, Tags: scaled(s.Tags, 0.1)}, nil
		},
	}
	return c
}

func (c *counter) lineage() upgradetest.Lineage {
	return upgradetest.Lineage{
		Versions: []*actor.Version{
			actor.Define("counter", "v1", c.v1),
			actor.Define("counter", "v2", c.v2),
			actor.Define("counter", "v3", c.v3),
		},
		State: counterState,
		Seed:  1,
	}
}

func counterState(version string, r *rand.Rand) any {
	count, name := r.IntN(100), fmt.Sprintf("c%d", r.IntN(10))
	switch version {
	case "v1":
		return counterV1{Count: count, Name: name}
	case "v2":
		return counterV2{Count: count, Name: name, Label: fmt.Sprintf("l%d", r.IntN(3)), Tags: randomTags(r, 1)}
	case "v3":
		return counterV3{Total: count, Name: name, Label: fmt.Sprintf("l%d", r.IntN(3)), Tags: randomTags(r, 10)}
	}
	return nil
}

// randomTags returns nil, an empty map or a few tags with counts in unit.
func randomTags(r *rand.Rand, unit int) map[string]int {
	n := r.IntN(5) - 1
	if n < 0 {
		return nil
	}
	tags := make(map[string]int, n)
	for range n {
		tags[fmt.Sprintf("t%d", r.IntN(10))] = r.IntN(10) * unit
	}
	return tags
}

func scaled(tags map[string]int, by float64) map[string]int {
	if tags == nil {
		return nil
	}
	out := make(map[string]int, len(tags))
	for k, n := range tags {
		out[k] = int(float64(n) * by)
	}
	return out
}

func keep[S any](_ *actor.Context, s S, _ any) (S, error) { return s, nil }

// found lists problems as "kind from→to".
func found(t *testing.T, l upgradetest.Lineage) []string {
	t.Helper()
	problems, err := upgradetest.Problems(l)
	require.NoError(t, err)
	var out []string
	for _, p := range problems {
		if p.To == "" {
			out = append(out, fmt.Sprintf("%v %s", p.Kind, p.From))
		} else {
			out = append(out, fmt.Sprintf("%v %s→%s", p.Kind, p.From, p.To))
		}
	}
	return out
}

func TestCorrectLineagePasses(t *testing.T) {
	upgradetest.Check(t, newCounter().lineage())
}

func TestRoundTripCatchesADowngradeThatLosesAField(t *testing.T) {
	c := newCounter()
	c.v2.Downgrade = func(_ string, s counterV2, _ any) (any, error) {
		return counterV1{Count: s.Count}, nil // Name forgotten
	}
	// The direct v3→v1 step now disagrees with v3→v2→v1 as well.
	assert.Equal(t, []string{"round trip v1→v2", "shortcut v3→v1"}, found(t, c.lineage()))
}

func TestShortcutCatchesAStepThatDisagreesWithTheChain(t *testing.T) {
	c := newCounter()
	c.v3FromV1 = func(o counterV1, _ any) (counterV3, error) {
		return counterV3{Total: o.Count, Name: o.Name}, nil // v2 would have set Label
	}
	assert.Equal(t, []string{"shortcut v1→v3"}, found(t, c.lineage()))
}

func TestMutationCatchesAMigrationThatModifiesItsInput(t *testing.T) {
	c := newCounter()
	c.v3FromV2 = func(o counterV2, _ any) (counterV3, error) {
		for k := range o.Tags {
			o.Tags[k] *= 10 // the v2 state's own map
		}
		return counterV3{Total: o.Count, Name: o.Name, Label: o.Label, Tags: o.Tags}, nil
	}
	// The result is right: only the input is damaged.
	assert.Equal(t, []string{"mutation v2→v3"}, found(t, c.lineage()))
}

func TestFailureReportsASeedThatReproducesIt(t *testing.T) {
	c := newCounter()
	c.v2.CodeChange = actor.Migrate(func(o counterV1, _ any) (counterV2, error) {
		if o.Count > 90 {
			panic("count overflows v2")
		}
		return counterV2{Count: o.Count, Name: o.Name, Label: "none"}, nil
	})
	l := c.lineage()
	problems, err := upgradetest.Problems(l)
	require.NoError(t, err)
	require.NotEmpty(t, problems)
	p := problems[0]
	assert.Equal(t, upgradetest.Failure, p.Kind)
	var me *actor.MigrationError
	require.ErrorAs(t, p.Err, &me)
	assert.ErrorContains(t, me, "count overflows v2")
	assert.Contains(t, p.String(), fmt.Sprintf("Seed: %d, Samples: 1", p.Seed))
	// v1→v3 goes through v2 in the chain too.
	assert.Equal(t, []string{"failure v1→v2", "round trip v1→v2", "shortcut v1→v3"}, found(t, l))

	l.Seed, l.Samples = p.Seed, 1
	again, err := upgradetest.Problems(l)
	require.NoError(t, err)
	require.NotEmpty(t, again)
	assert.Equal(t, p.String(), again[0].String())
}

func TestEqualIgnoresDerivedFields(t *testing.T) {
	type cart struct {
		Items []int
		Sum   int // derived from Items; v2's Downgrade leaves it to be rebuilt
	}
	type cartV2 struct{ Items []int }
	l := upgradetest.Lineage{
		Versions: []*actor.Version{
			actor.Define("cart", "v1", actor.Funcs[cart]{Handle: keep[cart]}),
			actor.Define("cart", "v2", actor.Funcs[cartV2]{
				Follows: "v1",
				Handle:  keep[cartV2],
				CodeChange: actor.Migrate(func(o cart, _ any) (cartV2, error) {
					return cartV2{Items: o.Items}, nil
				}),
				Downgrade: func(_ string, s cartV2, _ any) (any, error) { return cart{Items: s.Items}, nil },
			}),
		},
		State: func(version string, r *rand.Rand) any {
			items := []int{r.IntN(9), r.IntN(9)}
			if version == "v1" {
				return cart{Items: items, Sum: items[0] + items[1]}
			}
			return cartV2{Items: items}
		},
	}
	assert.Equal(t, []string{"round trip v1→v2"}, found(t, l))

	l.Equal = func(a, b any) bool {
		if a, ok := a.(cart); ok {
			b := b.(cart)
			a.Sum, b.Sum = 0, 0
			return assert.ObjectsAreEqual(a, b)
		}
		return assert.ObjectsAreEqual(a, b)
	}
	assert.Empty(t, found(t, l))
}

// The tally module for the decoding checks: v2 adds a unit to v1.
type (
	tallyV1 struct{ N int }
	tallyV2 struct {
		N    int
		Unit string
	}
	// tallyV2Defaults is tallyV2 with an UnmarshalJSON that fills in a
	// default unit. Decoding through an alias type drops the strict
	// decoder's checks: it reads anything.
	tallyV2Defaults tallyV2
	// tallyV2Sized encodes a derived field, Size, that it cannot decode.
	tallyV2Sized tallyV2
)

func (s *tallyV2Defaults) UnmarshalJSON(data []byte) error {
	type plain tallyV2Defaults
	p := plain{Unit: "items"}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*s = tallyV2Defaults(p)
	return nil
}

func (s tallyV2Sized) MarshalJSON() ([]byte, error) {
	type plain tallyV2Sized
	return json.Marshal(struct {
		plain
		Size int
	}{plain(s), len(s.Unit)})
}

// tally returns the lineage with v2's state of type S.
func tally[S ~struct {
	N    int
	Unit string
}](lenient bool) upgradetest.Lineage {
	return upgradetest.Lineage{
		Versions: []*actor.Version{
			actor.Define("tally", "v1", actor.Funcs[tallyV1]{Handle: keep[tallyV1]}),
			actor.Define("tally", "v2", actor.Funcs[S]{
				Follows: "v1",
				Lenient: lenient,
				Handle:  keep[S],
				CodeChange: actor.Migrate(func(o tallyV1, _ any) (S, error) {
					return S{N: o.N, Unit: "items"}, nil
				}),
				Downgrade: func(_ string, s S, _ any) (any, error) { return tallyV1{N: tallyV2(s).N}, nil },
			}),
		},
		State: func(version string, r *rand.Rand) any {
			if version == "v1" {
				return tallyV1{N: r.IntN(100)}
			}
			return S{N: r.IntN(100), Unit: []string{"items", "kg"}[r.IntN(2)]}
		},
	}
}

func TestDecodingPasses(t *testing.T) {
	upgradetest.Check(t, tally[tallyV2](false))
}

func TestDecodingCatchesAVersionThatReadsAForeignShape(t *testing.T) {
	assert.Equal(t, []string{"decoding v1→v2"}, found(t, tally[tallyV2Defaults](false)))
}

func TestDecodingLeavesLenientVersionsAlone(t *testing.T) {
	assert.Empty(t, found(t, tally[tallyV2Defaults](true)))
}

func TestDecodingCatchesAVersionThatRefusesItsOwnState(t *testing.T) {
	problems, err := upgradetest.Problems(tally[tallyV2Sized](false))
	require.NoError(t, err)
	require.Len(t, problems, 1)
	assert.Equal(t, upgradetest.Decoding, problems[0].Kind)
	assert.Equal(t, "v2", problems[0].From)
	assert.ErrorIs(t, problems[0].Err, actor.ErrStateType)
	assert.ErrorContains(t, problems[0].Err, "Size")
}

func TestReachNamesAVersionMissingFromTheLineage(t *testing.T) {
	c := newCounter()
	c.v3.UpgradesFrom, c.v3.DowngradesTo = nil, nil
	l := c.lineage()
	l.Versions = []*actor.Version{l.Versions[0], l.Versions[2]} // v2 left out
	problems, err := upgradetest.Problems(l)
	require.NoError(t, err)
	// v1 cannot move up to v3, nor v3 down to v1: both go through v2.
	assert.Equal(t, []string{"reach v1→v3", "reach v3→v1"}, found(t, l))
	assert.ErrorIs(t, problems[0].Err, actor.ErrNoRoute)
	assert.ErrorContains(t, problems[0].Err, "v2")
}

func TestGeneratorMustBeDeterministic(t *testing.T) {
	l := newCounter().lineage()
	calls := 0
	l.State = func(version string, r *rand.Rand) any {
		calls++
		return counterV1{Count: calls}
	}
	assert.Equal(t, []string{"generator v1", "generator v2", "generator v3"}, found(t, l))
}

func TestInvalidLineage(t *testing.T) {
	good := newCounter().lineage()
	other := actor.Define("other", "v1", actor.Funcs[int]{Handle: keep[int]})
	for name, l := range map[string]upgradetest.Lineage{
		"no versions":     {State: good.State},
		"no generator":    {Versions: good.Versions},
		"nil version":     {Versions: []*actor.Version{good.Versions[0], nil}, State: good.State},
		"two modules":     {Versions: []*actor.Version{good.Versions[0], other}, State: good.State},
		"duplicate name":  {Versions: []*actor.Version{good.Versions[0], good.Versions[0]}, State: good.State},
		"samples below 0": {Versions: good.Versions, State: good.State, Samples: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := upgradetest.Problems(l)
			assert.ErrorIs(t, err, upgradetest.ErrInvalid)
		})
	}
}

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper()                      {}
func (r *recorder) Error(args ...any)            { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recorder) Fatal(args ...any)            { r.Error(args...); r.fatal = true }
func (r *recorder) Errorf(f string, args ...any) { r.Error(fmt.Sprintf(f, args...)) }

func TestCheckReportsEachProblemWithItsSeed(t *testing.T) {
	c := newCounter()
	c.v3FromV1 = func(o counterV1, _ any) (counterV3, error) { return counterV3{Total: o.Count, Name: o.Name}, nil }
	rec := &recorder{TB: t}
	upgradetest.Check(rec, c.lineage())
	require.Len(t, rec.errors, 1)
	assert.Regexp(t, `^shortcut v1→v3: v1 up to v3 gave .* \(seed 1; reproduce with Seed: 1, Samples: 1\)$`, rec.errors[0])

	rec = &recorder{TB: t}
	upgradetest.Check(rec, upgradetest.Lineage{})
	assert.True(t, rec.fatal)
	assert.Contains(t, rec.errors[0], "no Versions")
}
