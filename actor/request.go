package actor

import (
	"context"
	"errors"
)

// SendRequest sends req to pid as a call and returns at once; answer is
// called exactly once with the reply, or with the error Call would have
// returned (gen_server:send_request/2 with a function in place of the
// request id to wait on). The process handles the request as it handles a
// Call: Context.IsCall reports true, and it answers with Context.Reply,
// Context.ReplyError or a deferred ReplyTo.
//
// answer runs on the goroutine that answers: the handler's when it
// replies (or its process's when the process exits first), a ReplyTo's,
// or SendRequest's own caller when the request is refused at once (pid not
// alive, a full bounded mailbox, a nil request). It must be quick and must
// not block: it holds up that goroutine, often a process's. A panic in it
// is recovered and logged.
//
// There is no timeout: a request the process never answers leaves answer
// uncalled (a deferred request is answered when its process exits). A
// request to a process of another node waits at most the system's default
// call timeout, on a goroutine of its own. Unlike Call, a process may send a
// request to itself: it handles it after the message at hand.
func (s *System) SendRequest(pid PID, req any, answer func(reply any, err error)) {
	c := s.newRequest(req, answer)
	if req == nil {
		c.finish(nil, ErrNilMessage)
		return
	}
	p := s.lookup(pid)
	if p == nil {
		if r := s.remoteFor(pid); r != nil {
			go func() { c.finish(s.callRemote(context.Background(), r, pid, req)) }()
			return
		}
		c.finish(nil, &ExitError{PID: pid, Reason: NoProc})
		return
	}
	_ = p.deliver(c) // a refusal finishes c with its error
}

// SendRequestNamed is SendRequest to the process registered under name,
// with CallNamed's rules: an unknown name answers ErrUnknownName at once,
// and a name kept for a replacement (WithKeepName) queues the request for
// the process that takes it over.
func (s *System) SendRequestNamed(name string, req any, answer func(reply any, err error)) {
	c := s.newRequest(req, answer)
	if req == nil {
		c.finish(nil, ErrNilMessage)
		return
	}
	if _, err := s.sendNamed(name, c); errors.Is(err, ErrUnknownName) {
		c.finish(nil, err) // never queued; any other refusal finished c
	}
}

// newRequest is the envelope of a SendRequest: never pooled (a ReplyTo may
// keep it), answered through answer, recovered.
func (s *System) newRequest(req any, answer func(any, error)) *callEnv {
	c := &callEnv{req: req}
	c.then = func(v any, err error) {
		s.callHook("a request's answer function", func() { answer(v, err) }, nil)
	}
	return c
}
