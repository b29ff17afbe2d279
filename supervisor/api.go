package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/graftrt/graft/actor"
)

// Errors of the runtime API. Use errors.Is.
var (
	ErrAlreadyPresent = errors.New("supervisor: a child with that id is present (not running)")
	ErrAlreadyStarted = errors.New("supervisor: a child with that id is running")
	ErrNotFound       = errors.New("supervisor: no such child")
	ErrRunning        = errors.New("supervisor: child is running")
	ErrSimple         = errors.New("supervisor: not supported by simple_one_for_one")
	ErrNotSimple      = errors.New("supervisor: only for simple_one_for_one")
)

// Handle is a running supervisor: its PID and the runtime API
// (supervisor:start_child/2 and friends). Each method is a call to the
// supervisor process, served between its other messages.
type Handle struct {
	sys *actor.System
	pid actor.PID
}

// Start validates flags and specs, then starts a supervisor and its
// children, in order. Invalid input returns a *SpecError naming the child
// and field, and starts nothing; a child that fails to start stops the ones
// already started (in reverse order) and returns the error.
func Start(sys *actor.System, flags Flags, specs []ChildSpec, opts ...actor.SpawnOption) (*Handle, error) {
	if err := validateAll(flags, specs); err != nil {
		return nil, err
	}
	if err := sys.Load(Version); err != nil {
		return nil, err
	}
	pid, err := sys.Spawn(ModuleName, &config{flags: flags, specs: slices.Clone(specs)}, opts...)
	if err != nil {
		return nil, err
	}
	return &Handle{sys: sys, pid: pid}, nil
}

// Of returns a Handle for a supervisor already running as pid (a nested
// one, found through WhichChildren).
func Of(sys *actor.System, pid actor.PID) *Handle { return &Handle{sys: sys, pid: pid} }

// Spec is the child spec of a nested supervisor with the given flags and
// children. Its type is Supervisor (default shutdown: infinity).
func Spec(id string, flags Flags, children []ChildSpec) ChildSpec {
	return ChildSpec{
		ID:    id,
		Start: StartSpec{Module: ModuleName, Args: &config{flags: flags, specs: slices.Clone(children)}},
		Type:  Supervisor,
	}
}

// PID returns the supervisor's PID.
func (h *Handle) PID() actor.PID { return h.pid }

// ChildInfo describes a child (supervisor:which_children/1, plus the
// version its process runs).
type ChildInfo struct {
	ID      string
	PID     actor.PID // zero when not running
	Type    ChildType
	Restart Restart
	Modules []string
	Module  string // the module it was started from
	Version string // the version that built its state ("" when not running)
}

// Counts is supervisor:count_children/1.
type Counts struct {
	Specs, Active, Supervisors, Workers int
}

type (
	startChildReq     struct{ spec ChildSpec }
	startSimpleReq    struct{ args any }
	terminateChildReq struct {
		id  string
		pid actor.PID
	}
	restartChildReq  struct{ id string }
	deleteChildReq   struct{ id string }
	whichChildrenReq struct{}
	countChildrenReq struct{}
	flagsReq         struct{}
)

// Flags returns the supervisor's flags, with OTP's defaults filled in
// (what a harness checks restart intensity against).
func (h *Handle) Flags(ctx context.Context) (Flags, error) {
	r, err := h.sys.Call(ctx, h.pid, flagsReq{})
	if err != nil {
		return Flags{}, err
	}
	return r.(Flags), nil
}

// StartChild adds a child spec and starts it (not for simple_one_for_one).
func (h *Handle) StartChild(ctx context.Context, spec ChildSpec) (actor.PID, error) {
	return h.callPID(ctx, startChildReq{spec: spec})
}

// StartSimpleChild starts an instance of a simple_one_for_one
// supervisor's child spec with args as its Init arguments.
func (h *Handle) StartSimpleChild(ctx context.Context, args any) (actor.PID, error) {
	return h.callPID(ctx, startSimpleReq{args: args})
}

// TerminateChild terminates the child id by its shutdown spec and keeps
// its spec (a temporary child's spec is removed).
func (h *Handle) TerminateChild(ctx context.Context, id string) error {
	_, err := h.sys.Call(ctx, h.pid, terminateChildReq{id: id})
	return err
}

// TerminateSimpleChild terminates an instance of a simple_one_for_one
// supervisor.
func (h *Handle) TerminateSimpleChild(ctx context.Context, pid actor.PID) error {
	_, err := h.sys.Call(ctx, h.pid, terminateChildReq{pid: pid})
	return err
}

// RestartChild starts the child id again; it must not be running.
func (h *Handle) RestartChild(ctx context.Context, id string) (actor.PID, error) {
	return h.callPID(ctx, restartChildReq{id: id})
}

// DeleteChild removes the spec of child id; it must not be running.
func (h *Handle) DeleteChild(ctx context.Context, id string) error {
	_, err := h.sys.Call(ctx, h.pid, deleteChildReq{id: id})
	return err
}

// WhichChildren lists the children in start order, each with the version
// its process runs.
func (h *Handle) WhichChildren(ctx context.Context) ([]ChildInfo, error) {
	out, err := h.list(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].PID.IsZero() {
			continue
		}
		// Asked of each child, not of the supervisor: its state is the
		// child's own. A child that exited meanwhile shows no version.
		if info, err := h.sys.Info(ctx, out[i].PID); err == nil {
			out[i].Version = info.Version
		}
	}
	return out, nil
}

// list is WhichChildren without the versions: one call to the supervisor.
func (h *Handle) list(ctx context.Context) ([]ChildInfo, error) {
	r, err := h.sys.Call(ctx, h.pid, whichChildrenReq{})
	if err != nil {
		return nil, err
	}
	return r.([]ChildInfo), nil
}

// CountChildren counts specs and running children.
func (h *Handle) CountChildren(ctx context.Context) (Counts, error) {
	r, err := h.sys.Call(ctx, h.pid, countChildrenReq{})
	if err != nil {
		return Counts{}, err
	}
	return r.(Counts), nil
}

func (h *Handle) callPID(ctx context.Context, req any) (actor.PID, error) {
	r, err := h.sys.Call(ctx, h.pid, req)
	if err != nil {
		return actor.PID{}, err
	}
	return r.(actor.PID), nil
}

// request serves the runtime API inside the supervisor.
func (s *state) request(ctx *actor.Context, msg any) {
	reply := func(v any, err error) {
		if err != nil {
			ctx.ReplyError(err)
		} else {
			ctx.Reply(v)
		}
	}
	simple := s.flags.Strategy == SimpleOneForOne
	switch m := msg.(type) {
	case startChildReq:
		if simple {
			reply(nil, ErrSimple)
			return
		}
		reply(s.startChild(ctx, m.spec))
	case startSimpleReq:
		if !simple {
			reply(nil, ErrNotSimple)
			return
		}
		spec := s.template
		spec.Start.Args = m.args
		c := &child{spec: spec}
		if err := s.start(ctx, c, false); err != nil {
			reply(nil, err)
			return
		}
		s.children = append(s.children, c)
		reply(c.pid, nil)
	case terminateChildReq:
		c := s.byID(m.id)
		if simple {
			if m.pid.IsZero() {
				reply(nil, ErrSimple) // instances are terminated by PID
				return
			}
			c = s.byPID(m.pid)
		}
		if c == nil {
			reply(nil, fmt.Errorf("%w: %q", ErrNotFound, m.id))
			return
		}
		if !c.pid.IsZero() {
			s.shutdown(ctx, c)
		}
		s.forget(c)
		reply(nil, nil)
	case restartChildReq:
		c, err := s.stopped(m.id)
		if err == nil {
			err = s.start(ctx, c, false)
		}
		if err != nil {
			reply(nil, err)
			return
		}
		reply(c.pid, nil)
	case deleteChildReq:
		c, err := s.stopped(m.id)
		if err == nil {
			s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
		}
		reply(nil, err)
	case upgradeSpecsReq:
		acts, err := s.upgradeSpecs(ctx, m.specs, m.specsOnly)
		reply(specsResult{acts: acts, err: err}, nil)
	case flagsReq:
		reply(s.flags, nil)
	case whichChildrenReq:
		out := make([]ChildInfo, 0, len(s.children))
		for _, c := range s.children {
			out = append(out, ChildInfo{ID: c.spec.ID, PID: c.pid, Type: c.spec.Type, Restart: c.spec.Restart,
				Modules: slices.Clone(c.spec.Modules), Module: c.spec.Start.Module})
		}
		reply(out, nil)
	case countChildrenReq:
		var n Counts
		if !simple {
			n.Specs = len(s.children)
		} else {
			n.Specs = 1
		}
		for _, c := range s.children {
			if c.spec.Type == Supervisor {
				n.Supervisors++
			} else {
				n.Workers++
			}
			if !c.pid.IsZero() {
				n.Active++
			}
		}
		reply(n, nil)
	default:
		ctx.Log().Warn("supervisor: unexpected message ignored")
		reply(nil, fmt.Errorf("supervisor: unexpected request %T", msg))
	}
}

// stopped finds child id for restart_child and delete_child, which
// require a present child that is not running.
func (s *state) stopped(id string) (*child, error) {
	c := s.byID(id)
	switch {
	case s.flags.Strategy == SimpleOneForOne:
		return nil, ErrSimple
	case c == nil:
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	case !c.pid.IsZero():
		return nil, fmt.Errorf("%w: %q is %v", ErrRunning, id, c.pid)
	}
	return c, nil
}

// startChild validates spec, adds it at the end of the start order and
// starts it.
func (s *state) startChild(ctx *actor.Context, spec ChildSpec) (actor.PID, error) {
	if err := spec.validate(s.flags); err != nil {
		return actor.PID{}, err
	}
	if c := s.byID(spec.ID); c != nil {
		if c.pid.IsZero() {
			return actor.PID{}, fmt.Errorf("%w: %q", ErrAlreadyPresent, spec.ID)
		}
		return actor.PID{}, fmt.Errorf("%w: %q is %v", ErrAlreadyStarted, spec.ID, c.pid)
	}
	c := &child{spec: spec.withDefaults()}
	if err := s.start(ctx, c, false); err != nil {
		return actor.PID{}, err
	}
	s.children = append(s.children, c)
	return c.pid, nil
}
