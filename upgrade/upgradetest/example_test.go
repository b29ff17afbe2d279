package upgradetest_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/upgradetest"
)

// A module whose v2 forgets the name when it downgrades. In a test, call
// upgradetest.Check(t, lineage) instead: it fails the test with the same
// lines.
func Example() {
	type v1 struct {
		Count int
		Name  string
	}
	type v2 struct {
		Count int
		Name  string
		Label string
	}
	lineage := upgradetest.Lineage{
		Versions: []*actor.Version{
			actor.Define("counter", "v1", actor.Funcs[v1]{
				Handle: func(_ *actor.Context, s v1, _ any) (v1, error) { return s, nil },
			}),
			actor.Define("counter", "v2", actor.Funcs[v2]{
				Follows: "v1",
				Handle:  func(_ *actor.Context, s v2, _ any) (v2, error) { return s, nil },
				CodeChange: actor.Migrate(func(old v1, _ any) (v2, error) {
					return v2{Count: old.Count, Name: old.Name, Label: "none"}, nil
				}),
				Downgrade: func(_ string, s v2, _ any) (any, error) {
					return v1{Count: s.Count}, nil // the bug: Name is lost
				},
			}),
		},
		State: func(version string, r *rand.Rand) any {
			name := []string{"apples", "pears"}[r.IntN(2)]
			if version == "v1" {
				return v1{Count: r.IntN(10), Name: name}
			}
			return v2{Count: r.IntN(10), Name: name, Label: "fruit"}
		},
		Seed: 7,
	}
	problems, err := upgradetest.Problems(lineage)
	if err != nil {
		fmt.Println(err)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	// Output:
	// round trip v1→v2: v1 up to v2 and back turned {Count:0 Name:apples} into {Count:0 Name:} (seed 7; reproduce with Seed: 7, Samples: 1)
}
