package cluster

import (
	"errors"
	"fmt"
	"sync"

	"ergo.services/ergo/gen"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// outbox holds the frames waiting to go to a peer, in the order they are
// to arrive, for the peer's current session; one flusher at a time ships
// all of them as one packet (flush). While a packet is on its way, the
// next one forms: under load a packet carries many frames, and a frame
// that finds the outbox idle goes at once, alone. There is no timer and no
// waiting for company.
//
// Sends (Send, SendNamed) start a flusher goroutine and return: a stream
// of sends from one goroutine then forms packets while the flusher ships
// the previous one. Everything else (calls, replies, signals,
// acknowledgements) is flushed by its own goroutine when no flusher runs,
// which then waits for an answer anyway, or is done: one goroutine switch
// less on a round trip.
//
// The alternative rejected: every send shipping its own frame (what an
// Ergo message per wire message did). It keeps a sender's errors
// synchronous, but at both ends each message then costs what a packet
// does. Here a frame taken into the outbox is on its way: if its packet
// cannot be handed to Ergo, the connection is treated as lost (the session
// ends; what it carried ends with noconnection, and the sends go into the
// accounting of a lost connection), as when Ergo refuses a connection that
// broke.
//
// The outbox is bounded (maxOutbox): a sender that finds it full waits
// until the flusher takes it, as it would wait for a full TCP buffer;
// answers, signals and acknowledgements never wait, so the bridge never
// blocks on it.
type outbox struct {
	fw       frameWriter
	spare    []byte     // the previous packet's buffer, for the next one
	flushing bool       // a flusher runs (or a goroutine flushes in line)
	room     *sync.Cond // on Node.mu: the outbox was taken, or the session ended
}

// maxOutbox bounds the bytes of frames the outbox holds for Sends (it is
// the largest packet, but for a single larger frame); maxSpare, the
// buffer kept for the next packet.
const (
	maxOutbox = 64 << 10
	maxSpare  = 1 << 20
)

// discardLocked drops what the outbox holds: the session it was for has
// ended. Its sends are in the session's unacknowledged record, and end as
// that record does (they are reported lost once the peer says how far it
// took the session: these it never saw).
func (o *outbox) discardLocked() {
	o.fw.reset(o.fw.b)
	o.room.Broadcast()
}

// How a frame is flushed (enqueue).
const (
	flushInLine = iota // by the enqueuing goroutine, if no flusher runs
	flushAsync         // by a flusher goroutine
)

// enqueueLocked appends w to p's outbox for the current session, and says
// whether the caller is to flush (see flushInLine, flushAsync): it starts
// a flusher goroutine for flushAsync itself. The caller has checked that
// the session is up and the node not stopped (Stop waits for flushers
// started before it).
func (n *Node) enqueueLocked(p *peer, w *wire, how int) (inLine bool) {
	p.out.fw.add(w)
	if p.out.flushing {
		return false
	}
	p.out.flushing = true
	if how == flushInLine {
		return true
	}
	n.flushers.Add(1)
	go func() {
		defer n.flushers.Done()
		n.flush(p, false)
	}()
	return false
}

// waitRoomLocked waits, for a Send, until the outbox has room or the
// session has ended (p.conn nil), or the node stops.
func (n *Node) waitRoomLocked(p *peer) {
	for p.conn != nil && !n.stopped && len(p.out.fw.b) >= maxOutbox {
		p.out.room.Wait()
	}
}

// flush ships p's outbox as packets until it is empty (once: one packet,
// then a flusher goroutine takes over if more has come). It runs as the
// only flusher of p (outbox.flushing).
func (n *Node) flush(p *peer, once bool) {
	for {
		n.mu.Lock()
		conn, session := p.conn, p.session
		if len(p.out.fw.b) == 0 || conn == nil {
			p.out.flushing = false
			n.mu.Unlock()
			return
		}
		frames := p.out.fw.b
		p.out.fw.reset(p.out.spare)
		p.out.spare = nil
		p.out.room.Broadcast()
		n.mu.Unlock()

		err := n.transmit(p, conn, session, frames, gen.MessagePriorityNormal)

		n.mu.Lock()
		if cap(frames) <= maxSpare {
			// Ergo has encoded the packet into a buffer of its own.
			p.out.spare = frames[:0]
		}
		more := len(p.out.fw.b) > 0
		switch {
		case err == nil && !more:
			p.out.flushing = false
			n.mu.Unlock()
			return
		case err == nil && once && !n.stopped:
			n.flushers.Add(1)
			go func() {
				defer n.flushers.Done()
				n.flush(p, false)
			}()
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		if err != nil {
			// The session ends, and what waited for it with it; what
			// comes meanwhile is for the next one, and goes on.
			n.transmitFailed(p, conn, err)
		}
	}
}

// transmit hands a packet of frames to conn, the connection of session.
func (n *Node) transmit(p *peer, conn gen.RemoteNode, session uint64, frames []byte, prio gen.MessagePriority) error {
	c, ok := conn.(gen.Connection)
	if !ok {
		return fmt.Errorf("cluster: node %s: %w (not an Ergo connection)", p.name, actor.NoConnection)
	}
	pk := packet{Session: session, FromIncarnation: n.incarnation, ToIncarnation: p.incarnation, Frames: frames}
	err := c.SendProcessID(n.bridge, gen.ProcessID{Name: bridgeName, Node: p.name},
		gen.MessageOptions{KeepNetworkOrder: true, Priority: prio}, pk)
	if err != nil {
		return fmt.Errorf("cluster: node %s: %w (%w)", p.name, actor.NoConnection, err)
	}
	return nil
}

// transmitFailed ends the session whose packet Ergo refused: the frames
// it carried are lost with it (see outbox).
func (n *Node) transmitFailed(p *peer, conn gen.RemoteNode, err error) {
	if errors.Is(err, gen.ErrNoConnection) {
		// The connection is gone and the bridge has not heard yet: end its
		// session now, so that the next request connects again.
		n.nodeDown(p.name)
		return
	}
	n.log.Warn("a packet could not be sent: connection closed", zap.String("peer", string(p.name)), zap.Error(err))
	conn.Disconnect()
	n.mu.Lock()
	same := p.conn == conn
	n.mu.Unlock()
	if same {
		n.switchConn(p, nil, false)
	}
}

// sentQueue holds the sends of a session not yet acknowledged, oldest
// first: pushed at the back, dropped from the front as acknowledgements
// come, in one array that is reused (a stream of sends would otherwise
// grow a new one every few acknowledgements, the slice losing its front).
type sentQueue struct {
	buf  []sent
	head int // buf[:head] are acknowledged
}

func (q *sentQueue) push(s sent) {
	if len(q.buf) == cap(q.buf) && q.head >= len(q.buf)/2 {
		// At least half of it is acknowledged: move the rest to the front
		// rather than grow (what moves is less than what was dropped).
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, s)
}

// dropTo drops the sends up to seq.
func (q *sentQueue) dropTo(seq uint64) {
	for q.head < len(q.buf) && q.buf[q.head].seq <= seq {
		q.buf[q.head] = sent{}
		q.head++
	}
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
}

// take returns the sends not acknowledged, and empties q.
func (q *sentQueue) take() []sent {
	s := q.buf[q.head:]
	*q = sentQueue{}
	return s
}
