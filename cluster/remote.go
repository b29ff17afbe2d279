package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"time"

	"ergo.services/ergo/gen"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// remote is the node as its System's actor.Remote: what the System does to
// PIDs of other nodes comes here and leaves as wire messages.
type remote struct{ n *Node }

func (r remote) Send(to actor.PID, msg any) error {
	n := r.n
	typ, data, decl, err := n.codecs.encodeMessage(msg)
	if err != nil {
		return err
	}
	p, err := n.route(to)
	if err != nil {
		return fmt.Errorf("cluster: send to %v: %w", to, err)
	}
	if err := n.sendTracked(p, to, msg, wire{Kind: kSend, To: to.ID(), Type: typ, Data: data, ErrText: decl}); err != nil {
		return fmt.Errorf("cluster: send to %v: %w", to, err)
	}
	return nil
}

// sendTracked queues a message (w, carrying msg for to) in p's outbox
// and keeps it until the far node acknowledges it, to be reported as a
// dead letter if the connection is lost before the far node took it. It
// fails (nothing sent) only if there is no connection; once queued, the
// message is on its way (see outbox). Sends are numbered in the order
// they are queued, which is the order they go in.
func (n *Node) sendTracked(p *peer, to actor.PID, msg any, w wire) error {
	n.mu.Lock()
	n.waitRoomLocked(p)
	if p.conn == nil || n.stopped {
		n.mu.Unlock()
		return fmt.Errorf("cluster: node %s: %w", p.name, actor.NoConnection)
	}
	p.seq++
	w.Ref = p.seq
	p.unacked.push(sent{seq: p.seq, to: to, msg: msg})
	n.enqueueLocked(p, &w, flushAsync)
	n.mu.Unlock()
	return nil
}

// acked drops the sends up to seq, which the far node has taken.
func (n *Node) acked(p *peer, seq uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p.unacked.dropTo(seq)
}

func (r remote) Call(ctx context.Context, to actor.PID, req any) (any, error) {
	p, err := r.n.route(to)
	if err != nil {
		var reason error = actor.NoConnection
		if errors.Is(err, actor.NoProc) || errors.Is(err, ErrUnknownNode) {
			reason = actor.NoProc
		}
		return nil, &actor.ExitError{PID: to, Reason: reason}
	}
	return r.n.call(ctx, p, to, wire{Kind: kCall, To: to.ID()}, req)
}

// call sends w carrying req and waits for the answer.
func (n *Node) call(ctx context.Context, p *peer, to actor.PID, w wire, req any) (any, error) {
	typ, data, decl, err := n.codecs.encodeMessage(req)
	if err != nil {
		return nil, err
	}
	w.Type, w.Data, w.ErrText = typ, data, decl
	if dl, ok := ctx.Deadline(); ok {
		w.Timeout = int64(time.Until(dl))
		if w.Timeout <= 0 {
			return nil, fmt.Errorf("cluster: call to %v: %w", to, context.DeadlineExceeded)
		}
	}
	ans, err := n.request(ctx, p, w)
	if err != nil {
		if errors.Is(err, actor.NoConnection) {
			return nil, &actor.ExitError{PID: to, Reason: actor.NoConnection}
		}
		return nil, fmt.Errorf("cluster: call to %v: %w", to, err)
	}
	if ans.Exit {
		pid := to
		if pid.IsZero() {
			pid = actor.NewPID(p.idx, ans.From)
		}
		return nil, &actor.ExitError{PID: pid, Reason: decodeErr(string(p.name), ans.ErrKind, ans.ErrText)}
	}
	if err := decodeErr(string(p.name), ans.ErrKind, ans.ErrText); err != nil {
		return nil, err
	}
	v, err := n.codecs.decode(ans.Type, ans.Data)
	if err != nil {
		return nil, fmt.Errorf("cluster: reply from %v: %w", to, err)
	}
	return v, nil
}

// request sends w with a fresh Ref and waits for the answer carrying it,
// ctx's end, or the connection's loss (an error wrapping NoConnection).
func (n *Node) request(ctx context.Context, p *peer, w wire) (wire, error) {
	ref := n.refs.Add(1)
	ch := make(chan callDone, 1)
	n.mu.Lock()
	p.calls[ref] = ch
	session := p.session
	n.mu.Unlock()
	w.Ref = ref
	if err := n.send(p, session, w); err != nil {
		n.forget(p, ref)
		return wire{}, err
	}
	yieldForFlush(time.Now())
	select {
	case d := <-ch:
		if d.err != nil {
			return wire{}, d.err
		}
		return d.w, nil
	case <-ctx.Done():
		n.forget(p, ref)
		return wire{}, ctx.Err()
	}
}

// ergoFlushDelay is how long Ergo's connection holds what it is handed
// before it writes it out, on a timer (its flusher's latency).
const ergoFlushDelay = 300 * time.Nanosecond

// yieldForFlush yields the processor until Ergo's flush timer, armed by a
// request handed over at sent, is due, before the caller waits for the
// answer. A caller that parks at once can leave the processor idle with
// the timer not yet due: the runtime then sleeps in the network poller
// for up to a millisecond (its shortest timeout), or until its monitor
// notices the timer, and the request waits in Ergo's buffer. Yielding
// lets the scheduler run the timer here. Measured: a round trip's median
// 43-48 µs without, 34-35 µs with (BenchmarkRemoteCall), the mean 60 µs
// against 42.
func yieldForFlush(sent time.Time) {
	for time.Since(sent) < ergoFlushDelay {
		runtime.Gosched()
	}
}

func (n *Node) forget(p *peer, ref uint64) {
	n.mu.Lock()
	delete(p.calls, ref)
	n.mu.Unlock()
}

// answered delivers an answer to the request waiting for it, if any.
func (n *Node) answered(p *peer, w wire) {
	n.mu.Lock()
	ch, ok := p.calls[w.Ref]
	delete(p.calls, w.Ref)
	n.mu.Unlock()
	if ok {
		ch <- callDone{w: w}
	}
}

func (r remote) Link(from, to actor.PID) error {
	n := r.n
	p, err := n.route(to)
	if err != nil {
		if errors.Is(err, actor.NoProc) {
			// A node that restarted: the process is gone, as a link to a
			// dead process reports.
			_ = n.sys.RemoteExit(to, from, actor.NoProc, true)
			return nil
		}
		return err
	}
	n.mu.Lock()
	p.links[pidPair{from, to}] = struct{}{}
	session := p.session
	n.mu.Unlock()
	if err := n.send(p, session, wire{Kind: kLink, From: from.ID(), To: to.ID()}); err != nil {
		n.mu.Lock()
		delete(p.links, pidPair{from, to})
		n.mu.Unlock()
		return err
	}
	return nil
}

func (r remote) Unlink(from, to actor.PID) {
	n := r.n
	p, err := n.peerAt(to.Node())
	if err != nil {
		return
	}
	n.mu.Lock()
	_, had := p.links[pidPair{from, to}]
	delete(p.links, pidPair{from, to})
	session := p.session
	n.mu.Unlock()
	if had {
		_ = n.send(p, session, wire{Kind: kUnlink, From: from.ID(), To: to.ID()})
	}
}

func (r remote) Monitor(from, to actor.PID, ref actor.Ref) error {
	n := r.n
	p, err := n.route(to)
	if err != nil {
		if errors.Is(err, actor.NoProc) {
			n.sys.RemoteDown(to, from, ref, actor.NoProc)
			return nil
		}
		return err
	}
	n.mu.Lock()
	p.monitors[ref] = pidPair{from, to}
	session := p.session
	n.mu.Unlock()
	if err := n.send(p, session, wire{Kind: kMonitor, From: from.ID(), To: to.ID(), Ref: ref.ID()}); err != nil {
		n.mu.Lock()
		delete(p.monitors, ref)
		n.mu.Unlock()
		return err
	}
	return nil
}

func (r remote) Demonitor(from, to actor.PID, ref actor.Ref) {
	n := r.n
	p, err := n.peerAt(to.Node())
	if err != nil {
		return
	}
	n.mu.Lock()
	_, had := p.monitors[ref]
	delete(p.monitors, ref)
	session := p.session
	n.mu.Unlock()
	if had {
		_ = n.send(p, session, wire{Kind: kDemonitor, From: from.ID(), To: to.ID(), Ref: ref.ID()})
	}
}

func (r remote) Exit(from, to actor.PID, reason error, link bool) error {
	n := r.n
	p, err := n.peerAt(to.Node())
	if err != nil {
		return fmt.Errorf("cluster: exit %v: %w", to, actor.NoProc)
	}
	var session uint64
	if link {
		n.mu.Lock()
		_, had := p.links[pidPair{from, to}]
		delete(p.links, pidPair{from, to})
		session = p.session
		n.mu.Unlock()
		if !had {
			return nil // the connection was lost meanwhile: to was told
		}
	} else if _, err := n.route(to); err != nil {
		return fmt.Errorf("cluster: exit %v: %w", to, err)
	}
	kind, text := encodeErr(reason)
	return n.send(p, session, wire{Kind: kExit, From: from.ID(), To: to.ID(), ErrKind: kind, ErrText: text, Link: link})
}

func (r remote) Down(from, to actor.PID, ref actor.Ref, reason error) {
	n := r.n
	p, err := n.peerAt(to.Node())
	if err != nil {
		return
	}
	n.mu.Lock()
	_, had := p.watchers[ref]
	delete(p.watchers, ref)
	session := p.session
	n.mu.Unlock()
	if !had {
		return // demonitored, or the connection was lost
	}
	kind, text := encodeErr(reason)
	_ = n.send(p, session, wire{Kind: kDown, From: from.ID(), To: to.ID(), Ref: ref.ID(), ErrKind: kind, ErrText: text})
}

// receive handles a packet from another node's bridge, in arrival order,
// one at a time per connection: on the goroutine that drains Ergo's
// receive queue for the connection (b nil, see inline.go), or on the
// bridge's for a connection with Ergo's plain protocol. Its frames are
// taken one by one (take), in the order sent.
func (n *Node) receive(b *bridge, from gen.PID, w packet) {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	p := n.peerOfLocked(from.Node, from.Creation, w.FromIncarnation)
	n.mu.Unlock()
	// One packet of a peer at a time, whichever connection it came on: a
	// packet of the old connection, taken on its goroutine while a newer
	// session's packet is taken on another's, would deliver its messages
	// after the newer ones (each frame is checked as taken, but delivered
	// after the check). A packet handled here ends before the newer
	// session starts; what is left of the old one is then dropped.
	p.recv.Lock()
	defer p.recv.Unlock()
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	if p.gone {
		// From an incarnation of that node older than one already met:
		// nobody there is alive.
		n.mu.Unlock()
		n.reap()
		return
	}
	if w.Session < p.rsession || w.Session <= p.rdead {
		// Sent on a connection the sender has replaced since: overtaken,
		// and dropped (the sender ended what it carried).
		n.mu.Unlock()
		if ce := n.log.Check(zap.DebugLevel, "dropped: from an earlier session"); ce != nil {
			ce.Write(zap.String("peer", string(p.name)), zap.Int("bytes", len(w.Frames)), zap.Uint64("session", w.Session))
		}
		return
	}
	newer := w.Session > p.rsession
	p.lastHeard = time.Now()
	n.mu.Unlock()
	n.reap()
	if newer {
		// The sender's new connection is this node's too: a session of
		// this node on an older one is over, and so are the sender's
		// sessions before this one (switchConn marks them, while
		// rsession still names the newest of them: marking this one
		// would drop the rest of it).
		if rn, err := n.en.Network().Node(from.Node); err == nil {
			n.switchConn(p, rn, false)
		}
		// Only now: the sender's sessions that this node's ended
		// session saw are over (switchConn), not the new one. Whether
		// the sender ended the session it had with this node's current
		// one, its ask in the new session says (endedAtPeer).
		n.mu.Lock()
		p.rsession = max(p.rsession, w.Session)
		n.mu.Unlock()
	}
	n.mu.Lock()
	watch := !p.watched && !p.gone && p.conn != nil
	p.watched = p.watched || watch
	n.mu.Unlock()
	if watch {
		// Not while holding the peer's packets back: the bridge may have
		// one of the peer's packets to take first (from a connection with
		// Ergo's plain protocol). A packet taken meanwhile is of a newer
		// session (this connection's come one at a time), and then this
		// one's frames are dropped as taken (see taking).
		p.recv.Unlock()
		n.watchNow(b, from.Node)
		p.recv.Lock()
	}
	fr := frameReader{b: w.Frames}
	var f wire
	for fr.next(&f) {
		if !n.taking(p, w.Session, f) {
			// The session ended while the packet was handled (another
			// goroutine found the connection lost): the rest of it is
			// stale, as a packet of that session arriving now would be.
			return
		}
		f.Session, f.FromIncarnation, f.ToIncarnation = w.Session, w.FromIncarnation, w.ToIncarnation
		n.take(b, p, f)
	}
	if fr.err != nil {
		n.log.Error("dropped the rest of a packet", zap.String("peer", string(p.name)), zap.Error(fr.err))
	}
}

// watchNow has the bridge monitor the connection to name before the
// packet that found it unwatched is handled, or a dial returns: a watch
// asked for later could come after the connection is lost, and Ergo's
// MonitorNode then dials again, its monitor on the new connection, and
// the old one's loss is never reported (TestConcurrentDials). Off the
// bridge, it waits for the bridge, which never blocks, for at most
// watchWait: a wait that long is one the bridge cannot answer, as when an
// event subscriber, called on the bridge's goroutine, sends to a node it
// must dial.
func (n *Node) watchNow(b *bridge, name gen.Atom) {
	if b != nil {
		b.watch(name)
		return
	}
	done := make(chan struct{})
	if n.en.Send(n.bridge, watchNode{name: name, done: done}) != nil {
		return
	}
	t := time.NewTimer(watchWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-n.ctx.Done():
	}
}

// watchWait bounds watchNow's wait for the bridge.
const watchWait = time.Second

// taking says whether a frame of p's session may be taken: the session
// has not ended. A send it carries is taken from then on (p.ackSeq, and
// the record of p's session, tookLocked), in the same hold of the lock:
// if the session ends next, the answer to p's ask about it (answerTaken)
// counts it, and it is handled here.
func (n *Node) taking(p *peer, session uint64, f wire) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if session <= p.rdead || n.stopped {
		return false
	}
	if f.Kind == kSend || f.Kind == kSendNamed {
		p.ackSeq = f.Ref
		p.tookLocked(session, f.Ref)
	}
	return true
}

// take handles one wire message of a packet from p.
func (n *Node) take(b *bridge, p *peer, w wire) {
	sender := actor.PID{}
	if w.From != 0 {
		sender = actor.NewPID(p.idx, w.From)
	}
	to := actor.NewPID(0, w.To)
	// A message for an earlier incarnation of this node finds nobody.
	stale := w.ToIncarnation != n.incarnation
	if stale {
		to = actor.PID{}
		noproc, _ := encodeErr(actor.NoProc)
		switch w.Kind {
		case kLink: // answered as a link to a dead process is
			_ = n.send(p, 0, wire{Kind: kExit, From: w.To, To: w.From, ErrKind: noproc, Link: true})
			return
		case kMonitor:
			_ = n.send(p, 0, wire{Kind: kDown, From: w.To, To: w.From, Ref: w.Ref, ErrKind: noproc})
			return
		case kTakenAsk, kTaken:
			// About sessions with an earlier incarnation of this node, which
			// this one's record does not cover (its sessions are numbered
			// anew): the asker's limbo is reported at the tick time.
			return
		}
	}

	switch w.Kind {
	case kSend:
		n.ackLater(b, p, w.Ref)
		msg, err := n.codecs.decode(w.Type, w.Data)
		var refused error
		if !stale {
			// Checked before the decoding error: the version's refusal
			// says more than "not registered here".
			refused = n.notAccepted(to, w.Type, w.ErrText, string(p.name))
		}
		if refused != nil {
			if msg == nil {
				msg = Undecodable{Type: w.Type, Data: w.Data}
			}
			n.sys.Undeliverable(to, msg, refused)
			return
		}
		if err != nil {
			n.sys.Undeliverable(to, Undecodable{Type: w.Type, Data: w.Data}, err)
			return
		}
		if stale {
			n.sys.Undeliverable(to, msg, actor.NoProc)
			return
		}
		if err := n.sys.Send(to, msg); err != nil {
			n.sys.Undeliverable(to, msg, refusal(err))
		}
	case kSendNamed:
		n.ackLater(b, p, w.Ref)
		msg, err := n.codecs.decode(w.Type, w.Data)
		var refused error
		if n.checksShapes(w.ErrText) {
			if pid, ok := n.sys.Whereis(w.Name); ok {
				refused = n.notAccepted(pid, w.Type, w.ErrText, string(p.name))
			}
		}
		switch {
		case refused != nil:
			if msg == nil {
				msg = Undecodable{Type: w.Type, Data: w.Data}
			}
			n.sys.Undeliverable(actor.PID{}, ToName{Name: Name{Name: w.Name, Node: string(n.name)}, Message: msg}, refused)
			return
		case err != nil:
			n.sys.Undeliverable(actor.PID{}, Undecodable{Type: w.Type, Data: w.Data}, err)
			return
		}
		if err := n.sys.SendNamed(w.Name, msg); err != nil {
			n.sys.Undeliverable(actor.PID{}, ToName{Name: Name{Name: w.Name, Node: string(n.name)}, Message: msg}, refusal(err))
		}
	case kCall, kCallNamed:
		if stale && w.Kind == kCall {
			n.reply(p, w.Ref, nil, &actor.ExitError{PID: to, Reason: actor.NoProc})
			return
		}
		n.serveCall(p, w)
	case kSpawn, kWhereis, kInfo:
		n.served.Add(1)
		go n.serve(p, w)
	case kHandoff:
		n.handedOff(p, w)
	case kAck:
		n.acked(p, w.Ref)
	case kTakenAsk:
		n.endedAtPeer(p, w)
		n.answerTaken(p, w)
	case kTaken:
		n.settleLimbo(p, w.To, w.Ref)
	case kFinalAck: // an earlier build's word for its sessions, inexact: asked again instead
	case kTick:
		_ = n.sendUrgent(p, wire{Kind: kTock})
	case kTock: // heard (above)
	case kReply, kSpawnReply:
		n.answered(p, w)
	case kLink:
		n.mu.Lock()
		p.links[pidPair{to, sender}] = struct{}{}
		n.mu.Unlock()
		_ = n.sys.RemoteLink(sender, to) // a dead target answers with an exit signal
	case kUnlink:
		n.mu.Lock()
		delete(p.links, pidPair{to, sender})
		n.mu.Unlock()
		n.sys.RemoteUnlink(sender, to)
	case kMonitor:
		ref := actor.NewRef(p.idx, w.Ref)
		n.mu.Lock()
		p.watchers[ref] = to
		n.mu.Unlock()
		n.sys.RemoteMonitor(sender, to, ref)
	case kDemonitor:
		ref := actor.NewRef(p.idx, w.Ref)
		n.mu.Lock()
		delete(p.watchers, ref)
		n.mu.Unlock()
		n.sys.RemoteDemonitor(to, ref)
	case kExit:
		if w.Link {
			n.mu.Lock()
			_, had := p.links[pidPair{to, sender}]
			delete(p.links, pidPair{to, sender})
			n.mu.Unlock()
			if !had {
				return // unlinked meanwhile
			}
		}
		_ = n.sys.RemoteExit(sender, to, decodeErr(string(p.name), w.ErrKind, w.ErrText), w.Link)
	case kDown:
		ref := actor.NewRef(0, w.Ref)
		n.mu.Lock()
		m, had := p.monitors[ref]
		delete(p.monitors, ref)
		n.mu.Unlock()
		if had {
			n.sys.RemoteDown(m.remote, m.local, ref, decodeErr(string(p.name), w.ErrKind, w.ErrText))
		}
	default:
		n.log.Warn("unknown wire message", zap.Uint8("kind", w.Kind), zap.String("peer", string(p.name)))
	}
}

// refusal is the dead letter reason for a local send that failed.
func refusal(err error) error {
	for _, r := range []error{actor.ErrMailboxFull, actor.ErrUnknownName, actor.NoProc} {
		if errors.Is(err, r) {
			return r
		}
	}
	return err
}

// Undecodable stands for a message that arrived and could not be decoded
// (its type unregistered here, or its bytes bad): it is reported as a dead
// letter with the reason.
type Undecodable struct {
	Type string
	Data []byte
}

// serve answers a spawn or lookup from another node, on a goroutine of its
// own: the bridge must not wait for them.
func (n *Node) serve(p *peer, w wire) {
	defer n.served.Done()
	switch w.Kind {
	case kWhereis:
		pid, ok := n.sys.Whereis(w.Name)
		if !ok {
			n.replyKind(p, kSpawnReply, w.Ref, 0, fmt.Errorf("%w: %q on %s", actor.ErrUnknownName, w.Name, n.name))
			return
		}
		n.replyKind(p, kSpawnReply, w.Ref, pid.ID(), nil)
	case kInfo:
		n.serveInfo(p, w.Ref)
	case kSpawn:
		args, err := n.codecs.decode(w.Type, w.Data)
		var pid actor.PID
		if err == nil {
			pid, err = n.sys.Spawn(w.Name, args)
		}
		n.replyKind(p, kSpawnReply, w.Ref, pid.ID(), err)
	}
}

// serveCall passes a call from another node to the local process as a
// request (actor.System.SendRequest), whose answer goes back from the
// goroutine that gives it: no goroutine waits for it here. A call the
// process never answers is left to the caller's deadline.
func (n *Node) serveCall(p *peer, w wire) {
	answer := func(v any, err error) { n.reply(p, w.Ref, v, err) }
	req, err := n.codecs.decode(w.Type, w.Data)
	to, known := actor.NewPID(0, w.To), true
	if w.Kind == kCallNamed && n.checksShapes(w.ErrText) {
		to, known = n.sys.Whereis(w.Name)
	}
	if known {
		if refused := n.notAccepted(to, w.Type, w.ErrText, string(p.name)); refused != nil {
			err = refused
		}
	}
	switch {
	case err != nil:
		answer(nil, err)
	case w.Kind == kCallNamed:
		n.sys.SendRequestNamed(w.Name, req, answer)
	default:
		n.sys.SendRequest(to, req, answer)
	}
}

func (n *Node) reply(p *peer, ref uint64, v any, err error) {
	a := wire{Kind: kReply, Ref: ref}
	if err == nil {
		typ, data, eerr := n.codecs.encode(v)
		if eerr != nil {
			err = fmt.Errorf("cluster: the reply cannot cross: %w", eerr)
		}
		a.Type, a.Data = typ, data
	}
	if err != nil {
		var ee *actor.ExitError
		if errors.As(err, &ee) {
			a.Exit, a.From, err = true, ee.PID.ID(), ee.Reason
		}
		a.Type, a.Data = "", nil
		a.ErrKind, a.ErrText = encodeErr(err)
	}
	_ = n.send(p, 0, a) // a lost connection fails the call at the caller
}

func (n *Node) replyKind(p *peer, kind uint8, ref, id uint64, err error) {
	a := wire{Kind: kind, Ref: ref, To: id}
	a.ErrKind, a.ErrText = encodeErr(err)
	_ = n.send(p, 0, a)
}

func reflectType(v any) reflect.Type { return reflect.TypeOf(v) }

// flushAcks makes the bridge acknowledge what this node took from a peer
// once the messages queued in its mailbox now are handled.
type flushAcks struct{ p *peer }

// ackLater records that this node took send seq from p; the
// acknowledgement goes when the bridge has handled what it was asked
// before (a message to it, queued behind the packets it has, if it takes
// any), or at once every ackEvery sends, so that a stream of sends costs
// a few acknowledgements.
func (n *Node) ackLater(b *bridge, p *peer, seq uint64) {
	n.mu.Lock()
	p.ackSeq = seq
	now := seq-p.ackSent >= ackEvery
	if now {
		p.ackSent = seq
	}
	flush := !now && !p.ackPending
	p.ackPending = p.ackPending || flush
	n.mu.Unlock()
	if now {
		_ = n.send(p, 0, wire{Kind: kAck, Ref: seq})
	} else if flush {
		if b != nil {
			_ = b.Send(b.PID(), flushAcks{p})
		} else {
			_ = n.en.Send(n.bridge, flushAcks{p})
		}
	}
}

const ackEvery = 32

func (n *Node) flushAcks(p *peer) {
	n.mu.Lock()
	p.ackPending = false
	seq := p.ackSeq
	send := seq > p.ackSent
	p.ackSent = seq
	n.mu.Unlock()
	if send {
		_ = n.send(p, 0, wire{Kind: kAck, Ref: seq})
	}
}
