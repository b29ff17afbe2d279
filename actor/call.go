package actor

import (
	"context"
	"errors"
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
	// The call's place in the system's deadlines while it waits under the
	// default timeout; guarded by the deadlines' lock.
	prev, next *callEnv
	expires    uint64 // the deadlines' tick at which the call times out
	listed     bool
	timedOut   bool // the timer answered the call
	// then answers a SendRequest in place of the reply channel.
	then func(any, error)
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
	if c.then != nil {
		c.then(v, err)
		return true
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
//     default call timeout when ctx has no deadline (within a sixteenth
//     of it: see WithCallTimeout);
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
	if s.self != nil && s.self.isExiting() {
		return nil, ErrAbandoned
	}
	p := s.lookup(pid)
	if p == nil {
		if r := s.remoteFor(pid); r != nil {
			return s.callRemote(ctx, r, pid, req)
		}
		return nil, &ExitError{PID: pid, Reason: NoProc}
	}
	c := s.newCall(req)
	if err := p.deliver(c); err != nil {
		return s.refusedCall(c)
	}
	return s.await(ctx, c, pid)
}

func (s *System) newCall(req any) *callEnv {
	c := s.calls.Get().(*callEnv)
	c.req = req
	c.done.Store(false)
	return c
}

// refusedCall returns the error a refused delivery finished c with.
func (s *System) refusedCall(c *callEnv) (any, error) {
	r := <-c.reply
	c.req = nil
	s.calls.Put(c)
	return nil, r.err
}

// await waits for the answer to c, delivered to pid.
func (s *System) await(ctx context.Context, c *callEnv, pid PID) (any, error) {
	if s.self != nil {
		s.self.startHeld() // it waits: what it woke must not wait for it
	}
	// The default timeout runs on the system clock, so tests can fire it
	// with a fake clock (see deadlines). It answers the call itself (finish
	// is a compare-and-swap, so it and a reply cannot both land), which
	// lets the caller wait on the reply channel alone: a one-channel
	// receive, not a select over the reply, the context and a timer.
	timed := false
	if _, has := ctx.Deadline(); !has && s.callTimeout > 0 {
		s.joinDeadlines(c)
		timed = true
	}

	var r callResult
	if done := ctx.Done(); done != nil {
		select {
		case r = <-c.reply:
		case <-done:
			if timed {
				s.leaveDeadlines(c)
			}
			return s.abandon(c, fmt.Errorf("actor: call to %v: %w", pid, ctx.Err()))
		}
	} else {
		r = <-c.reply
	}
	if timed && s.leaveDeadlines(c) {
		// Timed out: the target may still hold c, which is not reused.
		return nil, fmt.Errorf("%w: no reply from %v within %v", ErrTimeout, pid, s.callTimeout)
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
// fails with ErrUnknownName. A name kept for a replacement (WithKeepName)
// queues the call for the process that takes it over, which answers it;
// the call waits for it, within its deadline as any call. If the
// reservation is released instead, the call fails with an *ExitError
// carrying the release's reason. Otherwise it fails as Call does.
func (s *System) CallNamed(ctx context.Context, name string, req any) (any, error) {
	if req == nil {
		return nil, ErrNilMessage
	}
	if s.self != nil {
		if pid, ok := s.Whereis(name); ok && pid == s.self.pid() {
			return nil, ErrCallSelf
		}
		if s.self.isExiting() {
			return nil, ErrAbandoned
		}
	}
	c := s.newCall(req)
	pid, err := s.sendNamed(name, c)
	if errors.Is(err, ErrUnknownName) { // never queued: c is unanswered
		c.req = nil
		s.calls.Put(c)
		return nil, err
	}
	if err != nil {
		return s.refusedCall(c)
	}
	return s.await(ctx, c, pid)
}

// abandon gives up on c. If the answer raced in, it wins; either way c is
// not reused, since the target may still hold it.
func (s *System) abandon(c *callEnv, err error) (any, error) {
	if c.done.CompareAndSwap(false, true) {
		return nil, err
	}
	r := <-c.reply
	return r.val, r.err
}

// recycle returns the answer and puts c back in the pool, unless a
// ReplyTo may still hold it. The deadlines' timer does not: c left them
// before, and a call the timer answered is never recycled.
func (s *System) recycle(c *callEnv, r callResult) (any, error) {
	if c.deferred.Load() {
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
