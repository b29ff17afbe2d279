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
	ErrRestarting     = errors.New("supervisor: child is restarting")
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
	ID  string
	PID actor.PID // zero when not running
	// Restarting: a restart failed and is queued to be tried again (OTP's
	// restarting in place of the pid); PID is zero.
	Restarting bool
	Type       ChildType
	Restart    Restart
	Modules    []string
	Module     string // the module it was started from
	Version    string // the version that built its state ("" when not running)
	// Pinned: a rolling upgrade runs the child on Version ahead of the
	// module's current version.
	Pinned bool
	// Restarts counts the restarts of this child since its spec was
	// added (OTP keeps no such count).
	Restarts int
}

// Counts is supervisor:count_children/1. Active counts running children
// only: not those restarting.
type Counts struct {
	Specs, Active, Supervisors, Workers int
}

type (
	startChildReq struct {
		spec ChildSpec
		info bool // reply with the start info
	}
	startSimpleReq struct {
		args any
		opts []actor.SpawnOption
		info bool
	}
	terminateChildReq struct {
		id  string
		pid actor.PID
	}
	restartChildReq struct {
		id   string
		info bool
	}
	deleteChildReq struct{ id string }
	childSpecReq   struct {
		id  string
		pid actor.PID
	}
	whichChildrenReq struct{}
	countChildrenReq struct{}
	flagsReq         struct{}
)

// started is the reply to a start: the PID (zero when the child's Init
// returned actor.Ignore) and the start info, when asked for.
type started struct {
	pid  actor.PID
	info any
}

// StartOption changes one call of StartChild, RestartChild or
// StartSimpleChild.
type StartOption interface{ applyStart(*startOptions) }

type startOptions struct {
	info  *any
	spawn []actor.SpawnOption
}

type startOptionFunc func(*startOptions)

func (f startOptionFunc) applyStart(o *startOptions) { f(o) }

// StartInfo makes a successful start store in *dst the info the child's
// Init handed back with actor.Context.SetStartInfo: OTP's {ok, Pid, Info}
// from a start function (nil if Init set none, or returned actor.Ignore).
// *dst is written on the caller's goroutine, before the call returns. The
// info of the supervisor's own restarts is not kept, as in OTP.
func StartInfo(dst *any) StartOption {
	return startOptionFunc(func(o *startOptions) { o.info = dst })
}

// SpawnOptions gives one simple_one_for_one instance spawn options of its
// own, passed after the template's Start.Options: a registered name
// (actor.WithName), a mailbox bound. They belong to that instance: its
// restarts use them, SimpleChildSpec reports them, and a new template
// (UpgradeSpecs) keeps them. Only StartSimpleChild takes them; a child spec
// carries its own in Start.Options, so StartChild and RestartChild fail
// with ErrNotSimple. Options meant for one spawn (actor.WithStartInfo,
// actor.WithBacklog) do not belong here: they would apply to every
// restart; use StartInfo for the start info.
func SpawnOptions(opts ...actor.SpawnOption) StartOption {
	return startOptionFunc(func(o *startOptions) { o.spawn = append(o.spawn, opts...) })
}

func startOpts(opts []StartOption) startOptions {
	var o startOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyStart(&o)
		}
	}
	return o
}

// errSpawnOptions refuses SpawnOptions outside StartSimpleChild.
var errSpawnOptions = fmt.Errorf("%w: SpawnOptions are for StartSimpleChild (a child spec has Start.Options)", ErrNotSimple)

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
// If the child's Init returns actor.Ignore, the spec is kept (a temporary
// one is not) with the child not running, and StartChild returns a zero
// PID and no error (OTP's {ok, undefined}). StartInfo receives the start
// info.
func (h *Handle) StartChild(ctx context.Context, spec ChildSpec, opts ...StartOption) (actor.PID, error) {
	o := startOpts(opts)
	if len(o.spawn) > 0 {
		return actor.PID{}, errSpawnOptions
	}
	return h.callStart(ctx, startChildReq{spec: spec, info: o.info != nil}, o)
}

// StartSimpleChild starts an instance of a simple_one_for_one
// supervisor's child spec with args as its Init arguments, and with the
// instance's own SpawnOptions if given (each instance can have its own
// registered name, kept across its restarts). If its Init returns
// actor.Ignore, nothing is kept and StartSimpleChild returns a zero PID
// and no error, as OTP does. StartInfo receives the start info.
func (h *Handle) StartSimpleChild(ctx context.Context, args any, opts ...StartOption) (actor.PID, error) {
	o := startOpts(opts)
	return h.callStart(ctx, startSimpleReq{args: args, opts: o.spawn, info: o.info != nil}, o)
}

// TerminateChild terminates the child id by its shutdown spec and keeps
// its spec (a temporary child's spec is removed). A restarting child's
// pending restart is cancelled: it stays not running.
func (h *Handle) TerminateChild(ctx context.Context, id string) error {
	_, err := h.sys.Call(ctx, h.pid, terminateChildReq{id: id})
	return err
}

// TerminateSimpleChild terminates an instance of a simple_one_for_one
// supervisor by its PID; a restarting instance is found by the PID of the
// process that exited, and its restart cancelled. A PID that is not alive
// is not an error (OTP returns ok: there is nothing left to terminate); a
// live process that is not an instance is ErrNotFound.
func (h *Handle) TerminateSimpleChild(ctx context.Context, pid actor.PID) error {
	_, err := h.sys.Call(ctx, h.pid, terminateChildReq{pid: pid})
	return err
}

// RestartChild starts the child id again; it must be neither running
// (ErrRunning) nor restarting (ErrRestarting). A start that returns
// actor.Ignore leaves it not running and returns a zero PID and no error.
// StartInfo receives the start info.
func (h *Handle) RestartChild(ctx context.Context, id string, opts ...StartOption) (actor.PID, error) {
	o := startOpts(opts)
	if len(o.spawn) > 0 {
		return actor.PID{}, errSpawnOptions
	}
	return h.callStart(ctx, restartChildReq{id: id, info: o.info != nil}, o)
}

// DeleteChild removes the spec of child id; it must be neither running
// (ErrRunning) nor restarting (ErrRestarting).
func (h *Handle) DeleteChild(ctx context.Context, id string) error {
	_, err := h.sys.Call(ctx, h.pid, deleteChildReq{id: id})
	return err
}

// ChildSpec returns the spec of child id with every field, defaults
// filled in (supervisor:get_childspec/2). Under simple_one_for_one the id
// names the template, as in OTP; SimpleChildSpec returns an instance's.
// The slices are copies; Start.Args is the value the child was given.
func (h *Handle) ChildSpec(ctx context.Context, id string) (ChildSpec, error) {
	return h.callSpec(ctx, childSpecReq{id: id})
}

// SimpleChildSpec returns the spec an instance of a simple_one_for_one
// supervisor runs, found by its PID (a restarting one by the PID that
// exited): the template with the instance's Init arguments, and with its
// own SpawnOptions after the template's Start.Options.
func (h *Handle) SimpleChildSpec(ctx context.Context, pid actor.PID) (ChildSpec, error) {
	return h.callSpec(ctx, childSpecReq{pid: pid})
}

func (h *Handle) callSpec(ctx context.Context, req childSpecReq) (ChildSpec, error) {
	r, err := h.sys.Call(ctx, h.pid, req)
	if err != nil {
		return ChildSpec{}, err
	}
	return r.(ChildSpec), nil
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
		// Read from each child's published version, not asked of the
		// supervisor: its state is the child's own. A child that exited
		// meanwhile, or is still in Init, shows no version.
		if v, ok := h.sys.VersionOf(out[i].PID); ok {
			out[i].Version, out[i].Pinned = v.Version, v.Pinned
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

func (h *Handle) callStart(ctx context.Context, req any, o startOptions) (actor.PID, error) {
	r, err := h.sys.Call(ctx, h.pid, req)
	if err != nil {
		return actor.PID{}, err
	}
	st := r.(started)
	if o.info != nil {
		*o.info = st.info
	}
	return st.pid, nil
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
		reply(s.startChild(ctx, m.spec, m.info))
	case startSimpleReq:
		if !simple {
			reply(nil, ErrNotSimple)
			return
		}
		spec := s.template
		spec.Start.Args = m.args
		if spec.KeepName && actor.SpawnName(slices.Concat(spec.Start.Options, m.opts)...) == "" {
			reply(nil, &SpecError{Child: spec.ID, Field: "keep_name",
				Reason: "needs a registered name (actor.WithName in the template's Start.Options or the instance's SpawnOptions)"})
			return
		}
		c := &child{spec: spec, own: m.opts}
		info, err := s.start(ctx, c, false, m.info, false)
		if err != nil {
			reply(nil, err)
			return
		}
		if !c.pid.IsZero() { // an ignored instance is not kept (OTP)
			s.children = append(s.children, c)
		}
		reply(started{pid: c.pid, info: info}, nil)
	case terminateChildReq:
		var c *child
		if simple {
			if m.pid.IsZero() {
				reply(nil, ErrSimple) // instances are terminated by PID
				return
			}
			if c = s.instance(m.pid); c == nil && !ctx.System().Alive(m.pid) {
				// OTP's terminate_child finds no instance and a dead
				// process: ok, the process is terminated already.
				reply(nil, nil)
				return
			}
		} else {
			c = s.byID(m.id)
		}
		if c == nil {
			reply(nil, notFound(m.id, m.pid))
			return
		}
		if !c.pid.IsZero() {
			s.shutdown(ctx, c)
		}
		if c.restarting {
			// The queued retry finds the child no longer restarting and
			// does nothing: the restart is cancelled.
			undeliverable(ctx, c.last, c.inherit, actor.Shutdown)
			c.inherit = nil
			release(ctx, c, actor.Shutdown)
		}
		s.forget(c)
		reply(nil, nil)
	case restartChildReq:
		c, err := s.stopped(m.id)
		var info any
		if err == nil {
			info, err = s.start(ctx, c, false, m.info, false)
		}
		if err != nil {
			reply(nil, err)
			return
		}
		reply(started{pid: c.pid, info: info}, nil)
	case childSpecReq:
		spec, err := s.childSpec(m.id, m.pid)
		reply(spec, err)
	case deleteChildReq:
		c, err := s.stopped(m.id)
		if err == nil {
			s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
		}
		reply(nil, err)
	case upgradeSpecsReq:
		acts, err := s.upgradeSpecs(ctx, m.specs, m.opts)
		reply(specsResult{acts: acts, err: err}, nil)
	case flagsReq:
		reply(s.flags, nil)
	case whichChildrenReq:
		out := make([]ChildInfo, 0, len(s.children))
		for _, c := range s.children {
			out = append(out, ChildInfo{ID: c.spec.ID, PID: c.pid, Restarting: c.restarting, Type: c.spec.Type,
				Restart: c.spec.Restart, Modules: slices.Clone(c.spec.Modules), Module: c.spec.Start.Module,
				Restarts: c.restarts})
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
// require a present child that is neither running nor restarting.
func (s *state) stopped(id string) (*child, error) {
	c := s.byID(id)
	switch {
	case s.flags.Strategy == SimpleOneForOne:
		return nil, ErrSimple
	case c == nil:
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	case !c.pid.IsZero():
		return nil, fmt.Errorf("%w: %q is %v", ErrRunning, id, c.pid)
	case c.restarting:
		return nil, fmt.Errorf("%w: %q", ErrRestarting, id)
	}
	return c, nil
}

// instance finds a simple_one_for_one instance by its PID, or a
// restarting one by the PID of the process that exited (OTP keeps it as
// {restarting, OldPid}).
func (s *state) instance(pid actor.PID) *child {
	if c := s.byPID(pid); c != nil {
		return c
	}
	for _, c := range s.children {
		if c.restarting && c.last == pid {
			return c
		}
	}
	return nil
}

func notFound(id string, pid actor.PID) error {
	if !pid.IsZero() {
		return fmt.Errorf("%w: %v", ErrNotFound, pid)
	}
	return fmt.Errorf("%w: %q", ErrNotFound, id)
}

// childSpec is get_childspec: by id, the child's spec (under
// simple_one_for_one, the template's id names the template); by PID, a
// simple_one_for_one instance's. OTP looks PIDs up under simple_one_for_one
// only, and so does this.
func (s *state) childSpec(id string, pid actor.PID) (ChildSpec, error) {
	simple := s.flags.Strategy == SimpleOneForOne
	var spec ChildSpec
	switch {
	case !pid.IsZero() && simple:
		c := s.instance(pid)
		if c == nil {
			return ChildSpec{}, notFound(id, pid)
		}
		spec = c.spec
		spec.Start.Options = slices.Concat(c.spec.Start.Options, c.own)
	case !pid.IsZero():
		return ChildSpec{}, notFound(id, pid)
	case simple && id == s.template.ID:
		spec = s.template
	case simple:
		return ChildSpec{}, notFound(id, pid)
	default:
		c := s.byID(id)
		if c == nil {
			return ChildSpec{}, notFound(id, pid)
		}
		spec = c.spec
	}
	spec.Start.Options = slices.Clone(spec.Start.Options)
	spec.Modules = slices.Clone(spec.Modules)
	return spec, nil
}

// startChild validates spec, adds it at the end of the start order and
// starts it. A temporary child whose start was ignored is not added.
func (s *state) startChild(ctx *actor.Context, spec ChildSpec, info bool) (started, error) {
	if err := spec.validate(s.flags); err != nil {
		return started{}, err
	}
	if c := s.byID(spec.ID); c != nil {
		if c.pid.IsZero() {
			return started{}, fmt.Errorf("%w: %q", ErrAlreadyPresent, spec.ID)
		}
		return started{}, fmt.Errorf("%w: %q is %v", ErrAlreadyStarted, spec.ID, c.pid)
	}
	c := &child{spec: spec.withDefaults()}
	out, err := s.start(ctx, c, false, info, false)
	if err != nil {
		return started{}, err
	}
	if !c.pid.IsZero() || c.spec.Restart != Temporary {
		s.children = append(s.children, c)
	}
	return started{pid: c.pid, info: out}, nil
}
