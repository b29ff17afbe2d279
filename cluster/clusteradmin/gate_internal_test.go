package clusteradmin

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/nodetest"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/upgrade"
)

// The gate of a ClusterGate: nothing to check before the first wave; a
// committed node must run the plan's versions, processes included; its
// wait ends with the context.
func TestGate(t *testing.T) {
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.WarnLevel)))
	n, err := cluster.Join(sys.System, cluster.Options{Name: "g@localhost", Cookie: nodetest.Cookie,
		Registrar: cluster.Registrar{Port: nodetest.FreePort(t)}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Stop(context.Background())) })
	v1, v2 := testkit.Counter(false)
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("counter", nil)
	require.NoError(t, err)
	_, err = sys.Call(t.Context(), pid, testkit.Version{}) // past Init: its version is published
	require.NoError(t, err)
	srv, err := admin.New(sys.System, admin.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close(context.Background())) })
	a, err := Mount(srv, n, Options{})
	require.NoError(t, err)

	spec := upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}}
	gate := a.gate(spec, 0)
	require.NoError(t, gate(t.Context(), nil), "nothing committed yet: nothing to check")
	assert.ErrorContains(t, gate(t.Context(), []string{"g@localhost"}), "node g@localhost runs counter at v1, not v2")

	// v2 current, the process still on v1 (it has not handled a message
	// since): the gate says which process.
	require.NoError(t, sys.Load(v2))
	assert.ErrorContains(t, gate(t.Context(), []string{"g@localhost"}), "process "+pid.String()+" of counter runs v1, not v2")
	_, err = sys.Call(t.Context(), pid, testkit.Version{})
	require.NoError(t, err)
	require.NoError(t, gate(t.Context(), []string{"g@localhost"}))

	assert.ErrorContains(t, gate(t.Context(), []string{"nobody@localhost"}), "node nobody@localhost does not answer")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, a.gate(spec, time.Hour)(ctx, []string{"g@localhost"}), context.Canceled)
}
