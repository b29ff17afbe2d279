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
	Mode    string       `json:"mode,omitempty"`    // atomic (default), lazy, dry_run, rolling
	Timeout string       `json:"timeout,omitempty"` // default DefaultTimeout
	Changes []ChangeSpec `json:"changes"`
	Waves   []float64    `json:"waves,omitempty"`
	Gate    *GateSpec    `json:"gate,omitempty"`
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
// mode, durations that parse and are not negative, at least one change,
// each naming a module and a version. Errors wrap ErrInvalidPlan. It
// changes nothing.
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
	var p Plan
	switch s.Mode {
	case "", "atomic":
		p.Mode = Atomic
	case "lazy":
		p.Mode = Lazy
	case "dry_run":
		p.Mode = DryRun
	case "rolling":
		p.Mode = Rolling
	default:
		return bad("unknown mode %q (atomic, lazy, dry_run, rolling)", s.Mode)
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
	p.Waves = s.Waves
	if len(s.Changes) == 0 {
		return bad("no changes")
	}
	for i, c := range s.Changes {
		if err := c.ref().Validate(); err != nil {
			return bad("change %d: %v", i, err)
		}
	}
	return p, nil
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
// in sys) and returns the plan, validated against sys.
func (s PlanSpec) Resolve(ctx context.Context, sys *actor.System, loader Loader) (Plan, error) {
	p, err := s.shape()
	if err != nil {
		return Plan{}, err
	}
	for _, c := range s.Changes {
		v, err := loader.Load(ctx, sys, c.ref())
		if err != nil {
			return Plan{}, err
		}
		p.Changes = append(p.Changes, Change{Module: c.Module, To: v})
	}
	if err := p.Validate(sys); err != nil {
		return Plan{}, err
	}
	return p, nil
}
