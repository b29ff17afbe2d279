package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"ergo.services/ergo/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster/internal/nodetest"
)

func joinTest(t *testing.T, name string, reg uint16) *Node {
	t.Helper()
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
	n, err := Join(sys.System, Options{Name: name, Cookie: "c", Registrar: Registrar{Port: reg}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	return n
}

// The first packet of a peer's new session, arriving while this node
// still holds the old connection (it has not heard of its loss yet), ends
// the old session here and is taken whole, as is the rest of the new one.
func TestNewSessionTakenWhole(t *testing.T) {
	reg := nodetest.FreePort(t)
	a := joinTest(t, "a@localhost", reg)
	b := joinTest(t, "b@localhost", reg)
	pa, err := a.connect("b@localhost") // b, as a sees it
	require.NoError(t, err)
	// b takes a's connection rather than dialing one of its own: two
	// dials at once leave Ergo one connection, and a packet sent on the
	// other is lost (under load, b's dial could come before it had
	// registered a's).
	require.Eventually(t, func() bool {
		_, err := b.en.Network().Node("a@localhost")
		return err == nil
	}, nodetest.Wait, time.Millisecond, "b registers a's connection")
	pb, err := b.connect("a@localhost")
	require.NoError(t, err)
	probe := actortest.NewProbe(t, a.sys)

	// The old connection, as a still sees it. What a sends on it meanwhile
	// (an acknowledgement its flush timer sends, under load) goes nowhere
	// and fails nothing: a closed gate lets every send return at once.
	old := newFakeConn()
	close(old.gate)
	a.mu.Lock()
	pa.conn = old
	a.mu.Unlock()
	b.mu.Lock()
	conn, session := pb.conn, pb.session+1 // b's new session
	b.mu.Unlock()
	exit := func(text string) {
		var fw frameWriter
		kind, text := encodeErr(errors.New(text))
		fw.add(&wire{Kind: kExit, From: 5, To: probe.PID().ID(), ErrKind: kind, ErrText: text})
		require.NoError(t, b.transmit(pb, conn, session, fw.b, gen.MessagePriorityNormal))
	}
	exit("first")
	exit("second")

	for _, want := range []string{"first", "second"} {
		m := probe.Recv()
		e, ok := m.(actor.ExitMsg)
		require.True(t, ok, "%#v", m)
		assert.EqualError(t, e.Reason, want)
	}
}

// A frame of a session that ended while its packet was being handled is
// not taken; a send of a live one is counted as taken at once.
func TestTakingStopsWhenTheSessionEnds(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)
	n.mu.Lock()
	p.rsession = 3
	n.mu.Unlock()
	assert.True(t, n.taking(p, 3, wire{Kind: kSend, Ref: 17}))
	n.switchConn(p, nil, false)
	assert.False(t, n.taking(p, 3, wire{Kind: kSend, Ref: 18}))
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Equal(t, uint64(17), p.takenInLocked(3), "the peer is told 17 was taken in its session 3, and 18 not")
}
