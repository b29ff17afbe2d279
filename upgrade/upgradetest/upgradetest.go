package upgradetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/graftrt/graft/actor"
)

// Lineage is what Check checks: the versions of one module and a
// generator of their states. Only Versions and State are required.
type Lineage struct {
	// Versions are the versions of one module, in any order: their
	// actor.Lineage says how they relate. Steps to versions not listed
	// here are not checked; the Reach check names the gaps that matter.
	Versions []*actor.Version
	// State returns a plain state of the named version (for a typed
	// version, its S), built from r alone: two calls with generators
	// seeded alike must return equal states that share no memory, so that
	// one can be migrated and compared with the other afterwards.
	State func(version string, r *rand.Rand) any
	// Extra is passed to every migration, as a Plan's Extra is.
	Extra any
	// Samples is how many states each check generates; 0 means 100.
	Samples int
	// Seed seeds the first sample; sample i is seeded with Seed+i. A
	// problem names the seed that showed it, so Seed set to that and
	// Samples to 1 reproduce it.
	Seed uint64
	// Equal compares two states of one version; nil means
	// reflect.DeepEqual. Set it for states that hold derived data (a
	// cache, an index) that a migration rebuilds rather than carries.
	Equal func(a, b any) bool
}

// Kind is which check found a problem.
type Kind uint8

const (
	// Generator: State returned different states for one seed, which
	// makes the other checks meaningless; no other check runs.
	Generator Kind = iota + 1
	// Reach: no route from a first version (one that follows none) to a
	// version, or from a version to a last one (one no listed version
	// upgrades from).
	Reach
	// Failure: a declared step returned an error or panicked on a
	// generated state.
	Failure
	// Mutation: a declared step modified the state it was given. Rolling
	// back a failed upgrade resumes processes on the state they had, so
	// migrations must build new states, never edit the old one.
	Mutation
	// RoundTrip: an up step A→B followed by the route from B back to A
	// did not return the original state.
	RoundTrip
	// Shortcut: a step that skips versions (UpgradesFrom, DowngradesTo)
	// disagrees with the chain of steps it stands for (v1→v3 against
	// v1→v2→v3).
	Shortcut
	// Decoding: a typed version refused its own state encoded as JSON,
	// or strictly decoded another version's state with fields lost or
	// invented (a lenient UnmarshalJSON, say) without being Lenient.
	Decoding
)

func (k Kind) String() string {
	names := [...]string{"kind(?)", "generator", "reach", "failure", "mutation", "round trip", "shortcut", "decoding"}
	if int(k) < len(names) {
		return names[k]
	}
	return names[0]
}

// Problem is one thing a check found, with the first sample that showed
// it: each check reports at most one problem per step or pair of
// versions.
type Problem struct {
	Kind Kind
	// From and To are the versions involved: a step's or a route's ends;
	// for Decoding, the version whose state was encoded (From) and the
	// version that decoded it (To). To is "" for a Generator problem.
	From, To string
	// Seed seeded the sample that showed the problem (not set for Reach).
	Seed uint64
	// Err says what went wrong: the migration's error, or the states
	// that differ.
	Err error
}

func (p Problem) String() string {
	where := p.From
	if p.To != "" && p.To != p.From {
		where += "→" + p.To
	}
	s := fmt.Sprintf("%v %s: %v", p.Kind, where, p.Err)
	if p.Kind != Reach {
		s += fmt.Sprintf(" (seed %d; reproduce with Seed: %d, Samples: 1)", p.Seed, p.Seed)
	}
	return s
}

// ErrInvalid reports a Lineage that cannot be checked.
var ErrInvalid = errors.New("upgradetest: invalid Lineage")

// Check runs every check on l and fails t with one error per problem,
// each naming the seed that reproduces it; an invalid l is fatal.
func Check(t testing.TB, l Lineage) {
	t.Helper()
	problems, err := Problems(l)
	if err != nil {
		t.Fatal(err)
		return
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// Problems runs every check on l and returns what they find, in a stable
// order: Generator, Reach, Failure, Mutation, RoundTrip, Shortcut,
// Decoding; none means the lineage passed. The error is for an l that
// cannot be checked (ErrInvalid).
func Problems(l Lineage) ([]Problem, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if l.Samples == 0 {
		l.Samples = 100
	}
	if l.Equal == nil {
		l.Equal = reflect.DeepEqual
	}
	c := &checker{Lineage: l, steps: actor.Steps(l.Versions)}
	for _, v := range c.Versions {
		c.generator(v)
	}
	if len(c.problems) > 0 {
		return c.problems, nil
	}
	c.reach()
	for _, check := range []func(actor.Step){c.failure, c.mutation, c.roundTrip, c.shortcut} {
		for _, s := range c.steps {
			check(s)
		}
	}
	for _, v := range c.Versions {
		c.decoding(v)
	}
	return c.problems, nil
}

func (l Lineage) validate() error {
	switch {
	case len(l.Versions) == 0:
		return fmt.Errorf("%w: no Versions", ErrInvalid)
	case l.State == nil:
		return fmt.Errorf("%w: no State generator", ErrInvalid)
	case l.Samples < 0:
		return fmt.Errorf("%w: Samples is %d", ErrInvalid, l.Samples)
	}
	names := make(map[string]bool, len(l.Versions))
	for i, v := range l.Versions {
		switch {
		case v == nil:
			return fmt.Errorf("%w: Versions[%d] is nil", ErrInvalid, i)
		case v.Module() != l.Versions[0].Module():
			return fmt.Errorf("%w: %v and %v are versions of different modules", ErrInvalid, l.Versions[0], v)
		case names[v.Name()]:
			return fmt.Errorf("%w: two versions named %v", ErrInvalid, v)
		}
		names[v.Name()] = true
	}
	return nil
}
