package actor

import "reflect"

// BatchHandler is implemented by versions that handle a run of queued user
// messages in one call: a version that lives in another OS process pays one
// round trip for the lot instead of one per message. NewVersion probes for
// it.
//
// The receive loop gathers the message it took and the user messages
// queued behind it, up to MaxBatch, and stops early at a waiting signal or
// a suspension, so signals keep their place among messages. Version pickup
// happens once, before the batch.
type BatchHandler interface {
	// HandleBatch handles b's messages in order and returns the state after
	// them. done is how many it consumed (handled, or failed on): all of
	// them when err is nil. A non-nil err stops the process, as an error
	// from Handle does; the messages from index done on were not handled
	// and are reported undeliverable with err as the reason (a caller gets
	// it at once, anything else becomes a DeadLetter), so none is lost
	// silently.
	HandleBatch(ctx *Context, state any, b *Batch) (newState any, done int, err error)
	// MaxBatch bounds the number of messages in one batch (at least 1).
	// NewVersion asks once and keeps the answer; a version whose MaxBatch
	// is below 1 (or panics) handles one message at a time with Handle.
	MaxBatch() int
}

// Batch is the run of messages a BatchHandler handles in one call. It is
// valid only during that call. A call (System.Call) appears as its request;
// answer it with Reply or ReplyError. A call left unanswered among the
// consumed messages gets ErrNoReply, as with Handle.
type Batch struct {
	msgs  []any      // the messages; a call's request in place of the call
	calls []*callEnv // parallel to msgs: the call for a request, else nil
	raw   []any      // parallel to msgs: what the mailbox held
	p     *process
}

// Len returns the number of messages.
func (b *Batch) Len() int { return len(b.msgs) }

// Message returns message i (a call's request for a call).
func (b *Batch) Message(i int) any { return b.msgs[i] }

// IsCall reports whether message i is a call still waiting for its answer.
func (b *Batch) IsCall(i int) bool { return b.calls[i] != nil }

// Reply answers call i with v. Without a pending call at i it does nothing.
func (b *Batch) Reply(i int, v any) { b.reply(i, v, nil) }

// ReplyError answers call i with err.
func (b *Batch) ReplyError(i int, err error) { b.reply(i, nil, SafeError(err)) }

// reply is an answer from the handler: none while the process is
// abandoned (the calls get its exit instead).
func (b *Batch) reply(i int, v any, err error) {
	if !b.p.isExiting() {
		b.answer(i, v, err)
	}
}

// answer finishes call i and forgets it: once answered, the caller may
// recycle the envelope for its next call, which this batch must not touch.
func (b *Batch) answer(i int, v any, err error) {
	if c := b.calls[i]; c != nil {
		b.calls[i] = nil
		c.finish(v, err)
	}
}

func (b *Batch) add(msg any) {
	b.raw = append(b.raw, msg)
	if c, ok := msg.(*callEnv); ok {
		b.msgs, b.calls = append(b.msgs, c.req), append(b.calls, c)
		return
	}
	b.msgs, b.calls = append(b.msgs, msg), append(b.calls, nil)
}

func (b *Batch) reset() {
	clear(b.msgs)
	clear(b.calls)
	clear(b.raw)
	b.msgs, b.calls, b.raw = b.msgs[:0], b.calls[:0], b.raw[:0]
}

// receiveBatch handles first and the user messages queued behind it with
// one call of the version's BatchHandler.
// With more false, first is handled alone (a Continued step).
func (p *process) receiveBatch(bh BatchHandler, first any, more bool) {
	x := p.x()
	if x.batch == nil {
		x.batch = &Batch{}
	}
	b := x.batch
	b.p = p
	defer b.reset()
	for msg, ok := first, true; ok; msg, ok = p.mb.NextUser() {
		if !p.stale(msg) {
			b.add(msg)
		}
		if !more || b.Len() >= p.cur().v.maxBatch {
			break
		}
	}
	if b.Len() == 0 {
		return
	}
	done, err := p.handleBatch(bh, b)
	abandoned := p.isExiting()
	if abandoned && err == nil {
		err = Killed // what it did not answer gets the exit
	}
	done = min(max(done, 0), b.Len())
	if err == nil {
		done = b.Len()
	}
	h := p.sys().onHandled.Load()
	for i := range done {
		if _, ok := b.raw[i].(*callEnv); ok {
			p.set(bitAnswered, true)
			switch {
			case err != nil && i == done-1:
				// The message it failed on: its caller gets the exit, as
				// from Handle (a no-op if it was answered).
				b.answer(i, nil, &ExitError{PID: p.pid(), Reason: err})
			case abandoned:
				b.answer(i, nil, &ExitError{PID: p.pid(), Reason: Killed})
			default:
				b.answer(i, nil, ErrNoReply) // a no-op for an answered call
			}
		}
		if h != nil && more { // a Continued step was not sent: not reported
			p.sys().handled(h, p.pid(), b.msgs[i])
		}
	}
	if err == nil {
		return
	}
	p.stop(err, true)
	for i := done; i < b.Len(); i++ {
		_, isCall := b.raw[i].(*callEnv)
		switch c := b.calls[i]; {
		case c != nil:
			b.calls[i] = nil
			p.sys().undeliverable(p.pid(), c, err)
		case !isCall:
			p.sys().undeliverable(p.pid(), b.raw[i], err)
		} // else: answered already (and perhaps reused by its caller)
	}
}

// handleBatch calls HandleBatch; a panic becomes the exit reason with no
// message consumed.
func (p *process) handleBatch(bh BatchHandler, b *Batch) (done int, err error) {
	returned := false
	defer func() {
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			done, err = 0, newPanicError(r)
		}
	}()
	state, done, err := bh.HandleBatch(p.context(), p.state, b)
	returned = true
	p.state = state
	return done, SafeError(err)
}

// Encoded is a value in serialized form, as versions that live out of
// process hold their state. A typed version (Define, Migrate) given an
// Encoded state where it expects its own type decodes it into that type,
// so moving from such a version to a compiled-in one (a downgrade, say)
// needs no code of its own.
type Encoded interface {
	Decode(into any) error
}

// StrictDecoder is an Encoded value that can refuse to decode into a type
// that does not describe it exactly: a field of the value that the type
// lacks, or a field of the type the value lacks, is an error. Typed
// versions decode strictly unless they are Lenient, so that a state of a
// shape they do not know (a newer version's, reached by a wrong route) is
// refused instead of read with its data silently dropped.
type StrictDecoder interface {
	Encoded
	DecodeStrict(into any) error
}

// lenient hides an Encoded value's DecodeStrict.
type lenient struct{ e Encoded }

func (l lenient) Decode(into any) error { return l.e.Decode(into) }

// decodable is what the version's migrations and adapters are given of a
// plain state: for a Lenient version, an Encoded state that decodes
// leniently.
func (v *Version) decodable(plain any) any {
	if e, ok := plain.(Encoded); ok && v.lenient {
		return lenient{e}
	}
	return plain
}

// decodeState decodes an Encoded state into S, strictly when it can.
func decodeState[S any](state any) (S, error) {
	var s S
	e, ok := state.(Encoded)
	if !ok || reflect.TypeFor[S]().Kind() == reflect.Interface {
		return s, errNotState
	}
	if sd, ok := e.(StrictDecoder); ok {
		return s, sd.DecodeStrict(&s)
	}
	return s, e.Decode(&s)
}
