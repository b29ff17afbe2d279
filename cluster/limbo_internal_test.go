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
// a counter named "count"; both in this process, without the tick.
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

func newTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	reg := uint16(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	join := func(name string) (*actortest.System, *Node) {
		sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
		n, err := Join(sys.System, Options{Name: name, Cookie: "c", Registrar: Registrar{Port: reg}, NetTickTime: -1})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			require.NoError(t, n.Stop(ctx))
		})
		return sys, n
	}
	tn := &twoNodes{}
	tn.sysA, tn.a = join("a@localhost")
	tn.sysB, tn.b = join("b@localhost")
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

// A session one end ended ends at the other end too, even when Ergo
// keeps the same connection for both ends' next sessions: otherwise the
// end that ended it drops everything the other sends in its old session
// (answers, acknowledgements, its word on what it took), and waits for
// ever. What was sent in the old session is counted once.
func TestSessionEndedAtOneEndEndsAtTheOther(t *testing.T) {
	tn := newTwoNodes(t)
	tn.meet(t)
	tn.send(t, 1000)
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
