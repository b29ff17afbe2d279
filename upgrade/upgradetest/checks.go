package upgradetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/internal/strictjson"
)

// checker runs the checks of one Problems call.
type checker struct {
	Lineage // defaults applied
	// steps are the steps the versions declare among themselves.
	steps    []actor.Step
	problems []Problem
}

// step is one declared migration (see actor.Lineage).
// run runs one step alone: with only its two ends known, the route
// actor.MigrateState takes is that step.
func (c *checker) run(s actor.Step, state any) (any, error) {
	return actor.MigrateState(s.From, s.To, []*actor.Version{s.From, s.To}, state, c.Extra)
}

// state generates a state of v from seed. Every call builds it afresh, so
// a twin of a state is another call with the same seed.
func (c *checker) state(v *actor.Version, seed uint64) any {
	return c.State(v.Name(), rand.New(rand.NewPCG(seed, seed)))
}

// each runs check on every sample in turn and records the first error it
// returns as a problem.
func (c *checker) each(kind Kind, from, to string, check func(seed uint64) error) {
	for i := range c.Samples {
		seed := c.Seed + uint64(i)
		if err := check(seed); err != nil {
			c.problems = append(c.problems, Problem{Kind: kind, From: from, To: to, Seed: seed, Err: err})
			return
		}
	}
}

// generator checks that State is deterministic, which the Mutation and
// RoundTrip checks rely on to compare a migrated state with its twin.
func (c *checker) generator(v *actor.Version) {
	c.each(Generator, v.Name(), "", func(seed uint64) error {
		if a, b := c.state(v, seed), c.state(v, seed); !c.Equal(a, b) {
			return fmt.Errorf("State(%q) gave %+v, then %+v", v.Name(), a, b)
		}
		return nil
	})
}

// reach checks that every version has a route from each first version
// and to each last one. A missing route usually means a version missing
// from Versions, whose steps the other checks then skip.
func (c *checker) reach() {
	var firsts, lasts []*actor.Version
	for _, v := range c.Versions {
		if v.Lineage().Follows == "" {
			firsts = append(firsts, v)
		}
		if !slices.ContainsFunc(c.steps, func(s actor.Step) bool { return s.From == v && !s.Down }) {
			lasts = append(lasts, v)
		}
	}
	seen := map[[2]*actor.Version]bool{}
	check := func(from, to *actor.Version) {
		if from == to || seen[[2]*actor.Version{from, to}] {
			return
		}
		seen[[2]*actor.Version{from, to}] = true
		if _, err := actor.Route(from, to, c.Versions); err != nil {
			c.problems = append(c.problems, Problem{Kind: Reach, From: from.Name(), To: to.Name(), Err: err})
		}
	}
	for _, v := range c.Versions {
		for _, f := range firsts {
			check(f, v)
		}
		for _, l := range lasts {
			check(v, l)
		}
	}
}

func (c *checker) failure(s actor.Step) {
	c.each(Failure, s.From.Name(), s.To.Name(), func(seed uint64) error {
		_, err := c.run(s, c.state(s.From, seed))
		return err
	})
}

func (c *checker) mutation(s actor.Step) {
	c.each(Mutation, s.From.Name(), s.To.Name(), func(seed uint64) error {
		in := c.state(s.From, seed)
		// A failed migration must leave its input alone too: that is
		// when the old state is resumed.
		_, _ = c.run(s, in)
		if want := c.state(s.From, seed); !c.Equal(want, in) {
			return fmt.Errorf("%v changed its input %+v into %+v", s, want, in)
		}
		return nil
	})
}

// roundTrip checks an up step A→B against the route the runtime would
// take from B back to A, if there is one.
func (c *checker) roundTrip(s actor.Step) {
	if s.Down {
		return
	}
	if _, err := actor.Route(s.To, s.From, c.Versions); err != nil {
		return // B cannot go back down to A: nothing to check
	}
	c.each(RoundTrip, s.From.Name(), s.To.Name(), func(seed uint64) error {
		up, err := c.run(s, c.state(s.From, seed))
		if err != nil {
			return err
		}
		back, err := actor.MigrateState(s.To, s.From, c.Versions, up, c.Extra)
		if err != nil {
			return err
		}
		if want := c.state(s.From, seed); !c.Equal(want, back) {
			return fmt.Errorf("%v and back turned %+v into %+v", s, want, back)
		}
		return nil
	})
}

// shortcut checks a step against the shortest other chain of steps in
// the same direction between its ends, if there is one.
func (c *checker) shortcut(s actor.Step) {
	chain := c.chain(s)
	if chain == nil {
		return
	}
	c.each(Shortcut, s.From.Name(), s.To.Name(), func(seed uint64) error {
		direct, err := c.run(s, c.state(s.From, seed))
		if err != nil {
			return err
		}
		chained := c.state(s.From, seed)
		for _, cs := range chain {
			if chained, err = c.run(cs, chained); err != nil {
				return err
			}
		}
		if !c.Equal(direct, chained) {
			return fmt.Errorf("%v gave %+v, %s gave %+v", s, direct, path(chain), chained)
		}
		return nil
	})
}

// chain finds the shortest chain of steps from s.From to s.To that goes
// the way s does without taking s (breadth first, in the order of steps).
func (c *checker) chain(s actor.Step) []actor.Step {
	prev := map[*actor.Version]actor.Step{s.From: {}}
	for queue := []*actor.Version{s.From}; len(queue) > 0; queue = queue[1:] {
		for _, next := range c.steps {
			if _, seen := prev[next.To]; seen || next.From != queue[0] || next.Down != s.Down || next == s {
				continue
			}
			prev[next.To] = next
			queue = append(queue, next.To)
		}
	}
	if _, ok := prev[s.To]; !ok {
		return nil
	}
	var chain []actor.Step
	for v := s.To; v != s.From; v = prev[v].From {
		chain = append(chain, prev[v])
	}
	slices.Reverse(chain)
	return chain
}

// path renders a chain of steps as "v1→v2→v3".
func path(chain []actor.Step) string {
	out := chain[0].From.Name()
	for _, s := range chain {
		out += "→" + s.To.Name()
	}
	return out
}

// decoding gives v states encoded as a plugin version holds them: its
// own, which it must accept, and every other version's, which it must
// refuse unless it reads them without losing or inventing a field (the
// shapes coincide). Untyped versions keep an encoded state as it is and
// Lenient ones decode it leniently on purpose: only their own states are
// checked.
func (c *checker) decoding(v *actor.Version) {
	strict := false
	c.each(Decoding, v.Name(), v.Name(), func(seed uint64) error {
		e, err := encode(c.state(v, seed))
		if err != nil {
			return err
		}
		_, err = actor.MigrateState(v, v, nil, e, c.Extra)
		strict = strict || e.strict
		if err != nil {
			return fmt.Errorf("%v refuses its own state as JSON %s: %w", v, e.data, err)
		}
		return nil
	})
	if !strict {
		return
	}
	for _, w := range c.Versions {
		if w == v {
			continue
		}
		c.each(Decoding, w.Name(), v.Name(), func(seed uint64) error {
			e, err := encode(c.state(w, seed))
			if err != nil {
				return nil // w's own check reports it
			}
			got, err := actor.MigrateState(v, v, nil, e, c.Extra)
			if err != nil {
				return nil // refused, as it should be
			}
			if same, err := sameJSON(e.data, got); err != nil || same {
				return err
			}
			return fmt.Errorf("%v read %s's state %s as %+v, losing or inventing fields, and is not Lenient", v, w.Name(), e.data, got)
		})
	}
}

// encodedJSON is a state as a plugin version holds it with the JSON codec
// (a codec.Raw of package upgrade/plugin/codec), that records whether it
// was decoded strictly (a Lenient version calls Decode instead; an untyped
// one neither). It decodes as that Raw does: Decode is json.Unmarshal,
// DecodeStrict the core's strict decoding, which the codec's DecodeStrict
// calls too. This package does not import the codec, which is in the
// plugin module with gRPC and protobuf.
type encodedJSON struct {
	data   []byte
	strict bool
}

func encode(state any) (*encodedJSON, error) {
	data, err := json.Marshal(state)
	if err != nil {
		return nil, fmt.Errorf("the state does not encode as JSON: %w", err)
	}
	return &encodedJSON{data: data}, nil
}

func (e *encodedJSON) Decode(into any) error { return json.Unmarshal(e.data, into) }

func (e *encodedJSON) DecodeStrict(into any) error {
	e.strict = true
	return strictjson.Unmarshal(e.data, into)
}

// sameJSON reports whether v encodes as the same JSON value as data:
// decoding data into v's type lost and invented nothing.
func sameJSON(data []byte, v any) (bool, error) {
	again, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	var a, b any
	if err := json.Unmarshal(data, &a); err != nil {
		return false, err
	}
	if err := json.Unmarshal(again, &b); err != nil {
		return false, err
	}
	return reflect.DeepEqual(a, b), nil
}
