package actor

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/mailbox"
)

// Context is what a version's Init, Handle and Terminate see of their
// process. It is valid only during that call and only on that goroutine:
// do not keep it, and do not pass it to other goroutines (use Self and a
// ReplyTo instead).
type Context struct {
	// p is the process itself: a Context is its process seen through
	// another type (see process.context), so that a process need not keep
	// a pointer to itself.
	p process
}

// abandoned reports whether System.Abandon declared the process killed
// while this user code ran: what the code does from then on must change
// nothing, so the Context's actions fail with ErrAbandoned.
func (c *Context) abandoned() bool { return c.p.isExiting() }

// Self returns the process's PID.
func (c *Context) Self() PID { return c.p.pid() }

// Parent returns the PID of the process that spawned this one (zero when
// spawned from outside any process).
func (c *Context) Parent() PID { return c.p.parent() }

// System returns the process's System, seen from the process: through it,
// a request the process would have to answer itself (a Call or CallNamed
// to itself, Stop, Suspend, Resume, Info or Inspect of itself) fails at
// once with ErrCallSelf instead of waiting for an answer that cannot come.
// Hand other goroutines the System NewSystem returned instead, since one
// of them may call this process legitimately.
func (c *Context) System() *System {
	x := c.p.x()
	if x.view == nil {
		x.view = &System{system: c.p.sys().system, self: &c.p}
	}
	return x.view
}

// Module returns the name of the process's module.
func (c *Context) Module() string { return c.p.module().name }

// Version returns the name of the version handling the current message.
func (c *Context) Version() string { return c.p.cur().v.name }

// Log returns the system logger with the process's PID and module attached.
func (c *Context) Log() *zap.Logger {
	x := c.p.x()
	if x.log == nil {
		x.log = c.p.sys().log.With(zap.Stringer("pid", c.p.pid()), zap.String("module", c.p.module().name))
	}
	return x.log
}

// Send sends msg to pid (see System.Send). From a handler, a process the
// send wakes (it was idle) starts once the handler has returned, on this
// process's goroutine if this process has nothing else to do then: at the
// latest half a millisecond after the send, or at once when the handler
// waits through Call or its System (a Call, a Stop). Order and delivery
// are those of System.Send.
func (c *Context) Send(pid PID, msg any) error {
	if c.abandoned() {
		return ErrAbandoned
	}
	if p := &c.p; p.looping && msg != nil {
		if q := p.sys().lookup(pid); q != nil {
			sched, err := q.push(msg)
			if sched {
				p.holdWake(q)
			}
			return err
		}
	}
	return c.p.sys().Send(pid, msg)
}

// SendNamed sends msg to the process registered under name.
func (c *Context) SendNamed(name string, msg any) error {
	if c.abandoned() {
		return ErrAbandoned
	}
	return c.p.sys().SendNamed(name, msg)
}

// SendAfter sends msg to pid after d on the system clock.
func (c *Context) SendAfter(pid PID, d time.Duration, msg any) Timer {
	return c.p.sys().SendAfter(pid, d, msg)
}

// Call calls pid and waits (see System.Call). The process handles nothing
// else meanwhile; a process calling itself gets ErrCallSelf at once.
func (c *Context) Call(ctx context.Context, pid PID, req any) (any, error) {
	if pid == c.p.pid() {
		return nil, ErrCallSelf
	}
	if c.abandoned() {
		return nil, ErrAbandoned
	}
	c.p.startHeld() // it waits: what it woke must not wait for it
	return c.p.sys().Call(ctx, pid, req)
}

// CallNamed calls the process registered under name (see
// System.CallNamed); a name this process holds fails with ErrCallSelf.
func (c *Context) CallNamed(ctx context.Context, name string, req any) (any, error) {
	if c.abandoned() {
		return nil, ErrAbandoned
	}
	return c.System().CallNamed(ctx, name, req)
}

// Continue asks for step to be handled next, before any other user
// message: Handle receives Continued{Step: step} once this callback (Init
// or Handle) has returned (OTP's {continue, Continue} and
// handle_continue). Signals are still served first, and a suspended
// process runs the step when it is resumed. Like every message, the step
// is handled by the module's current version: a long job written as a
// loop of short steps (each asking for the next) moves to new code between
// two steps, where one long handler would run old code to its end. At
// most one step is pending: a second Continue in the same callback
// replaces the first. A nil step is ignored. If the process exits first,
// the step is dropped.
func (c *Context) Continue(step any) {
	if step != nil {
		c.p.x().cont = step
	}
}

// Hold makes the process answerable for b, messages another process
// (from) left queued and handed over (ExitMsg.Queued) that it keeps to
// pass on later (a supervisor waiting to restart a Handoff child): if the
// process exits, however it exits (a kill included), before b is emptied
// (by WithBacklog passing it to a new process, or UndeliverableBacklog),
// its messages are reported as undeliverable with the exit reason. Hold
// costs nothing once b is empty.
func (c *Context) Hold(from PID, b *mailbox.Backlog) {
	if b.Len() == 0 {
		return
	}
	x := c.p.x()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.held = appendHeld(x.held, heldBacklog{from: from, b: b})
}

// IsCall reports whether the message being handled is a Call still waiting
// for its answer.
func (c *Context) IsCall() bool { return c.p.call != nil }

// Reply answers the call being handled with v. Without a pending call it
// does nothing.
func (c *Context) Reply(v any) {
	if c.p.call != nil {
		if c.abandoned() {
			return // the call is answered with the exit when the handler returns
		}
		c.p.call.finish(v, nil)
		c.p.call = nil
	}
}

// ReplyError answers the call being handled with err; the process goes on.
func (c *Context) ReplyError(err error) {
	if c.p.call != nil {
		if c.abandoned() {
			return
		}
		c.p.call.finish(nil, SafeError(err))
		c.p.call = nil
	}
}

// Defer takes the call being handled out of the handler's hands, to be
// answered later through the returned ReplyTo (gen_server's {noreply, State}
// plus gen_server:reply/2). If the process exits first, the caller gets an
// *ExitError. Without a pending call it returns an invalid ReplyTo.
func (c *Context) Defer() ReplyTo {
	call := c.p.call
	if call == nil {
		return ReplyTo{}
	}
	c.p.call = nil
	call.deferred.Store(true) // the caller must not recycle it
	x := c.p.x()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closing { // abandoned: nobody will answer it on exit
		call.finish(nil, &ExitError{PID: c.p.pid(), Reason: x.reason})
		return ReplyTo{c: call}
	}
	// Forget calls already answered, so a long-lived process that defers
	// often does not accumulate them.
	live := x.deferred[:0]
	for _, d := range x.deferred {
		if !d.done.Load() {
			live = append(live, d)
		}
	}
	clear(x.deferred[len(live):])
	x.deferred = append(live, call)
	return ReplyTo{c: call}
}

// Spawn starts a process as a child of this one (see System.Spawn). Its
// Parent is this process; it is not linked.
func (c *Context) Spawn(module string, args any, opts ...SpawnOption) (PID, error) {
	if c.abandoned() {
		return PID{}, ErrAbandoned
	}
	return c.p.sys().spawn(&c.p, module, args, opts, false)
}

// SpawnLink starts a process linked to this one (spawn_link).
func (c *Context) SpawnLink(module string, args any, opts ...SpawnOption) (PID, error) {
	if c.abandoned() {
		return PID{}, ErrAbandoned
	}
	return c.p.sys().spawn(&c.p, module, args, opts, true)
}

// TrapExit turns exit trapping on or off (process_flag(trap_exit, On)):
// while on, exit signals other than Kill arrive as ExitMsg messages instead
// of stopping the process.
func (c *Context) TrapExit(on bool) { c.p.set(bitTrapExit, on) }

// Link links this process with pid (link/1). If pid is not alive, a process
// trapping exits receives ExitMsg{pid, NoProc}; otherwise Link returns an
// error wrapping NoProc.
func (c *Context) Link(pid PID) error {
	p := &c.p
	if c.abandoned() {
		return ErrAbandoned
	}
	if pid == p.pid() || p.hasLink(pid) {
		return nil
	}
	if r := p.sys().remoteFor(pid); r != nil {
		return p.remoteLink(r, pid)
	}
	t := p.sys().lookup(pid)
	if t == nil || !t.signal(linkSig{from: p.pid()}) {
		if p.is(bitTrapExit) {
			p.notify(ExitMsg{From: pid, Reason: NoProc})
			return nil
		}
		return fmt.Errorf("actor: link %v: %w", pid, NoProc)
	}
	p.addLink(pid)
	return nil
}

// Unlink removes the link with pid (unlink/1). An exit signal from pid
// already on its way is ignored.
func (c *Context) Unlink(pid PID) {
	p := &c.p
	if !p.hasLink(pid) {
		return
	}
	p.removeLink(pid)
	if t := p.sys().lookup(pid); t != nil {
		t.signal(unlinkSig{from: p.pid()})
	} else if r := p.sys().remoteFor(pid); r != nil {
		r.Unlink(p.pid(), pid)
	}
}

// Monitor starts monitoring pid (erlang:monitor(process, Pid)). When pid
// exits, this process receives a Down with the returned Ref; if it is not
// alive, the Down (reason NoProc) is queued at once.
func (c *Context) Monitor(pid PID) Ref {
	p := &c.p
	ref := p.sys().newRef()
	x := p.x()
	x.mu.Lock()
	if x.monitors == nil {
		x.monitors = make(map[Ref]PID)
	}
	x.monitors[ref] = pid
	x.mu.Unlock()
	if r := p.sys().remoteFor(pid); r != nil {
		if err := r.Monitor(p.pid(), pid, ref); err != nil {
			p.notify(Down{Ref: ref, PID: pid, Reason: NoConnection})
		}
		return ref
	}
	t := p.sys().lookup(pid)
	if t == nil || !t.signal(monitorSig{ref: ref, from: p.pid()}) {
		p.notify(Down{Ref: ref, PID: pid, Reason: NoProc})
	}
	return ref
}

// Demonitor stops a monitor; a Down for it that is already queued is
// dropped (demonitor(Ref, [flush])).
func (c *Context) Demonitor(ref Ref) {
	x := c.p.ext.Load()
	if x == nil {
		return
	}
	x.mu.Lock()
	pid, ok := x.monitors[ref]
	delete(x.monitors, ref)
	x.mu.Unlock()
	if !ok {
		return
	}
	if t := c.p.sys().lookup(pid); t != nil {
		t.signal(demonitorSig{ref: ref})
	} else if r := c.p.sys().remoteFor(pid); r != nil {
		r.Demonitor(c.p.pid(), pid, ref)
	}
}

// Exit sends an exit signal to pid from this process (exit/2).
func (c *Context) Exit(pid PID, reason error) error {
	if c.abandoned() {
		return ErrAbandoned
	}
	return c.p.sys().exitSignal(c.p.pid(), pid, reason)
}
