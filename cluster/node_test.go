package cluster_test

import (
	"testing"
	"time"

	"ergo.services/ergo/lib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

func TestJoinRejectsBadOptions(t *testing.T) {
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
	for _, o := range []cluster.Options{
		{Name: "", Cookie: "x"},
		{Name: "nohost", Cookie: "x"},
		{Name: "a@", Cookie: "x"},
		{Name: "@h", Cookie: "x"},
		{Name: "a@b@c", Cookie: "x"},
		{Name: "a@localhost"},
		{Name: "a@localhost", Cookie: "x", Listen: "localhost"},
		{Name: "a@localhost", Cookie: "x", Listen: "localhost:0"},
		{Name: "a@localhost", Cookie: "x", Listen: "localhost:99999"},
	} {
		_, err := cluster.Join(sys.System, o)
		assert.ErrorIs(t, err, cluster.ErrBadOptions, "%+v", o)
	}
	_, err := cluster.Join(nil, cluster.Options{Name: "a@localhost", Cookie: "x"})
	assert.ErrorIs(t, err, cluster.ErrBadOptions)
}

func TestJoinTwiceAndStopTwice(t *testing.T) {
	reg := freePort(t)
	sys, n := joinLocal(t, "once@localhost", reg)
	_, err := cluster.Join(sys.System, cluster.Options{Name: "twice@localhost", Cookie: cookie, Registrar: cluster.Registrar{Port: reg}})
	require.ErrorIs(t, err, cluster.ErrJoined)
	require.NoError(t, n.Stop(ctxWait(t)))
	require.NoError(t, n.Stop(ctxWait(t)))
	// Detached: PIDs of other nodes are dead again.
	require.ErrorIs(t, sys.Send(actor.NewPID(1, 1), "x"), actor.NoProc)

	// The System can join again.
	again, err := cluster.Join(sys.System, cluster.Options{Name: "again@localhost", Cookie: cookie, Registrar: cluster.Registrar{Port: reg}})
	require.NoError(t, err)
	require.NoError(t, again.Stop(ctxWait(t)))
}

func TestRegisterRejectsWhatCannotCross(t *testing.T) {
	_, n := joinLocal(t, "reg@localhost", freePort(t))
	type local struct{ X int64 }
	require.ErrorIs(t, n.Register(&testkit.Ping{}), cluster.ErrBadType)
	require.ErrorIs(t, n.Register(nil), cluster.ErrBadType)
	require.ErrorIs(t, n.Register([]int64{}), cluster.ErrBadType)
	require.NoError(t, n.Register(local{}))
	require.NoError(t, n.Register(local{}), "registering twice is fine")
	require.ErrorIs(t, n.RegisterCodec(local{}, "", nil), cluster.ErrBadType)
	require.ErrorIs(t, n.RegisterCodec(testkit.Seen{}, "other-name", panicky{}), cluster.ErrBadType,
		"a type has one name")
}

type panicky struct{}

func (panicky) Encode(any) ([]byte, error) { panic("encode exploded") }
func (panicky) Decode([]byte) (any, error) { panic("decode exploded") }

type Odd struct{ X int64 }

// A codec that panics is an error for the sender; a type the receiver has
// not registered, and a message for a dead process, are dead letters
// there, with the reason.
func TestReceiverDeadLetters(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b := joinLocal(t, "b@localhost", reg)
	w, err := sysB.Spawn("echo", nil)
	require.NoError(t, err)
	require.NoError(t, sysB.Register("echo", w))
	far, err := a.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: b.Name()})
	require.NoError(t, err)

	type Bad struct{ X int64 }
	require.NoError(t, a.RegisterCodec(Bad{}, "bad", panicky{}))
	require.ErrorContains(t, sysA.Send(far, Bad{1}), "encode exploded")

	letters := make(chan actor.DeadLetter, 10)
	cancel := sysB.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			letters <- d
		}
	})
	defer cancel()
	require.NoError(t, a.Register(Odd{}))
	require.NoError(t, sysA.Send(far, Odd{7}))
	d := within(t, letters)
	assert.ErrorIs(t, d.Reason, cluster.ErrUnregistered)
	assert.IsType(t, cluster.Undecodable{}, d.Message)

	require.NoError(t, sysB.Stop(ctxWait(t), w))
	require.NoError(t, sysA.Send(far, testkit.Ping{From: "a", N: 1}))
	d = within(t, letters)
	assert.ErrorIs(t, d.Reason, actor.NoProc)
	assert.Equal(t, testkit.Ping{From: "a", N: 1}, d.Message)
	assert.Equal(t, w, d.To)

	// SendNamed to a name nobody holds there.
	require.NoError(t, a.SendNamed(cluster.Name{Name: "nobody", Node: b.Name()}, "hello"))
	d = within(t, letters)
	assert.ErrorIs(t, d.Reason, actor.ErrUnknownName)
	assert.Equal(t, cluster.ToName{Name: cluster.Name{Name: "nobody", Node: b.Name()}, Message: "hello"}, d.Message)
}

// Every message sent across a connection that breaks is handled, or
// reported as a dead letter by the sender, with reason noconnection, if
// the far node says (on the new connection) it never took it: nothing is
// lost silently, and nothing is counted twice.
// The connection is closed mid-traffic; sending resumes, over a new
// connection, once both ends have seen the old one end (see
// docs/cluster.md on a connection closed at one end only).
func TestNothingLostSilentlyWhenTheConnectionBreaks(t *testing.T) {
	r := newBreakRig(t)
	var sent int64
	send := func(from, to int64) {
		for i := from; i <= to; i++ {
			var err error
			if i%2 == 0 { // by name, as often
				err = r.a.SendNamed(r.echo, testkit.Ping{From: "a", N: i})
			} else {
				err = r.sysA.Send(r.far, testkit.Ping{From: "a", N: i})
			}
			if err == nil {
				sent++
			}
		}
	}
	send(1, 10000)
	require.NoError(t, r.a.Disconnect(r.b.Name()))
	r.broken()
	send(10001, 20000) // a new connection
	handled, err := r.sysA.Call(ctxWait(t), r.far, testkit.Seen{})
	require.NoError(t, err, "each sender's messages in order, gaps allowed")
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("sent %d, handled %d, dead letters %v", sent, handled, r.dead)
	lost := r.dead["a: noconnection"]
	assert.Equal(t, sent, handled.(int64)+lost, "every message handled or reported, once")
	assert.Empty(t, r.dead["b: noconnection"], "the receiver reports nothing it did not take")
}

// Two nodes with TLS (self-signed certificates, not verified) talk as
// plain ones do; a node with another cookie is refused.
func TestTLSAndCookie(t *testing.T) {
	reg := freePort(t)
	cert, err := lib.GenerateSelfSignedCert("graft test", "localhost")
	require.NoError(t, err)
	withTLS := func(o *cluster.Options) { o.TLS = &cluster.TLS{Certificate: cert, InsecureSkipVerify: true} }
	sysA, a := joinLocal(t, "a@localhost", reg, withTLS)
	sysB, b := joinLocal(t, "b@localhost", reg, withTLS)
	_, err = sysB.Spawn("echo", nil, actor.WithName("echo"))
	require.NoError(t, err)
	far, err := a.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: b.Name()})
	require.NoError(t, err)
	got, err := sysA.Call(ctxWait(t), far, testkit.Ping{From: "a", N: 1})
	require.NoError(t, err)
	assert.Equal(t, testkit.Ping{From: "a", N: 1}, got)

	_, other := joinLocal(t, "intruder@localhost", reg, withTLS, func(o *cluster.Options) { o.Cookie = "not-the-cookie" })
	_, err = other.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: b.Name()})
	require.ErrorIs(t, err, actor.NoConnection)
}

func TestLeaveRejectsBadHandoffs(t *testing.T) {
	_, n := joinLocal(t, "leaver@localhost", freePort(t))
	for _, h := range []map[string]string{
		{"x": "leaver@localhost"},
		{"x": "nohost"},
		{"": "b@localhost"},
		{"a\tb": "b@localhost"},
	} {
		assert.ErrorIs(t, n.Leave(ctxWait(t), h), cluster.ErrBadOptions, "%v", h)
	}
	require.NoError(t, n.Leave(ctxWait(t), nil), "leaving alone, handing nothing over")
}

// A node started again while the registrar still holds its name (its
// predecessor's connection not yet seen closed) tries again until the
// name is free, for Registrar.TakenWait; with a negative TakenWait it
// fails at once, saying the name is taken.
func TestJoinWaitsForItsNameToBeFree(t *testing.T) {
	reg := freePort(t)
	joinLocal(t, "r@localhost", reg) // serves the registrar
	old := startNode(t, "x@localhost", reg)

	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	_, err := cluster.Join(sys.System, cluster.Options{Name: "x@localhost", Cookie: cookie,
		Registrar: cluster.Registrar{Port: reg, TakenWait: -1}})
	require.ErrorContains(t, err, "taken")

	joined := make(chan error, 1)
	var n *cluster.Node
	go func() {
		var err error
		n, err = cluster.Join(sys.System, cluster.Options{Name: "x@localhost", Cookie: cookie,
			Registrar: cluster.Registrar{Port: reg, TakenWait: time.Minute}})
		joined <- err
	}()
	old.Kill(t)
	select {
	case err := <-joined:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Join did not get the name once its holder was gone")
	}
	require.NoError(t, n.Stop(ctxWait(t)))
}
