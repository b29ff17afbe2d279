package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/mailbox"
)

// ModuleName is the module every supervisor runs.
const ModuleName = "graft.supervisor"

// Version is the supervisor behaviour. A supervisor is an ordinary process:
// it runs the same receive loop as every other, traps exits, and handles
// its children's exits and the runtime API as messages. Start loads it.
var Version = actor.NewVersion(ModuleName, "v1", behaviour{})

// config is what a supervisor is started with.
type config struct {
	flags Flags
	specs []ChildSpec
	// A tree started again from data (RestoreTree): restored is parallel
	// to specs; instances are a simple_one_for_one supervisor's.
	restored  []restoredChild
	instances []restoredChild
}

// restoredChild is how a child of a restored tree starts: its spec (an
// instance's), the options of its first start (its process restored from
// an export), whether it was not running, its restart count.
type restoredChild struct {
	spec     ChildSpec
	first    []actor.SpawnOption
	stopped  bool
	restarts int
}

// child is one child spec and its process (zero PID when not running).
type child struct {
	spec ChildSpec
	pid  actor.PID
	// own are the spawn options of one simple_one_for_one instance
	// (StartSimpleChild's SpawnOptions), used after the template's at
	// each of its starts. They are kept apart from spec so that a new
	// template (UpgradeSpecs) does not drop them.
	own []actor.SpawnOption
	// restarting: a restart of this child failed and is queued to be
	// tried again (tryAgain): OTP's {restarting, OldPid}. last is the PID
	// of the process that exited, by which TerminateSimpleChild finds a
	// restarting instance.
	restarting bool
	last       actor.PID
	restarts   int // times this child was started again by a restart
	// inherit holds the messages a Handoff child left queued, for its
	// next start.
	inherit *mailbox.Backlog
	// kept is the registered name a KeepName child left, with what was
	// sent to it since, for its next start (actor.WithReservation). The
	// runtime holds it for the supervisor: if the supervisor exits first,
	// it is released with the supervisor's exit reason.
	kept *actor.Reservation
	// first are options for the next start only: a restored tree's child
	// starts from its exported state once (RestoreTree).
	first []actor.SpawnOption
}

// state is a supervisor's state. children is in start order; for
// simple_one_for_one, template is the one spec and children are its
// running instances.
type state struct {
	flags    Flags
	children []*child
	template ChildSpec
	restarts []time.Time
}

// tryAgain asks the supervisor to retry a restart that failed: re-queued
// to itself so that requests and exits queued meanwhile are served first
// (OTP's try_again_restart). Until it is served the child is restarting:
// listed as such, refused by RestartChild and DeleteChild, and
// TerminateChild cancels the retry. The pointer is only ever seen by the
// supervisor that sent it.
type tryAgain struct{ c *child }

type behaviour struct{}

func (behaviour) Init(ctx *actor.Context, args any) (any, error) {
	cfg, ok := args.(*config)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("supervisor: start arguments are %T, not a supervisor config (use supervisor.Start or Spec)", args)
	}
	if err := validateAll(cfg.flags, cfg.specs); err != nil {
		return nil, err // Start and a parent validate this already; Init does not rely on it
	}
	ctx.TrapExit(true)
	s := &state{flags: cfg.flags.withDefaults()}
	if s.flags.Strategy == SimpleOneForOne {
		s.template = cfg.specs[0].withDefaults()
		for _, in := range cfg.instances {
			c := &child{spec: in.spec.withDefaults(), first: in.first, restarts: in.restarts}
			if _, err := s.start(ctx, c, false, false, false); err != nil {
				s.terminateAll(ctx)
				return nil, err
			}
			if !c.pid.IsZero() {
				s.children = append(s.children, c)
			}
		}
		return s, nil
	}
	for i, spec := range cfg.specs {
		c := &child{spec: spec.withDefaults()}
		if i < len(cfg.restored) {
			r := cfg.restored[i]
			c.first, c.restarts = r.first, r.restarts
			if r.stopped {
				s.children = append(s.children, c) // present, not running, as it was
				continue
			}
		}
		if _, err := s.start(ctx, c, false, false, false); err != nil {
			s.terminateAll(ctx)
			return nil, err
		}
		if c.pid.IsZero() && c.spec.Restart == Temporary {
			continue // ignored, and a temporary spec is kept only with a process (OTP)
		}
		s.children = append(s.children, c)
	}
	return s, nil
}

func (behaviour) Handle(ctx *actor.Context, st, msg any) (any, error) {
	s := st.(*state)
	switch m := msg.(type) {
	case actor.ExitMsg:
		return s, s.childExited(ctx, m.From, m.Reason, m.Queued, m.Reserved)
	case tryAgain:
		if !m.c.restarting || !slices.Contains(s.children, m.c) {
			return s, nil // cancelled by TerminateChild, or its spec removed
		}
		return s, s.restart(ctx, m.c)
	default:
		s.request(ctx, msg)
	}
	return s, nil
}

// Terminate shuts the children down in reverse start order (all at once
// for simple_one_for_one, as OTP does).
func (behaviour) Terminate(ctx *actor.Context, st any, reason error) {
	if s, ok := st.(*state); ok {
		s.terminateAll(ctx)
		for _, c := range s.children {
			// waiting for a restart that will not come
			undeliverable(ctx, c.last, c.inherit, reason)
			release(ctx, c, reason)
		}
	}
}

// childExited is the supervisor's decision on a child's exit: whether to
// restart it under the restart type, the intensity check, and the strategy.
// A returned error is the supervisor's own exit reason.
func (s *state) childExited(ctx *actor.Context, pid actor.PID, reason error, queued *mailbox.Backlog, kept *actor.Reservation) error {
	c := s.byPID(pid)
	if c == nil {
		undeliverable(ctx, pid, queued, reason)
		ctx.System().ReleaseReservation(kept, reason)
		return nil // not a current child: stale, or one it terminated itself
	}
	s.report(ctx, c, reason)
	if !restartable(c.spec.Restart, reason) {
		undeliverable(ctx, pid, queued, reason)
		ctx.System().ReleaseReservation(kept, reason)
		s.forget(c)
		return s.autoShutdown(ctx, c)
	}
	c.inherit = queued // a child waiting for a restart has no process to crash: nothing to merge
	c.kept = kept      // held by the runtime for the supervisor until it is passed on
	// Held until the replacement takes it: if the supervisor is killed
	// before the restart (one that failed and waits for its retry, say),
	// its exit reports these messages instead of losing them.
	ctx.Hold(pid, queued)
	return s.restart(ctx, c)
}

// undeliverable reports handed-over messages that will not be passed on.
func undeliverable(ctx *actor.Context, from actor.PID, b *mailbox.Backlog, reason error) {
	ctx.System().UndeliverableBacklog(from, b, reason)
}

// release frees the name c kept for a restart that will not come; what
// was sent to it meanwhile is reported as undeliverable with reason.
func release(ctx *actor.Context, c *child, reason error) {
	ctx.System().ReleaseReservation(c.kept, reason)
	c.kept = nil
}

// restart counts a restart of c against the intensity and restarts
// according to the strategy.
func (s *state) restart(ctx *actor.Context, c *child) error {
	var ok bool
	s.restarts, ok = addRestart(s.restarts, ctx.System().Clock().Now(), s.flags.Intensity, s.flags.Period)
	if !ok {
		undeliverable(ctx, c.last, c.inherit, actor.Shutdown)
		c.inherit = nil
		release(ctx, c, actor.Shutdown)
		ctx.Log().Error("reached_max_restart_intensity",
			zap.String("child", c.spec.ID), zap.Int("intensity", s.flags.Intensity), zap.Duration("period", s.flags.Period))
		ctx.System().Emit(MaxIntensityReached{Supervisor: ctx.Self(), Child: c.spec.ID})
		return actor.Shutdown
	}
	group := []*child{c}
	switch s.flags.Strategy {
	case OneForAll:
		group = slices.Clone(s.children)
	case RestForOne:
		group = slices.Clone(s.children[slices.Index(s.children, c):])
	}
	// Siblings go down in reverse start order, then the group comes back
	// in start order. A temporary sibling is not restarted: it is
	// forgotten as it goes down (OTP's terminate_children), so a restart
	// that fails halfway does not leave it listed.
	for i := len(group) - 1; i >= 0; i-- {
		g := group[i]
		if g == c {
			continue
		}
		if !g.pid.IsZero() {
			s.shutdown(ctx, g)
		}
		if g.spec.Restart == Temporary {
			s.forget(g)
		}
	}
	// A restart of one child ends the handler: the replacement can wait
	// for the supervisor's goroutine (actor.WithDeferredStart). In a
	// group, a later sibling's Init may call an earlier one: each starts at
	// once.
	alone := len(group) == 1
	for _, g := range group {
		if g.spec.Restart == Temporary && g != c {
			continue // forgotten above
		}
		if _, err := s.start(ctx, g, true, false, alone); err != nil {
			if errors.Is(err, actor.ErrStopping) {
				return actor.Shutdown // the system is going down: no retries
			}
			ctx.Log().Error("restart failed; trying again", zap.String("child", g.spec.ID), zap.Error(err))
			g.restarting = true
			// The failed start gave the kept name back: still held, and
			// released if the supervisor exits before the retry.
			ctx.HoldReservation(g.kept)
			return ctx.Send(ctx.Self(), tryAgain{c: g})
		}
		if g.pid.IsZero() && s.flags.Strategy == SimpleOneForOne {
			s.forget(g) // ignored: an instance without a process is not kept
		}
	}
	return nil
}

// restartable applies the restart type to an exit reason.
func restartable(r Restart, reason error) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return reason != actor.Normal && !errors.Is(reason, actor.Shutdown)
	}
	return false
}

func (s *state) byPID(pid actor.PID) *child {
	for _, c := range s.children {
		if c.pid == pid {
			return c
		}
	}
	return nil
}

func (s *state) byID(id string) *child {
	for _, c := range s.children {
		if c.spec.ID == id {
			return c
		}
	}
	return nil
}

// forget marks c as not running (nor restarting) and drops its spec when
// OTP would: a temporary child, or any instance of a simple_one_for_one
// template.
func (s *state) forget(c *child) {
	c.pid, c.restarting = actor.PID{}, false
	if c.spec.Restart == Temporary || s.flags.Strategy == SimpleOneForOne {
		s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
	}
}

// report logs a child's exit (a crash report unless normal or shutdown)
// and emits ChildExited.
func (s *state) report(ctx *actor.Context, c *child, reason error) {
	level := zap.ErrorLevel
	if reason == actor.Normal || errors.Is(reason, actor.Shutdown) {
		level = zap.InfoLevel
	}
	if ce := ctx.Log().Check(level, "child terminated"); ce != nil {
		ce.Write(zap.String("child", c.spec.ID), zap.Stringer("child_pid", c.pid),
			zap.Stringer("restart", c.spec.Restart), zap.String("reason", reason.Error()))
	}
	ctx.System().Emit(ChildExited{Supervisor: ctx.Self(), ID: c.spec.ID, PID: c.pid, Reason: reason})
	c.pid, c.last = actor.PID{}, c.pid
}

// autoShutdown applies OTP 24's auto_shutdown after a child terminated
// and was not restarted.
func (s *state) autoShutdown(ctx *actor.Context, c *child) error {
	if !c.spec.Significant {
		return nil
	}
	switch s.flags.AutoShutdown {
	case AnySignificant:
		ctx.Log().Info("auto_shutdown: a significant child terminated", zap.String("child", c.spec.ID))
		return actor.Shutdown
	case AllSignificant:
		for _, o := range s.children {
			// A restarting child is still there (OTP counts every pid
			// but undefined, {restarting, _} included).
			if o.spec.Significant && (!o.pid.IsZero() || o.restarting) {
				return nil
			}
		}
		ctx.Log().Info("auto_shutdown: every significant child terminated")
		return actor.Shutdown
	}
	return nil
}

// start starts c linked to the supervisor, with the current version of
// its module. If the child's Init returns actor.Ignore, start succeeds
// with c not running (zero pid), as OTP's start returning ignore; the
// caller decides whether the spec stays. With info, it returns the start
// info the child's Init handed back (actor.Context.SetStartInfo).
func (s *state) start(ctx *actor.Context, c *child, restart, info, deferred bool) (any, error) {
	// One array for every option, sized for the most this adds: never
	// the spec's own.
	opts := make([]actor.SpawnOption, 0, len(c.spec.Start.Options)+len(c.own)+len(c.first)+6)
	opts = append(append(opts, c.spec.Start.Options...), c.own...)
	if c.spec.Handoff {
		opts = append(opts, actor.WithHandoff(), actor.WithBacklog(c.inherit))
	}
	if c.spec.KeepName {
		opts = append(opts, actor.WithKeepName())
		if c.kept != nil {
			// The name and what was sent to it since the crash: taken by
			// the new process, or given back to c.kept if its Init fails.
			opts = append(opts, actor.WithReservation(c.kept))
		}
	}
	if len(c.first) > 0 {
		opts = append(opts, c.first...)
		c.first = nil
	}
	var out *any // on the heap only when asked for
	if info {
		out = new(any)
		opts = append(opts, actor.WithStartInfo(out))
	}
	if deferred {
		opts = append(opts, actor.WithDeferredStart())
	}
	pid, err := ctx.SpawnLink(c.spec.Start.Module, c.spec.Start.Args, opts...)
	if errors.Is(err, actor.Ignore) {
		// The ignored process took the handed-over messages and reported
		// them as it exited; it gave the kept name back, with what was
		// sent to it: reported now, as the child is not running.
		c.pid, c.inherit, c.restarting = actor.PID{}, nil, false
		release(ctx, c, actor.Normal)
		ctx.Log().Info("child start ignored", zap.String("child", c.spec.ID), zap.Bool("restart", restart))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("supervisor: start child %q: %w", c.spec.ID, err)
	}
	c.pid, c.inherit, c.kept, c.restarting = pid, nil, nil, false
	msg := "child started"
	if restart {
		msg = "child restarted"
		c.restarts++
	}
	if ce := ctx.Log().Check(zap.InfoLevel, msg); ce != nil {
		ce.Write(zap.String("child", c.spec.ID), zap.Stringer("child_pid", pid))
	}
	ctx.System().Emit(ChildStarted{Supervisor: ctx.Self(), ID: c.spec.ID, PID: pid, Restart: restart})
	if out == nil {
		return nil, nil
	}
	return *out, nil
}

// shutdown terminates c as its spec says (OTP's shutdown/1): an exit
// signal shutdown, then kill after the timeout; or kill at once; or wait
// without limit. It waits on the process's exit through Watch, not a
// monitor message, since the supervisor cannot receive while it is inside
// a handler; the timeout runs on the system clock. The link is removed
// first, so the child's own exit signal does not come back as an EXIT.
func (s *state) shutdown(ctx *actor.Context, c *child) {
	s.shutdownMany(ctx, []*child{c})
}

// shutdownMany terminates the children in the given order, each after the
// previous one has gone (sequentially, as OTP does for ordered children).
func (s *state) shutdownMany(ctx *actor.Context, cs []*child) {
	for _, c := range cs {
		waitShutdown(ctx, c, beginShutdown(ctx, c))
	}
}

func beginShutdown(ctx *actor.Context, c *child) *actor.Exited {
	ctx.Unlink(c.pid)
	w := ctx.System().Watch(c.pid)
	reason := actor.Shutdown
	if c.spec.Shutdown == BrutalKill {
		reason = actor.Kill
	}
	_ = ctx.Exit(c.pid, reason)
	return w
}

func waitShutdown(ctx *actor.Context, c *child, w *actor.Exited) {
	want := actor.Shutdown
	switch c.spec.Shutdown {
	case BrutalKill:
		want = actor.Killed
		awaitKill(ctx, c, w)
	case Infinity:
		<-w.Done()
	default:
		timer := ctx.System().Clock().NewTimer(time.Duration(c.spec.Shutdown))
		select {
		case <-w.Done():
			timer.Stop()
		case <-timer.C():
			ctx.Log().Warn("shutdown timeout; killing child", zap.String("child", c.spec.ID), zap.Stringer("child_pid", c.pid))
			_ = ctx.Exit(c.pid, actor.Kill)
			awaitKill(ctx, c, w)
		}
	}
	reason := w.Reason()
	if reason != want && reason != actor.NoProc && !errors.Is(reason, actor.Shutdown) {
		ctx.Log().Error("shutdown_error", zap.String("child", c.spec.ID), zap.Stringer("child_pid", c.pid), zap.String("reason", reason.Error()))
	} else {
		ctx.Log().Info("child shut down", zap.String("child", c.spec.ID), zap.Stringer("child_pid", c.pid), zap.String("reason", reason.Error()))
	}
	ctx.System().Emit(ChildShutdown{Supervisor: ctx.Self(), ID: c.spec.ID, PID: c.pid, Reason: reason})
	c.pid = actor.PID{}
}

// KillGrace is how long a supervisor waits for a child to take a kill
// signal before it abandons the child (actor.System.Abandon): a child
// whose goroutine is stuck in user code (a Terminate or a handler that
// does not return) cannot take a signal, and Go cannot stop it, so after
// this grace it is declared killed and the supervisor goes on. An OTP kill
// takes effect at once; this is the nearest Go allows.
const KillGrace = 100 * time.Millisecond

// awaitKill waits for c, sent a kill, to exit, abandoning it after
// KillGrace.
func awaitKill(ctx *actor.Context, c *child, w *actor.Exited) {
	timer := ctx.System().Clock().NewTimer(KillGrace)
	defer timer.Stop()
	select {
	case <-w.Done():
		return
	case <-timer.C():
	}
	ctx.Log().Error("child did not take the kill; abandoning it", zap.String("child", c.spec.ID), zap.Stringer("child_pid", c.pid))
	_ = ctx.System().Abandon(c.pid)
	<-w.Done()
}

// terminateAll shuts every running child down: in reverse start order, or
// all at once for simple_one_for_one.
func (s *state) terminateAll(ctx *actor.Context) {
	var running []*child
	for i := len(s.children) - 1; i >= 0; i-- {
		if c := s.children[i]; !c.pid.IsZero() {
			running = append(running, c)
		}
	}
	if s.flags.Strategy != SimpleOneForOne {
		s.shutdownMany(ctx, running)
		return
	}
	watches := make([]*actor.Exited, len(running))
	for i, c := range running {
		watches[i] = beginShutdown(ctx, c)
	}
	for i, c := range running {
		waitShutdown(ctx, c, watches[i])
	}
}
