package supervisor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// SpecAction is one thing a child-spec upgrade did, in the order it
// happened. Op is one of:
//
//	stop     the child's process was shut down (by its Shutdown spec)
//	restart  the child's process was started again: with its new spec, or
//	         with its old one when Rollback is set
//	start    a child new in the specs was started
//	delete   the child's spec was removed (it was not running, or had
//	         just been stopped)
//	add      the child's spec was added without starting it
//	update   the child's spec was replaced; its process, if any, was left
//	         as it was and runs the new spec from its next restart
//	keep     SpecsOnly: the child's spec is not in the new specs, and the
//	         child and its old spec were kept (OTP's rule)
//	flags    WithFlags: the supervisor's flags were replaced (ID is empty)
//
// Rollback marks the actions that undid an upgrade that failed. Err is set
// on the action that failed (which then did not take place): the start that
// made the upgrade fail, or a restart of an old spec during the rollback.
type SpecAction struct {
	Op       string
	ID       string
	Rollback bool
	Err      error
}

func (a SpecAction) String() string {
	s := a.Op
	if a.ID != "" {
		s += " " + a.ID
	}
	if a.Rollback {
		s = "rollback " + s
	}
	if a.Err != nil {
		s += ": " + a.Err.Error()
	}
	return s
}

// ErrSpecsRolledBack is wrapped by the error of a child-spec upgrade that
// failed while it was being applied and was undone (use errors.Is).
var ErrSpecsRolledBack = errors.New("supervisor: child-spec upgrade rolled back")

// SpecOption changes how UpgradeSpecs applies the new specs.
type SpecOption interface{ applySpec(*specOptions) }

type specOptions struct {
	specsOnly bool
	flags     *Flags // WithFlags
}

type specOptionFunc func(*specOptions)

func (f specOptionFunc) applySpec(o *specOptions) { f(o) }

// SpecsOnly makes UpgradeSpecs do what OTP's supervisor code change
// (supervisor:code_change/3, through sys:change_code) does: replace the
// specs and start or stop nothing. A running child keeps running and runs
// its new spec from its next restart; a child new in the specs is added
// without being started (RestartChild starts it); a child whose spec is not
// in the new specs is kept with its old spec, running or not, after the new
// ones in the start order (TerminateChild and DeleteChild remove it). Under
// simple_one_for_one the template is replaced and the running instances
// restart with it (and their own arguments).
func SpecsOnly() SpecOption { return specOptionFunc(func(o *specOptions) { o.specsOnly = true }) }

// WithFlags makes UpgradeSpecs replace the supervisor's flags too, as
// OTP's supervisor code change takes the flags its init/1 returns then.
// The flags are checked as at Start (a zero Flags is OTP's defaults) and
// the new specs against them; the strategy cannot change to or from
// simple_one_for_one (an *SpecError, as OTP cannot make that change
// either: the children are kept differently). The flags apply from the
// supervisor's next decision: intensity and period at the next restart
// (restarts already counted stay counted, judged by the new period), the
// strategy at the next restart, auto_shutdown at the next child exit.
// When applying the difference, the new strategy also decides which
// running siblings restart with a changed child. The action "flags" is
// reported when they differ from the old ones; an upgrade that is rolled
// back keeps the old flags.
func WithFlags(f Flags) SpecOption {
	return specOptionFunc(func(o *specOptions) { o.flags = &f })
}

// UpgradeSpecs replaces the supervisor's child specs with specs (a
// release's new supervisor configuration) and returns what it did.
//
// By default it applies the difference: children whose spec is gone are
// stopped (reverse start order) and deleted; running children whose spec
// changed are stopped and restarted with it, together with the running
// siblings the strategy restarts with them (one_for_all: all; rest_for_one:
// those after it); new children are started; the start order becomes the
// order of specs. A child that is not running stays so (a changed spec is
// only recorded). Specs compare by every field but Start.Options (functions
// cannot be compared). For simple_one_for_one, specs is the one new
// template: running instances keep theirs, new instances use it. With
// SpecsOnly it does what OTP's supervisor code change does instead (see
// SpecsOnly).
//
// It is all or nothing. Every spec is validated, and every module it
// names must be loaded, before anything is touched: invalid specs return a
// *SpecError (ErrInvalidSpec), an unknown module actor.ErrUnknownModule,
// and change nothing. If a start fails while the difference is applied,
// what was done is undone in reverse order — children it started are
// stopped and deleted, children it stopped are started again with their
// old specs (new processes, as after any restart) — the old specs and
// start order are restored, and the error wraps ErrSpecsRolledBack and the
// start's error. An old spec that fails to start again during the rollback
// is reported (its action's Err) and its child is kept, not running, with
// its old spec: a permanent or transient one is retried under the
// supervisor's restart intensity as a failed restart is, a temporary one
// waits for RestartChild or DeleteChild.
//
// The actions are what happened, in order, including the rollback; they
// are returned with the error too. OTP's supervisor code change only
// replaces the specs; releases then stop and start children with explicit
// instructions (terminate_child, delete_child, restart_child, start_child),
// which are the actions here.
func (h *Handle) UpgradeSpecs(ctx context.Context, specs []ChildSpec, opts ...SpecOption) ([]SpecAction, error) {
	var o specOptions
	for _, opt := range opts {
		opt.applySpec(&o)
	}
	r, err := h.sys.Call(ctx, h.pid, upgradeSpecsReq{specs: slices.Clone(specs), opts: o})
	if err != nil {
		return nil, err
	}
	res, _ := r.(specsResult)
	return res.acts, res.err
}

type upgradeSpecsReq struct {
	specs []ChildSpec
	opts  specOptions
}

// specsResult is the reply to upgradeSpecsReq: the actions are answered
// with the error, which a call's error reply could not carry.
type specsResult struct {
	acts []SpecAction
	err  error
}

func sameSpec(a, b ChildSpec) bool {
	a.Start.Options, b.Start.Options = nil, nil
	return reflect.DeepEqual(a, b)
}

// upgradeSpecs runs a child-spec upgrade inside the supervisor: check
// everything, plan (pure), then run the plan, undoing it on failure. New
// flags are set last, once nothing can fail.
func (s *state) upgradeSpecs(ctx *actor.Context, specs []ChildSpec, o specOptions) ([]SpecAction, error) {
	flags, err := s.newFlags(o.flags)
	if err != nil {
		return nil, err
	}
	if err := validateAll(flags, specs); err != nil {
		return nil, err
	}
	if err := knownModules(ctx.System(), specs); err != nil {
		return nil, err
	}
	if o.specsOnly && o.flags != nil {
		if err := s.checkKept(flags, specs); err != nil {
			return nil, err
		}
	}
	setFlags := func(acts []SpecAction) []SpecAction {
		if flags == s.flags {
			return acts
		}
		ctx.Log().Info("supervisor flags changed", zap.Stringer("strategy", flags.Strategy),
			zap.Int("intensity", flags.Intensity), zap.Duration("period", flags.Period), zap.Stringer("auto_shutdown", flags.AutoShutdown))
		s.flags = flags
		return append(acts, SpecAction{Op: "flags"})
	}
	if s.flags.Strategy == SimpleOneForOne {
		return setFlags(s.replaceTemplate(specs[0].withDefaults(), o.specsOnly)), nil
	}
	p := planSpecs(flags.Strategy, s.children, specs, o.specsOnly)
	acts, err := s.runSpecPlan(ctx, p)
	if err != nil {
		ctx.Log().Error("child-spec upgrade rolled back", zap.Error(err))
		return acts, err
	}
	return setFlags(acts), nil
}

// newFlags checks the flags of WithFlags (nil: the current ones stay) as
// Start does, and that the strategy does not change to or from
// simple_one_for_one.
func (s *state) newFlags(f *Flags) (Flags, error) {
	if f == nil {
		return s.flags, nil
	}
	if err := f.validate(); err != nil {
		return Flags{}, err
	}
	if (f.Strategy == SimpleOneForOne) != (s.flags.Strategy == SimpleOneForOne) {
		return Flags{}, &SpecError{Field: "strategy", Reason: fmt.Sprintf("a running supervisor cannot change from %v to %v", s.flags.Strategy, f.Strategy)}
	}
	return f.withDefaults(), nil
}

// checkKept checks, for SpecsOnly with new flags, the children it keeps
// with their old specs (those missing from specs) against the new flags:
// a significant child cannot stay under auto_shutdown never.
func (s *state) checkKept(flags Flags, specs []ChildSpec) error {
	listed := make(map[string]bool, len(specs))
	for _, sp := range specs {
		listed[sp.ID] = true
	}
	for _, c := range s.children {
		if !listed[c.spec.ID] {
			if err := c.spec.validate(flags); err != nil {
				return err
			}
		}
	}
	return nil
}

// knownModules checks that every module specs name, in nested supervisor
// specs too, is loaded: a spec that cannot start is refused before
// anything is touched rather than found out halfway.
func knownModules(sys *actor.System, specs []ChildSpec) error {
	for _, sp := range specs {
		if _, ok := sys.Current(sp.Start.Module); !ok {
			return fmt.Errorf("supervisor: child %q: %w: %q", sp.ID, actor.ErrUnknownModule, sp.Start.Module)
		}
		if cfg, ok := sp.Start.Args.(*config); ok && cfg != nil && sp.Start.Module == ModuleName {
			if err := knownModules(sys, cfg.specs); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceTemplate replaces a simple_one_for_one supervisor's template.
// With specsOnly the running instances take it too, each keeping its own
// arguments (OTP keeps one child record and each instance's arguments);
// otherwise only new instances use it.
func (s *state) replaceTemplate(t ChildSpec, specsOnly bool) []SpecAction {
	if sameSpec(t, s.template) {
		return nil
	}
	s.template = t
	if specsOnly {
		for _, c := range s.children {
			args := c.spec.Start.Args
			c.spec = t
			c.spec.Start.Args = args
		}
	}
	return []SpecAction{{Op: "update", ID: t.ID}}
}

// specOp is what a step of a child-spec upgrade does.
type specOp uint8

const (
	opStop    specOp = iota // shut the child's process down
	opRestart               // set the spec and start the child's process again
	opStart                 // set the spec and start a new child's process
	opDelete                // drop the spec (no process)
	opAdd                   // set the spec of a child added to the list (no process)
	opUpdate                // set the spec, leave the process
	opKeep                  // nothing: a child kept as it is (reported)
)

var specOpNames = [...]string{"stop", "restart", "start", "delete", "add", "update", "keep"}

// specStep is one step of a child-spec upgrade, with the steps that undo
// it. Steps set c.spec and c.pid; which children the supervisor lists, and
// in which order, is set once at the end: the plan's order if every step
// succeeded, the old one otherwise.
type specStep struct {
	op   specOp
	c    *child
	spec ChildSpec // opRestart, opStart, opAdd, opUpdate: the spec to set
	undo []specStep
}

// specPlan is a child-spec upgrade computed from the children and the new
// specs: the steps in order and the children's order afterwards.
type specPlan struct {
	steps []specStep
	order []*child
}

// planSpecs computes a child-spec upgrade. It is pure: it reads children
// and creates the child records of new specs, and changes nothing.
//
// Applying: running children that go down (removed, changed, or taken with
// a changed one by the strategy) are stopped in reverse start order, a
// removed child's spec deleted right after; then, in the new order, new
// children are started, stopped ones restarted with their new spec, and
// changed ones that were not running get their new spec. Each step's undo
// is its inverse, so undoing the done steps in reverse restores the old
// state (with new processes where old ones were stopped).
//
// SpecsOnly (OTP's update_childspec): existing children get their new
// spec and keep their process, new ones are added not running, and
// children missing from specs are kept after the new ones in their old
// order. Nothing there can fail, so it has no undo.
func planSpecs(strategy Strategy, children []*child, specs []ChildSpec, specsOnly bool) specPlan {
	next := make(map[string]ChildSpec, len(specs))
	for _, sp := range specs {
		next[sp.ID] = sp.withDefaults()
	}
	byID := make(map[string]*child, len(children))
	for _, c := range children {
		byID[c.spec.ID] = c
	}
	var p specPlan
	update := func(c *child, sp ChildSpec) {
		p.steps = append(p.steps, specStep{op: opUpdate, c: c, spec: sp, undo: []specStep{{op: opUpdate, c: c, spec: c.spec}}})
	}
	if specsOnly {
		for _, sp := range specs {
			c, sp := byID[sp.ID], next[sp.ID]
			switch {
			case c == nil:
				c = &child{}
				p.steps = append(p.steps, specStep{op: opAdd, c: c, spec: sp})
			case !sameSpec(sp, c.spec):
				update(c, sp)
			}
			p.order = append(p.order, c)
		}
		for _, c := range children {
			if _, ok := next[c.spec.ID]; !ok {
				p.steps = append(p.steps, specStep{op: opKeep, c: c})
				p.order = append(p.order, c)
			}
		}
		return p
	}

	// Which running children go down: removed ones, changed ones and the
	// running siblings the strategy takes with them.
	down := map[*child]bool{}
	for i, c := range children {
		sp, kept := next[c.spec.ID]
		if c.pid.IsZero() || !kept || sameSpec(sp, c.spec) {
			continue
		}
		group := []*child{c}
		switch strategy {
		case OneForAll:
			group = children
		case RestForOne:
			group = children[i:]
		}
		for _, g := range group {
			if !g.pid.IsZero() {
				down[g] = true
			}
		}
	}
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		_, kept := next[c.spec.ID]
		if !c.pid.IsZero() && (!kept || down[c]) {
			p.steps = append(p.steps, specStep{op: opStop, c: c, undo: []specStep{{op: opRestart, c: c, spec: c.spec}}})
		}
		if !kept {
			p.steps = append(p.steps, specStep{op: opDelete, c: c, undo: []specStep{{op: opAdd, c: c, spec: c.spec}}})
		}
	}
	for _, sp := range specs {
		c, sp := byID[sp.ID], next[sp.ID]
		switch {
		case c == nil:
			c = &child{}
			p.steps = append(p.steps, specStep{op: opStart, c: c, spec: sp,
				undo: []specStep{{op: opStop, c: c}, {op: opDelete, c: c}}})
		case down[c]:
			p.steps = append(p.steps, specStep{op: opRestart, c: c, spec: sp, undo: []specStep{{op: opStop, c: c}}})
		case !sameSpec(sp, c.spec):
			update(c, sp) // not running: only the spec changes
		}
		p.order = append(p.order, c)
	}
	return p
}

// runSpecPlan runs p's steps in order. If one fails, the steps done are
// undone in reverse and the old children, specs and order are restored.
func (s *state) runSpecPlan(ctx *actor.Context, p specPlan) ([]SpecAction, error) {
	old := slices.Clone(s.children)
	oldSpecs := make([]ChildSpec, len(old))
	for i, c := range old {
		oldSpecs[i] = c.spec
	}
	var acts []SpecAction
	var ignored []*child // new temporary children whose start was ignored
	for i, st := range p.steps {
		err := s.doSpecStep(ctx, st)
		acts = append(acts, SpecAction{Op: specOpNames[st.op], ID: st.c.spec.ID, Err: err})
		if err == nil {
			if st.op == opStart && st.c.pid.IsZero() && st.c.spec.Restart == Temporary {
				ignored = append(ignored, st.c)
			}
			continue
		}
		var notRestored []SpecAction
		for j := i - 1; j >= 0; j-- {
			for _, u := range p.steps[j].undo {
				uerr := s.doSpecStep(ctx, u)
				a := SpecAction{Op: specOpNames[u.op], ID: u.c.spec.ID, Rollback: true, Err: uerr}
				acts = append(acts, a)
				if uerr != nil {
					notRestored = append(notRestored, a)
					s.retryLater(ctx, u.c, uerr)
				}
			}
		}
		// The undo has put every old spec back; setting them again makes
		// the restored list not depend on it (a failed start, which is not
		// undone, has set its new spec already).
		for k, c := range old {
			c.spec = oldSpecs[k]
		}
		s.children = old
		return acts, &specsRollbackError{failed: acts[i], notRestored: notRestored}
	}
	// A new temporary child whose start was ignored is not kept (OTP keeps
	// a temporary spec only with a process).
	s.children = slices.DeleteFunc(p.order, func(c *child) bool { return slices.Contains(ignored, c) })
	// A restarting child whose spec is gone will not restart: its queued
	// retry finds it gone. What it handed over is undeliverable.
	for _, c := range old {
		if c.restarting && !slices.Contains(s.children, c) {
			undeliverable(ctx, c.last, c.inherit, actor.Shutdown)
			c.inherit, c.restarting = nil, false
			release(ctx, c, actor.Shutdown)
		}
	}
	return acts, nil
}

// doSpecStep carries out one step.
func (s *state) doSpecStep(ctx *actor.Context, st specStep) error {
	c := st.c
	switch st.op {
	case opStop:
		if !c.pid.IsZero() {
			s.shutdown(ctx, c)
		}
	case opRestart, opStart:
		c.spec = st.spec
		_, err := s.start(ctx, c, st.op == opRestart, false, false)
		return err
	case opAdd, opUpdate:
		c.spec = st.spec
	case opDelete, opKeep:
	}
	return nil
}

// retryLater handles an old spec that did not start again during a
// rollback: the child stays listed, not running, and a permanent or
// transient one goes through the supervisor's restart path as a failed
// restart does (restarting, re-queued, counted against the intensity). A
// temporary one is never restarted by the supervisor: RestartChild or
// DeleteChild decide.
func (s *state) retryLater(ctx *actor.Context, c *child, err error) {
	ctx.Log().Error("child-spec upgrade rollback: old spec did not start", zap.String("child", c.spec.ID), zap.Error(err))
	if c.spec.Restart == Temporary || errors.Is(err, actor.ErrStopping) {
		return
	}
	c.restarting = true
	_ = ctx.Send(ctx.Self(), tryAgain{c: c})
}

// specsRollbackError is the error of a child-spec upgrade that was rolled
// back: the action that failed and the old specs that did not start again.
type specsRollbackError struct {
	failed      SpecAction
	notRestored []SpecAction
}

func (e *specsRollbackError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %v", ErrSpecsRolledBack, e.failed.Err) // a start error, naming the child
	for _, a := range e.notRestored {
		fmt.Fprintf(&b, "; not restored: %v", a.Err)
	}
	return b.String()
}

func (e *specsRollbackError) Unwrap() []error {
	errs := []error{ErrSpecsRolledBack, e.failed.Err}
	for _, a := range e.notRestored {
		errs = append(errs, a.Err)
	}
	return errs
}
