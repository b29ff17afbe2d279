package actor

import (
	"context"
	"fmt"
	"sync/atomic"
)

// callEnv carries a Call's request through the target's user lane and its
// answer back. Exactly one answer is ever delivered: finish is guarded by
// done, so a late reply after a timeout, or an exit notice after a reply, is
// a no-op.
type callEnv struct {
	req   any
	reply chan callResult // buffered: the replier never blocks
	done  atomic.Bool
	// deferred is set when the handler took a ReplyTo; the process keeps a
	// pointer to answer it on exit, so the envelope is never recycled.
	deferred atomic.Bool
	timer    Timer // reused across calls for the default timeout
}

type callResult struct {
	val any
	err error
}

// finish delivers the answer unless one was delivered (or given up on).
func (c *callEnv) finish(v any, err error) bool {
	if !c.done.CompareAndSwap(false, true) {
		return false
	}
	c.reply <- callResult{val: v, err: err}
	return true
}

// Call sends req to pid and waits for the reply (gen_server:call/3). The
// handler answers with Context.Reply or Context.ReplyError, or defers the
// answer with Context.Defer. Call fails with:
//   - an *ExitError if pid is not alive (Reason NoProc) or exits before
//     answering (Reason is its exit reason, e.g. a *PanicError);
//   - ErrMailboxFull if a bounded mailbox refused the request;
//   - ctx's error if ctx ends first, or ErrTimeout after the system's
//     default call timeout when ctx has no deadline;
//   - ErrNoReply if the handler returned without answering or deferring;
//   - ErrCallSelf at once if pid is the process whose Context handed out
//     this System (see System): it could not answer while it waits.
func (s *System) Call(ctx context.Context, pid PID, req any) (any, error) {
	if req == nil {
		return nil, ErrNilMessage
	}
	if s.isSelf(pid) {
		return nil, ErrCallSelf
	}
	if s.self != nil && s.self.exiting.Load() {
		return nil, ErrAbandoned
	}
	p := s.lookup(pid)
	if p == nil {
		if r := s.remoteFor(pid); r != nil {
			return s.callRemote(ctx, r, pid, req)
		}
		return nil, &ExitError{PID: pid, Reason: NoProc}
	}
	c := s.calls.Get().(*callEnv)
	c.req = req
	c.done.Store(false)
	if err := p.deliver(c); err != nil {
		// deliver finished c with the error already.
		r := <-c.reply
		s.calls.Put(c)
		return nil, r.err
	}

	// The default timeout runs on the system clock, so tests can fire it
	// with a fake clock. It answers the call itself (finish is a
	// compare-and-swap, so it and a reply cannot both land), which lets the
	// caller wait on the reply channel alone: a one-channel receive, not a
	// select over the reply, the context and a timer.
	if _, has := ctx.Deadline(); !has && s.callTimeout > 0 {
		if c.timer == nil {
			c.timer = s.clock.AfterFunc(s.callTimeout, func() { c.finish(nil, ErrTimeout) })
		} else {
			c.timer.Reset(s.callTimeout)
		}
	}

	var r callResult
	if done := ctx.Done(); done != nil {
		select {
		case r = <-c.reply:
		case <-done:
			return s.abandon(c, fmt.Errorf("actor: call to %v: %w", pid, ctx.Err()))
		}
	} else {
		r = <-c.reply
	}
	if r.err == ErrTimeout {
		r.err = fmt.Errorf("%w: no reply from %v within %v", ErrTimeout, pid, s.callTimeout)
	}
	return s.recycle(c, r)
}

// callRemote is Call to a process of another node, through r, with the
// system's default timeout when ctx has none (wall-clock time: a remote
// answer does not come from the system's clock).
func (s *System) callRemote(ctx context.Context, r Remote, pid PID, req any) (any, error) {
	if _, has := ctx.Deadline(); !has && s.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.callTimeout)
		defer cancel()
	}
	return r.Call(ctx, pid, req)
}

// CallNamed calls the process registered under name; an unknown name
// fails with ErrUnknownName.
func (s *System) CallNamed(ctx context.Context, name string, req any) (any, error) {
	pid, ok := s.Whereis(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	return s.Call(ctx, pid, req)
}

// abandon gives up on c. If the answer raced in, it wins; either way c is
// not reused, since the target may still hold it.
func (s *System) abandon(c *callEnv, err error) (any, error) {
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.done.CompareAndSwap(false, true) {
		return nil, err
	}
	r := <-c.reply
	return r.val, r.err
}

// recycle returns the answer and puts c back in the pool, unless a
// ReplyTo or a firing timer may still hold it: a timer that fired has
// answered this very call (it lost to a reply, or its timeout is the
// answer), but one that is firing right now must not see c reused, so only
// a timer stopped before firing lets c go back.
func (s *System) recycle(c *callEnv, r callResult) (any, error) {
	if c.deferred.Load() || (c.timer != nil && !c.timer.Stop()) {
		return r.val, r.err
	}
	c.req = nil
	s.calls.Put(c)
	return r.val, r.err
}

// ReplyTo answers a deferred call (gen_server:reply/2). It may be used from
// any goroutine, once; later answers are ignored.
type ReplyTo struct {
	c *callEnv
}

// Reply answers the call with v.
func (r ReplyTo) Reply(v any) { r.c.finish(v, nil) }

// Error answers the call with err.
func (r ReplyTo) Error(err error) { r.c.finish(nil, SafeError(err)) }

// Valid reports whether r refers to a call.
func (r ReplyTo) Valid() bool { return r.c != nil }
