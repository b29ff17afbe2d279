package supervisor

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// SpecAction is one step of a child-spec upgrade.
type SpecAction struct {
	Op string // "stop", "restart" or "start"
	ID string
}

// UpgradeSpecs replaces the supervisor's child specs with specs (a
// release's new supervisor configuration), applying the difference as
// ordered actions: children whose spec is gone are stopped (reverse start
// order) and deleted; children whose spec changed are restarted with it,
// together with the siblings the strategy restarts with them (one_for_all:
// all; rest_for_one: those after it); new children are started; the start
// order becomes the order of specs. Specs compare by every field but
// Start.Options (functions cannot be compared). Invalid specs change
// nothing. For simple_one_for_one, specs is the one new template: running
// instances keep theirs, new instances use it.
//
// OTP's supervisor:change_code only replaces the specs and never stops or
// starts children; releases do that with explicit instructions. Here the
// diff is the instruction list.
func (h *Handle) UpgradeSpecs(ctx context.Context, specs []ChildSpec) ([]SpecAction, error) {
	r, err := h.sys.Call(ctx, h.pid, upgradeSpecsReq{specs: slices.Clone(specs)})
	if err != nil {
		return nil, err
	}
	acts, _ := r.([]SpecAction)
	return acts, nil
}

type upgradeSpecsReq struct{ specs []ChildSpec }

func sameSpec(a, b ChildSpec) bool {
	a.Start.Options, b.Start.Options = nil, nil
	return reflect.DeepEqual(a, b)
}

// upgradeSpecs applies a child-spec upgrade inside the supervisor.
func (s *state) upgradeSpecs(ctx *actor.Context, specs []ChildSpec) ([]SpecAction, error) {
	if err := validateAll(s.flags, specs); err != nil {
		return nil, err
	}
	if s.flags.Strategy == SimpleOneForOne {
		s.template = specs[0].withDefaults()
		return nil, nil
	}
	var acts []SpecAction
	next := make(map[string]ChildSpec, len(specs))
	for _, sp := range specs {
		next[sp.ID] = sp.withDefaults()
	}
	// Which running children go down: removed ones, changed ones and the
	// siblings the strategy takes with them.
	down := map[*child]string{}
	for i, c := range s.children {
		sp, kept := next[c.spec.ID]
		switch {
		case !kept:
			down[c] = "stop"
		case !sameSpec(sp, c.spec):
			down[c] = "restart"
			var group []*child
			switch s.flags.Strategy {
			case OneForAll:
				group = s.children
			case RestForOne:
				group = s.children[i:]
			}
			for _, g := range group {
				if _, ok := down[g]; !ok {
					down[g] = "restart"
				}
			}
		}
	}
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		op, ok := down[c]
		if !ok {
			continue
		}
		if !c.pid.IsZero() {
			s.shutdown(ctx, c)
		}
		if op == "stop" {
			acts = append(acts, SpecAction{Op: "stop", ID: c.spec.ID})
		}
	}
	// The new order; start what is new or was taken down, left to right.
	byID := map[string]*child{}
	for _, c := range s.children {
		byID[c.spec.ID] = c
	}
	children := make([]*child, 0, len(specs))
	for _, sp := range specs {
		c := byID[sp.ID]
		op := "start"
		if c != nil {
			op = down[c]
		} else {
			c = &child{}
		}
		c.spec = next[sp.ID]
		children = append(children, c)
		if op == "" {
			continue // unchanged and left running (or left stopped)
		}
		if err := s.start(ctx, c, op == "restart"); err != nil {
			ctx.Log().Error("child-spec upgrade: start failed", zap.String("child", sp.ID), zap.Error(err))
			s.children = children
			return acts, fmt.Errorf("supervisor: spec upgrade: %w", err)
		}
		acts = append(acts, SpecAction{Op: op, ID: sp.ID})
	}
	s.children = children
	return acts, nil
}
