package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"ergo.services/ergo/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// twoNodes is a, with its sessions driven by the test, and b, which runs
// a counter named "count"; both in this process, without the tick (a's
// tick is tickA, if given).
type twoNodes struct {
	a, b    *Node
	sysA    *actortest.System
	sysB    *actortest.System
	local   actor.PID // b's counter
	counter actor.PID // b's counter, as a numbers it (meet)
	// sent counts a's sends b's counter is to count; lost, those a
	// reported as dead letters with noconnection.
	sent int64
	mu   sync.Mutex
	lost int64
}

func newTwoNodes(t *testing.T, tickA ...time.Duration) *twoNodes {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	reg := uint16(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	join := func(name string, tick time.Duration) (*actortest.System, *Node) {
		sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
		n, err := Join(sys.System, Options{Name: name, Cookie: "c", Registrar: Registrar{Port: reg}, NetTickTime: tick})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			require.NoError(t, n.Stop(ctx))
		})
		return sys, n
	}
	tn := &twoNodes{}
	tick := time.Duration(-1)
	if len(tickA) > 0 {
		tick = tickA[0]
	}
	tn.sysA, tn.a = join("a@localhost", tick)
	tn.sysB, tn.b = join("b@localhost", -1)
	sysA, sysB := tn.sysA, tn.sysB
	require.NoError(t, sysB.Load(actor.Define("count", "v1", actor.Funcs[int64]{
		Handle: func(ctx *actor.Context, n int64, msg any) (int64, error) {
			if ctx.IsCall() {
				ctx.Reply(n)
				return n, nil
			}
			return n + 1, nil
		},
	})))
	tn.local, err = sysB.Spawn("count", nil, actor.WithName("count"))
	require.NoError(t, err)
	t.Cleanup(sysA.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok && errors.Is(d.Reason, actor.NoConnection) {
			tn.mu.Lock()
			tn.lost++
			tn.mu.Unlock()
		}
	}))
	return tn
}

// meet has a look b's counter up: a connects.
func (tn *twoNodes) meet(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var err error
	tn.counter, err = tn.a.Whereis(ctx, Name{Name: "count", Node: tn.b.Name()})
	require.NoError(t, err)
}

// send sends k increments from a to b's counter, by PID: in a's current
// session if it has one (a send by name connects).
func (tn *twoNodes) send(t *testing.T, k int) {
	t.Helper()
	for range k {
		require.NoError(t, tn.a.sys.Send(tn.counter, int64(1)))
		tn.sent++
	}
}

// flushed waits until a has handed to Ergo everything it sent (a's
// outbox flushers are done), as each send did before packets: a session
// that ends drops what its outbox still holds, never sent, and the tests
// end sessions after sends the far node is to see.
func (tn *twoNodes) flushed() {
	tn.a.flushers.Wait()
}

// count asks b's counter how many increments it handled. Its answer
// comes after everything b sent a before it, answers to a's asks
// included.
func (tn *twoNodes) count(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := tn.a.CallNamed(ctx, Name{Name: "count", Node: tn.b.Name()}, "count")
	require.NoError(t, err, "b's answer reaches a")
	return v.(int64)
}

// peerOf returns n's record of the node named name.
func peerOf(t *testing.T, n *Node, name string) *peer {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.byName[gen.Atom(name)]
	require.NotNil(t, p, "%s has met %s", n.Name(), name)
	return p
}

func sessionOf(n *Node, p *peer) (session uint64, conn gen.RemoteNode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return p.session, p.conn
}

// blackhole is a connection through which nothing goes, and nothing
// says so: as a connection is whose far end has refused it.
type blackhole struct {
	gen.RemoteNode
	gen.Connection
}

func (blackhole) SendProcessID(gen.PID, gen.ProcessID, gen.MessageOptions, any) error { return nil }

// A session one end ended ends at the other end too, even when Ergo
// keeps the same connection for both ends' next sessions: otherwise the
// end that ended it drops everything the other sends in its old session
// (answers, acknowledgements, its word on what it took), and waits for
// ever. What was sent in the old session is counted once.
func TestSessionEndedAtOneEndEndsAtTheOther(t *testing.T) {
	tn := newTwoNodes(t)
	tn.meet(t)
	tn.send(t, 1000)
	tn.flushed()
	pb := peerOf(t, tn.a, "b@localhost")
	pa := peerOf(t, tn.b, "a@localhost")
	_, conn := sessionOf(tn.a, pb)
	bSession, _ := sessionOf(tn.b, pa)

	// a ends its session with b, as its tick does, but Ergo's connection
	// stays up: a's next send connects over it, in a new session.
	tn.a.switchConn(pb, nil, false)
	tn.send(t, 1000)
	aSession, aConn := sessionOf(tn.a, pb)
	require.Equal(t, conn, aConn, "the same Ergo connection")

	handled := tn.count(t)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	assert.Equal(t, tn.sent, handled+tn.lost, "sent = handled + reported lost")
	assert.Zero(t, tn.lost, "b took every send: the connection never failed")
	tn.a.mu.Lock()
	assert.Empty(t, pb.limbo, "settled")
	tn.a.mu.Unlock()
	newB, bConn := sessionOf(tn.b, pa)
	assert.Equal(t, bSession+1, newB, "b ended its session too")
	assert.NotNil(t, bConn)
	assert.Equal(t, uint64(2), aSession)
}

// The sends in limbo settle session by session: what the far node took
// of each session it saw, and nothing of one it never saw, even if it took
// sends of a later session, numbered above the lost ones. As in
// TestClusterChaos, where a node's first connection was one the far node
// had refused: the far node saw nothing of that session, and its word on
// the next, for everything it had taken, counted the lost sends as taken.
func TestLimboSettlesSessionBySession(t *testing.T) {
	tn := newTwoNodes(t)
	// Session 1 goes nowhere: b never hears of a.
	tn.a.mu.Lock()
	pb := tn.a.peerOfLocked(tn.b.name, tn.b.creation, tn.b.incarnation)
	tn.a.mu.Unlock()
	tn.counter = actor.NewPID(pb.idx, tn.local.ID())
	tn.a.switchConn(pb, blackhole{}, false)
	tn.a.mu.Lock()
	pb.watched = true
	tn.a.mu.Unlock()
	tn.send(t, 500)

	// Session 2, over a real connection: b takes what follows.
	_, err := tn.a.connect(tn.b.name)
	require.NoError(t, err)
	tn.send(t, 500)
	// b answers over the connection a dialed: b has it, and its Whereis
	// below does not dial a, which could cross a's dial (with no tick
	// here to end what crossed dials leave).
	tn.count(t)
	// Both ends see it closed: a probe on each monitors one on the other.
	pa := actortest.NewProbe(t, tn.sysA.System)
	pa.Monitor(tn.counter)
	pbProbe := actortest.NewProbe(t, tn.sysB.System)
	require.NoError(t, tn.sysA.Register("a-probe", pa.PID()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	aProbe, err := tn.b.Whereis(ctx, Name{Name: "a-probe", Node: tn.a.Name()})
	require.NoError(t, err)
	pbProbe.Monitor(aProbe)
	require.NoError(t, tn.a.Disconnect(tn.b.Name()))
	pa.ExpectDown(tn.counter, actor.NoConnection)
	pbProbe.ExpectDown(aProbe, actor.NoConnection)

	// Session 3, over a new connection: a asks about sessions 1 and 2.
	tn.send(t, 500)
	handled := tn.count(t)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	assert.Equal(t, tn.sent, handled+tn.lost, "sent = handled + reported lost")
	assert.GreaterOrEqual(t, tn.lost, int64(500), "session 1's")
	tn.a.mu.Lock()
	assert.Empty(t, pb.limbo, "settled")
	tn.a.mu.Unlock()
}

// An ask lost with its connection is asked again on the next; a session
// the far node never saw, between two it saw, is answered as such.
func TestLimboAskLostIsAskedAgain(t *testing.T) {
	tn := newTwoNodes(t)
	tn.meet(t)
	tn.send(t, 500) // session 1: b takes every one
	tn.flushed()
	pb := peerOf(t, tn.a, "b@localhost")
	_, real := sessionOf(tn.a, pb)

	// Session 2 goes nowhere; its ask about session 1 too.
	tn.a.switchConn(pb, blackhole{}, false)
	tn.a.mu.Lock()
	pb.watched = true
	tn.a.mu.Unlock()
	tn.send(t, 500)

	// Session 3, over session 1's connection: a asks again; b saw session
	// 1 and session 3, never session 2.
	tn.a.switchConn(pb, real, false)
	tn.send(t, 500)

	handled := tn.count(t)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	assert.Equal(t, int64(1000), handled, "sessions 1 and 3")
	assert.Equal(t, int64(500), tn.lost, "session 2")
	tn.a.mu.Lock()
	assert.Empty(t, pb.limbo, "settled")
	tn.a.mu.Unlock()
}

// A node with sends in limbo and no connection connects to ask for the
// far node's word, at the tick: otherwise the far node, alive but sent
// nothing more, would be taken for dead at the tick time, and what it had
// taken of the sends in limbo counted twice (handled there, dead letters
// here).
func TestLimboOfAQuietPeerIsAskedFor(t *testing.T) {
	tn := newTwoNodes(t, 300*time.Millisecond)
	tn.meet(t)
	pb := peerOf(t, tn.a, "b@localhost")
	bLost := make(chan struct{}, 10)
	t.Cleanup(tn.sysB.Subscribe(func(e actor.Event) {
		if _, ok := e.(ConnectionLost); ok {
			bLost <- struct{}{}
		}
	}))
	// a ends its session after sends b took, not all acknowledged yet
	// (again, in the rare case that they were), and sends nothing more.
	for limbo := 0; limbo == 0; {
		tn.send(t, 1000)
		tn.flushed()
		tn.a.switchConn(pb, nil, false)
		tn.a.mu.Lock()
		for _, l := range pb.limbo {
			limbo += len(l.sends)
		}
		tn.a.mu.Unlock()
		if limbo == 0 {
			_, err := tn.a.connect(tn.b.name)
			require.NoError(t, err)
			<-bLost // b hears of a's new session
			// a hears of b's (b's answer comes in it): b ends it when a
			// ends the session it saw it in, and says so when a's next one
			// starts, below. A session of b's a never saw in the one it
			// ends is not over (TestLateNewSessionOfThePeerEndsNothing):
			// b keeps it, and there would be no ConnectionLost to wait for.
			tn.count(t)
		}
	}
	// a's tick connects again over the same Ergo connection, and b ends
	// its session when it hears of a's new one.
	select {
	case <-bLost:
	case <-time.After(15 * time.Second):
		t.Fatal("a did not connect again")
	}
	handled := tn.count(t)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	assert.Equal(t, tn.sent, handled, "b took every send")
	assert.Zero(t, tn.lost, "none reported lost")
	tn.a.mu.Lock()
	assert.Empty(t, pb.limbo, "settled")
	tn.a.mu.Unlock()
}

// A session the far node started when it heard of this node's, but which
// this node hears of only in a later session of its own (it ended the
// one the far node answered before the answer came), ends nothing here:
// the far node did not end the session it had with this node's current
// one. This node ended sessions after taking it for the far node's word
// that it had, and the far node then did the same at this node's next
// session, the two ends renewing in turn for ever, every call failing
// (TestLimboOfAQuietPeerIsAskedFor, under CPU load).
func TestLateNewSessionOfThePeerEndsNothing(t *testing.T) {
	tn := newTwoNodes(t)
	probe := actortest.NewProbe(t, tn.sysB.System)
	require.NoError(t, tn.sysB.Register("probe", probe.PID()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	probePID, err := tn.a.Whereis(ctx, Name{Name: "probe", Node: tn.b.Name()})
	require.NoError(t, err)
	pb := peerOf(t, tn.a, "b@localhost")
	pa := peerOf(t, tn.b, "a@localhost")
	bLost := make(chan struct{}, 10)
	t.Cleanup(tn.sysB.Subscribe(func(e actor.Event) {
		if _, ok := e.(ConnectionLost); ok {
			bLost <- struct{}{}
		}
	}))

	// a takes nothing from b until its third session has started.
	pb.recv.Lock()
	held := true
	defer func() {
		if held {
			pb.recv.Unlock()
		}
	}()
	// Session 2: b ends its session 1 when it hears of it, and asks in
	// its session 2, before it takes what a sent after.
	tn.a.switchConn(pb, nil, false)
	_, err = tn.a.connect(tn.b.name)
	require.NoError(t, err)
	require.NoError(t, tn.a.sys.Send(probePID, "after"))
	probe.Expect("after")
	select {
	case <-bLost:
	case <-time.After(15 * time.Second):
		t.Fatal("b did not end its session 1")
	}
	tn.b.flushers.Wait() // b's session 2 is on its way to a
	bSession, _ := sessionOf(tn.b, pa)
	require.Equal(t, uint64(2), bSession)

	// Session 3, before a has heard of b's session 2, which comes first.
	tn.a.switchConn(pb, nil, false)
	_, err = tn.a.connect(tn.b.name)
	require.NoError(t, err)
	held = false
	pb.recv.Unlock()

	assert.Equal(t, int64(0), tn.count(t), "b's answer reaches a")
	aSession, _ := sessionOf(tn.a, pb)
	bSession, _ = sessionOf(tn.b, pa)
	assert.Equal(t, uint64(3), aSession, "a's session 3 goes on")
	assert.Equal(t, uint64(2), bSession, "b's session 2 goes on: a never ended it")
	tn.a.mu.Lock()
	assert.Equal(t, uint64(2), pb.rsession)
	tn.a.mu.Unlock()
}

// The record of what a node took, per session of the sender: the newest
// send taken in each, 0 for a session it took nothing in; the sender's
// asks say which sessions it may still ask about.
func TestTakenRecord(t *testing.T) {
	p := &peer{took: map[uint64]uint64{}}
	for _, tk := range []struct{ session, seq uint64 }{{1, 10}, {1, 20}, {3, 41}, {3, 60}, {4, 70}} {
		p.tookLocked(tk.session, tk.seq)
	}
	for session, want := range map[uint64]uint64{1: 20, 2: 0, 3: 60, 4: 70, 5: 0} {
		assert.Equal(t, want, p.takenInLocked(session), "session %d", session)
	}
	p.forgetTakenLocked(3)
	assert.Equal(t, map[uint64]uint64{3: 60}, p.took)
	assert.Equal(t, uint64(60), p.takenInLocked(3))
	assert.Equal(t, uint64(70), p.takenInLocked(4))
}
