package cluster

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"ergo.services/ergo/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster/internal/nodetest"
)

// fakeConn stands for an Ergo connection: it records the packets handed
// to it, and holds each until the test lets it go (release), or fails it.
type fakeConn struct {
	gen.RemoteNode
	gen.Connection

	mu      sync.Mutex
	packets []packet
	arrived chan struct{} // a packet was handed over
	gate    chan error    // what the next SendProcessID returns
}

func newFakeConn() *fakeConn {
	return &fakeConn{arrived: make(chan struct{}, 1000), gate: make(chan error)}
}

func (c *fakeConn) Name() gen.Atom { return "far@localhost" }
func (c *fakeConn) Disconnect()    {}

// Info is what the node's ticker reads of a connection: nothing ever
// arrived on the fake.
func (c *fakeConn) Info() gen.RemoteNodeInfo { return gen.RemoteNodeInfo{} }

func (c *fakeConn) SendProcessID(from gen.PID, to gen.ProcessID, opts gen.MessageOptions, msg any) error {
	pk := msg.(packet)
	pk.Frames = append([]byte(nil), pk.Frames...) // Ergo encodes it before it returns
	c.mu.Lock()
	c.packets = append(c.packets, pk)
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
	return <-c.gate
}

// release lets the packet in flight go, with err.
func (c *fakeConn) release(err error) { c.gate <- err }

// open lets every packet go, until the returned function is called.
func (c *fakeConn) open() (shut func()) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case c.gate <- nil:
			case <-stop:
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// wait waits until a packet was handed over.
func (c *fakeConn) wait(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
	defer cancel()
	select {
	case <-c.arrived:
	case <-ctx.Done():
		t.Fatal("no packet")
	}
}

func (c *fakeConn) frames(t *testing.T, i int) []wire {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Greater(t, len(c.packets), i)
	fr := frameReader{b: c.packets[i].Frames}
	var out []wire
	var w wire
	for fr.next(&w) {
		out = append(out, w)
	}
	require.NoError(t, fr.err)
	return out
}

// fakePeer joins a node, with no ticker, and gives it a peer whose
// connection is c.
func fakePeer(t *testing.T, c *fakeConn) (*Node, *peer) {
	t.Helper()
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
	n, err := Join(sys.System, Options{Name: "near@localhost", Cookie: "c", NetTickTime: -1,
		Registrar: Registrar{Port: nodetest.FreePort(t)}})
	require.NoError(t, err)
	t.Cleanup(func() {
		// Let whatever is in flight go, so that Stop finds no flusher
		// waiting on the fake.
		go func() {
			for {
				select {
				case c.gate <- errors.New("closed"):
				case <-n.stopDone:
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	n.mu.Lock()
	p := n.peerOfLocked("far@localhost", 1, 42)
	p.watched = true
	n.mu.Unlock()
	n.switchConn(p, c, false)
	return n, p
}

func (n *Node) testSend(t *testing.T, p *peer, i int64) error {
	typ, data, err := n.codecs.encode(i)
	require.NoError(t, err)
	return n.sendTracked(p, actor.NewPID(p.idx, 7), i, wire{Kind: kSend, To: 7, Type: typ, Data: data})
}

// Sends queued while a packet is on its way go together in the next one,
// in the order sent, numbered in that order, their type named once.
func TestOutboxBatchesWhatWaits(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)

	require.NoError(t, n.testSend(t, p, 1))
	c.wait(t) // packet 0 is on its way, and held there
	for i := int64(2); i <= 100; i++ {
		require.NoError(t, n.testSend(t, p, i))
	}
	c.release(nil)
	c.wait(t)
	c.release(nil)

	first, second := c.frames(t, 0), c.frames(t, 1)
	require.Len(t, first, 1)
	require.Len(t, second, 99)
	for i, w := range append(first, second...) {
		assert.Equal(t, kSend, w.Kind)
		assert.Equal(t, uint64(i+1), w.Ref, "numbered in the order sent")
		v, err := n.codecs.decode(w.Type, w.Data)
		require.NoError(t, err)
		assert.Equal(t, int64(i+1), v)
	}
	c.mu.Lock()
	pk := c.packets[1]
	c.mu.Unlock()
	assert.Equal(t, p.session, pk.Session)
	assert.Equal(t, n.incarnation, pk.FromIncarnation)
	assert.Equal(t, p.incarnation, pk.ToIncarnation)
	assert.Equal(t, 1, bytes.Count(pk.Frames, []byte("int64")), "the type is named once, then numbered")
}

// A send that finds the outbox full waits for room, and goes in the
// next packet; no packet is larger than the bound (but for one frame).
func TestOutboxBoundsWhatWaits(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)
	require.NoError(t, n.testSend(t, p, 0))
	c.wait(t)
	done := make(chan int64)
	go func() {
		var i int64
		for i = 1; i <= 3*maxOutbox/8; i++ { // three outboxes' worth, at least
			if err := n.testSend(t, p, i); err != nil {
				break
			}
		}
		done <- i - 1
	}()
	var sent int64
	for sent == 0 {
		c.release(nil)
		select {
		case sent = <-done:
		case <-c.arrived:
		}
	}
	require.Equal(t, int64(3*maxOutbox/8), sent)
	shut := c.open()
	n.flushers.Wait()
	shut()
	c.mu.Lock()
	packets := append([]packet(nil), c.packets...)
	c.mu.Unlock()
	var next int64
	for i, pk := range packets {
		assert.LessOrEqual(t, len(pk.Frames), maxOutbox+16, "packet %d", i)
		for _, w := range c.frames(t, i) {
			v, err := n.codecs.decode(w.Type, w.Data)
			require.NoError(t, err)
			require.Equal(t, next, v)
			next++
		}
	}
	assert.Greater(t, len(packets), 3)
}

// A send waiting for room when the session ends is refused (noconnection):
// nothing waits for a connection that is gone.
func TestOutboxWaitEndsWithTheSession(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)
	require.NoError(t, n.testSend(t, p, 0))
	c.wait(t)
	var i int64 = 1
	for ; ; i++ { // fill it
		n.mu.Lock()
		full := len(p.out.fw.b) >= maxOutbox
		n.mu.Unlock()
		if full {
			break
		}
		require.NoError(t, n.testSend(t, p, i))
	}
	refused := make(chan error)
	go func() { refused <- n.testSend(t, p, i) }()
	n.switchConn(p, nil, false)
	assert.ErrorIs(t, <-refused, actor.NoConnection)
	n.mu.Lock()
	defer n.mu.Unlock()
	require.Len(t, p.limbo, 1, "one session ended")
	assert.Equal(t, uint64(1), p.limbo[0].session)
	assert.Len(t, p.limbo[0].sends, int(i), "what was queued waits in limbo, under its session, for the peer's word")
	assert.Empty(t, p.out.fw.b, "the outbox of an ended session is dropped")
}

// A packet Ergo refuses ends the session as a lost connection: its sends
// wait for the peer's word, calls waiting fail, and the next send is
// refused until a new connection.
func TestOutboxRefusedPacketEndsTheSession(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)
	lostEvents := make(chan ConnectionLost, 1)
	defer n.sys.Subscribe(func(e actor.Event) {
		if cl, ok := e.(ConnectionLost); ok {
			select {
			case lostEvents <- cl:
			default:
			}
		}
	})()
	call := make(chan error)
	go func() {
		_, err := n.request(context.Background(), p, wire{Kind: kWhereis, Name: "x"})
		call <- err
	}()
	c.wait(t) // the call's packet, flushed by the caller
	require.NoError(t, n.testSend(t, p, 1))
	c.release(errors.New("too large"))
	assert.ErrorIs(t, <-call, actor.NoConnection)
	assert.Equal(t, 1, (<-lostEvents).Calls)
	assert.ErrorIs(t, n.testSend(t, p, 2), actor.NoConnection)
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Nil(t, p.conn)
	require.Len(t, p.limbo, 1)
	assert.Len(t, p.limbo[0].sends, 1)
	assert.False(t, p.out.flushing, "the flusher is done")
}

// sentQueue against a plain slice: the same sends, in the same order,
// whatever the pattern of pushes and acknowledgements.
func TestSentQueue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q sentQueue
	var model []sent
	var seq, acked uint64
	for range 20000 {
		if rng.IntN(3) > 0 {
			seq++
			q.push(sent{seq: seq})
			model = append(model, sent{seq: seq})
		} else {
			acked = min(seq, acked+uint64(rng.IntN(40)))
			q.dropTo(acked)
			for len(model) > 0 && model[0].seq <= acked {
				model = model[1:]
			}
		}
		require.Equal(t, len(model), len(q.buf)-q.head)
	}
	assert.LessOrEqual(t, cap(q.buf), 4*max(len(model), 64), "the array does not grow without bound")
	assert.Equal(t, model, q.take())
	assert.Empty(t, q.take())
}
