package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
)

// PlanSpec is a plan as data: what an operator writes (JSON) and the admin
// API and the graft command take. ParsePlan checks its syntax; Resolve
// loads the versions it names and returns the Plan. Durations are Go
// durations ("250ms", "5s").
//
//	{"mode": "rolling", "timeout": "5s", "waves": [0.05, 1],
//	 "gate": {"observe": "30s", "max_crashes": 0},
//	 "changes": [{"module": "visits", "version": "v3",
//	              "path": "/srv/plugins/visits-v3", "checksum": "f2f1…"}]}
type PlanSpec struct {
	Mode    string       `json:"mode,omitempty"`    // atomic (default), lazy, rolling
	DryRun  bool         `json:"dry_run,omitempty"` // compute and simulate, change nothing
	Timeout string       `json:"timeout,omitempty"` // default DefaultTimeout
	Changes []ChangeSpec `json:"changes"`
	Waves   []float64    `json:"waves,omitempty"`
	Gate    *GateSpec    `json:"gate,omitempty"`
	// Policies (see Plan): stragglers "migrate" (default), "refuse" or
	// "kill"; on_timeout "rollback" (default) or "skip";
	// on_rollback_failure "kill" (default) or "keep".
	Stragglers        string `json:"stragglers,omitempty"`
	OnTimeout         string `json:"on_timeout,omitempty"`
	OnRollbackFailure string `json:"on_rollback_failure,omitempty"`
}

// ChangeSpec is one change: the version to move a module to, by
// reference (path and checksum for a plugin version).
type ChangeSpec struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Path     string `json:"path,omitempty"`
	Checksum string `json:"checksum,omitempty"`
}

// GateSpec is a rolling upgrade's gate.
type GateSpec struct {
	Observe    string `json:"observe,omitempty"`
	MaxCrashes int    `json:"max_crashes,omitempty"`
}

// ParsePlan decodes a PlanSpec from JSON and checks everything that can be
// checked without a system: known fields only, one JSON value, a known
// mode and policies, durations that parse and are not negative, waves
// strictly increasing within (0, 1] and ending at 1 (rolling plans only),
// at least one change, each naming a module and a version, each module
// once. Errors wrap ErrInvalidPlan. It changes nothing.
func ParsePlan(data []byte) (PlanSpec, error) {
	var s PlanSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return PlanSpec{}, fmt.Errorf("%w: %v", ErrInvalidPlan, err)
	}
	if dec.More() {
		return PlanSpec{}, fmt.Errorf("%w: more than one JSON value", ErrInvalidPlan)
	}
	if _, err := s.shape(); err != nil {
		return PlanSpec{}, err
	}
	return s, nil
}

// shape turns the spec into a Plan without versions, checking syntax.
func (s PlanSpec) shape() (Plan, error) {
	bad := func(format string, args ...any) (Plan, error) {
		return Plan{}, fmt.Errorf("%w: %s", ErrInvalidPlan, fmt.Sprintf(format, args...))
	}
	p := Plan{DryRun: s.DryRun}
	var ok bool
	if p.Mode, ok = pick(s.Mode, modeNames[:], Atomic); !ok {
		return bad("unknown mode %q (atomic, lazy, rolling)", s.Mode)
	}
	if p.Stragglers, ok = pick(s.Stragglers, stragglerNames[:], MigrateStragglers); !ok {
		return bad("unknown straggler policy %q (migrate, refuse, kill)", s.Stragglers)
	}
	if p.OnTimeout, ok = pick(s.OnTimeout, []string{"rollback", "skip"}, RollBackOnTimeout); !ok {
		return bad("unknown on_timeout %q (rollback, skip)", s.OnTimeout)
	}
	if p.OnRollbackFailure, ok = pick(s.OnRollbackFailure, []string{"kill", "keep"}, KillOnRollbackFailure); !ok {
		return bad("unknown on_rollback_failure %q (kill, keep)", s.OnRollbackFailure)
	}
	var err error
	if p.Timeout, err = duration(s.Timeout); err != nil {
		return bad("timeout: %v", err)
	}
	if s.Gate != nil {
		if p.Gate.Observe, err = duration(s.Gate.Observe); err != nil {
			return bad("gate observe: %v", err)
		}
		if s.Gate.MaxCrashes < 0 {
			return bad("negative gate max_crashes")
		}
		p.Gate.MaxCrashes = s.Gate.MaxCrashes
	}
	if err := checkWaves(s.Waves); err != nil {
		return bad("%v", err)
	}
	if len(s.Waves) > 0 && p.Mode != Rolling {
		return bad("waves are for rolling plans, not %v", p.Mode)
	}
	p.Waves = s.Waves
	if len(s.Changes) == 0 {
		return bad("no changes")
	}
	seen := map[string]bool{}
	for i, c := range s.Changes {
		if err := c.ref().Validate(); err != nil {
			return bad("change %d: %v", i, err)
		}
		if seen[c.Module] {
			return bad("module %s changed twice", c.Module)
		}
		seen[c.Module] = true
	}
	return p, nil
}

// pick finds name among names (its index is the value); "" is def.
func pick[T ~uint8](name string, names []string, def T) (T, bool) {
	if name == "" {
		return def, true
	}
	for i, n := range names {
		if n == name {
			return T(i), true
		}
	}
	return def, false
}

func duration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative duration %s", s)
	}
	return d, err
}

func (c ChangeSpec) ref() Ref {
	return Ref{Module: c.Module, Version: c.Version, Path: c.Path, Checksum: c.Checksum}
}

// Resolve loads the versions the spec names through loader (staging them
// in sys) and returns the plan, validated against sys. If anything fails,
// the versions it staged leave sys again: a refused spec stages nothing.
func (s PlanSpec) Resolve(ctx context.Context, sys *actor.System, loader Loader) (Plan, error) {
	p, err := s.shape()
	if err != nil {
		return Plan{}, err
	}
	var staged []*actor.Version
	fail := func(err error) (Plan, error) {
		for _, v := range staged {
			sys.Unstage(v)
		}
		return Plan{}, err
	}
	for _, c := range s.Changes {
		known := sys.Activations(c.Module, c.Version) >= 0
		v, err := loader.Load(ctx, sys, c.ref())
		if err != nil {
			return fail(err)
		}
		if !known {
			staged = append(staged, v)
		}
		p.Changes = append(p.Changes, Change{Module: c.Module, To: v})
	}
	if err := p.Validate(sys); err != nil {
		return fail(err)
	}
	return p, nil
}
