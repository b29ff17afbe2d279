package cluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster/internal/nodetest"
)

// echoes answers a string call with the string, and counts the strings
// sent to it.
var echoes = actor.Define("echoes", "v1", actor.Funcs[int]{
	Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
		if ctx.IsCall() {
			if msg == "count" {
				ctx.Reply(n)
			} else {
				ctx.Reply(msg)
			}
			return n, nil
		}
		return n + 1, nil
	},
})

func joinEchoes(t *testing.T, name string, reg uint16, ergoOnly bool) (*Node, actor.PID) {
	t.Helper()
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck())
	n, err := Join(sys.System, Options{Name: name, Cookie: "c", Registrar: Registrar{Port: reg}, ergoOnly: ergoOnly})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	require.NoError(t, sys.Load(echoes))
	pid, err := sys.Spawn("echoes", nil, actor.WithName("echoes"))
	require.NoError(t, err)
	return n, pid
}

// A node that takes packets where Ergo decodes them (inline.go) and one
// that takes them through its bridge process, as builds before it did,
// talk both ways, whichever dials: the older node dials with Ergo's
// protocol version, which this one's acceptor speaks; this node's dials
// name its own version, and the older node's acceptor speaks the same
// bytes.
func TestOlderBuildsDialAndAreDialed(t *testing.T) {
	reg := nodetest.FreePort(t)
	older, _ := joinEchoes(t, "older@localhost", reg, true)
	newer, _ := joinEchoes(t, "newer@localhost", reg, false)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
	defer cancel()
	lost := make(chan struct{}, 2)
	for _, n := range []*Node{older, newer} {
		t.Cleanup(n.sys.Subscribe(func(e actor.Event) {
			if _, ok := e.(ConnectionLost); ok {
				lost <- struct{}{}
			}
		}))
	}

	talk := func(from, to *Node) {
		t.Helper()
		far, err := from.Whereis(ctx, Name{Name: "echoes", Node: string(to.name)})
		require.NoError(t, err)
		require.NoError(t, from.sys.Send(far, "one"))
		require.NoError(t, from.sys.Send(far, "two"))
		v, err := from.sys.Call(ctx, far, "hello from "+string(from.name))
		require.NoError(t, err)
		assert.Equal(t, "hello from "+string(from.name), v)
		n, err := from.sys.Call(ctx, far, "count")
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the sends arrived before the calls behind them")
	}
	talk(newer, older) // newer dials
	assert.Zero(t, newer.bridged.Load(), "the newer node took its packets where Ergo decoded them")
	assert.Positive(t, older.bridged.Load(), "the older node took its packets through its bridge")
	require.NoError(t, newer.Disconnect(string(older.name)))
	<-lost
	<-lost
	talk(older, newer) // older dials
	assert.Zero(t, newer.bridged.Load())
}
