package cluster_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/cluster"
)

// Info reads another node's processes and modules (answered by that
// node's runtime); Peers lists the nodes met, with their incarnations.
func TestInfoAndPeers(t *testing.T) {
	cl := newCluster3(t)
	assert.Empty(t, cl.n.Peers(), "no node met yet")

	info, err := cl.n.Info(ctxWait(t), "b@localhost")
	require.NoError(t, err)
	assert.Equal(t, "b@localhost", info.Node)
	assert.NotZero(t, info.Incarnation)
	byName := map[string]actor.ProcessStat{}
	for _, p := range info.Processes {
		if p.Name != "" {
			byName[p.Name] = p
		}
	}
	require.Contains(t, byName, "echo")
	assert.Equal(t, "echo", byName["echo"].Module)
	assert.Equal(t, "v1", byName["echo"].Version)
	require.Contains(t, byName, "counter0")
	assert.Equal(t, "v1", byName["counter0"].Version)
	assert.False(t, byName["counter0"].Parent.IsZero(), "under its supervisor")
	assert.Zero(t, byName["counter0"].PID.Node(), "PIDs as that node numbers them")
	var counter *cluster.ModuleInfo
	for i := range info.Modules {
		if info.Modules[i].Name == "counter" {
			counter = &info.Modules[i]
		}
	}
	require.NotNil(t, counter)
	assert.Equal(t, "v1", counter.Current)
	require.Len(t, counter.Versions, 1)
	assert.Equal(t, int64(3), counter.Versions[0].Activations)

	assert.Equal(t, []cluster.PeerInfo{{Name: "b@localhost", Connected: true, Incarnation: info.Incarnation}}, cl.n.Peers())

	self, err := cl.n.Info(ctxWait(t), cl.n.Name())
	require.NoError(t, err)
	assert.Equal(t, cl.n.Incarnation(), self.Incarnation)
	assert.Equal(t, cl.sys.ProcessCount(), len(self.Processes))

	// A node that is gone: noconnection, and it is listed as not
	// connected.
	cl.c.Kill(t)
	_, err = cl.n.Info(ctxWait(t), "c@localhost")
	require.ErrorIs(t, err, actor.NoConnection)
	_, err = cl.n.Info(ctxWait(t), "b@localhost")
	require.NoError(t, err)
	_, err = cl.n.Info(ctxWait(t), "nobody@localhost")
	require.ErrorIs(t, err, actor.NoConnection)
}
