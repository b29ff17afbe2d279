package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/upgrade"
)

var toV2 = upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}}

var bcd = []string{"b@localhost", "c@localhost", "d@localhost"}

// versions returns the version each of node's three counters runs.
func (cl *cluster3) versions(t *testing.T, node string) []string {
	t.Helper()
	var out []string
	for i := range 3 {
		v, err := cl.n.CallNamed(ctxWait(t), cluster.Name{Name: fmt.Sprint("counter", i), Node: node}, testkit.Version{})
		require.NoError(t, err)
		out = append(out, v.(string))
	}
	return out
}

func (cl *cluster3) expectVersion(t *testing.T, version string, nodes ...string) {
	t.Helper()
	for _, nd := range nodes {
		assert.Equal(t, []string{version, version, version}, cl.versions(t, nd), nd)
	}
}

func outcomes(rep *cluster.ClusterReport) map[string]string {
	m := map[string]string{}
	for _, n := range rep.Nodes {
		m[n.Node] = n.Outcome
	}
	return m
}

func TestClusterUpgradeCommits(t *testing.T) {
	cl := newCluster3(t)
	cl.expectVersion(t, "v1", bcd...)
	var gates [][]string
	rep, err := cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{
		Plan: toV2, Nodes: bcd, WaveSize: 2,
		Gate: func(ctx context.Context, committed []string) error {
			gates = append(gates, committed)
			return nil
		},
	})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterCommitted, rep.Outcome, rep.Reason)
	assert.Equal(t, map[string]string{"b@localhost": "committed", "c@localhost": "committed", "d@localhost": "committed"}, outcomes(rep))
	assert.Equal(t, [][]string{nil, {"b@localhost", "c@localhost"}}, gates, "a gate before each wave")
	for _, nr := range rep.Nodes {
		require.NotNil(t, nr.Prepare, nr.Node)
		assert.Equal(t, "simulated", nr.Prepare.Outcome)
		require.NotNil(t, nr.Commit, nr.Node)
		assert.Equal(t, "committed", nr.Commit.Outcome)
		assert.Len(t, nr.Commit.Procs, 3, "every process of the node is in its report")
		assert.Equal(t, map[string]string{"counter": "v1"}, nr.Previous)
	}
	cl.expectVersion(t, "v2", bcd...)
}

// One node's dry run refuses the plan: nothing is committed anywhere.
func TestClusterUpgradeAbortedByAFailingNode(t *testing.T) {
	cl := newCluster3(t, "-bad-v2")
	rep, err := cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: bcd})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterAborted, rep.Outcome)
	assert.Equal(t, map[string]string{"b@localhost": "prepared", "c@localhost": "prepared", "d@localhost": "refused"}, outcomes(rep))
	assert.Contains(t, rep.Nodes[2].Err, "would fail")
	cl.expectVersion(t, "v1", bcd...)
}

// The gate fails after the first wave: the committed node is rolled back
// through v2's downgrade; the others never moved.
func TestClusterUpgradeRolledBackAfterTheFirstWave(t *testing.T) {
	cl := newCluster3(t)
	rep, err := cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{
		Plan: toV2, Nodes: bcd,
		Gate: func(ctx context.Context, committed []string) error {
			if len(committed) == 1 {
				return errors.New("unhealthy after wave 1")
			}
			return nil
		},
	})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterRolledBack, rep.Outcome)
	assert.Contains(t, rep.Reason, "unhealthy after wave 1")
	assert.Equal(t, map[string]string{"b@localhost": "rolled_back", "c@localhost": "prepared", "d@localhost": "prepared"}, outcomes(rep))
	require.NotNil(t, rep.Nodes[0].Rollback)
	assert.Equal(t, "committed", rep.Nodes[0].Rollback.Outcome, "the downgrade plan committed")
	cl.expectVersion(t, "v1", bcd...)
}

// A node dies between prepare and commit: the wave that reaches it fails,
// and what was committed before is rolled back.
func TestClusterUpgradeNodeLostBetweenPrepareAndCommit(t *testing.T) {
	cl := newCluster3(t)
	rep, err := cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{
		Plan: toV2, Nodes: bcd,
		Gate: func(ctx context.Context, committed []string) error {
			if len(committed) == 0 {
				cl.c.Kill(t)
			}
			return nil
		},
	})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterRolledBack, rep.Outcome, rep.Reason)
	assert.Equal(t, map[string]string{"b@localhost": "rolled_back", "c@localhost": "lost", "d@localhost": "prepared"}, outcomes(rep))
	cl.expectVersion(t, "v1", "b@localhost", "d@localhost")
}

func TestClusterUpgradeRejectsBadInput(t *testing.T) {
	_, n := joinLocal(t, "coord@localhost", freePort(t))
	_, err := n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2})
	require.ErrorIs(t, err, cluster.ErrBadOptions)
	_, err = n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: []string{"a@x", "a@x"}})
	require.ErrorIs(t, err, cluster.ErrBadOptions)
	_, err = n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: upgrade.PlanSpec{}, Nodes: []string{"a@x"}})
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	// A node without an agent is not ready.
	rep, err := n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: []string{n.Name()}})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterAborted, rep.Outcome)
	assert.Contains(t, rep.Nodes[0].Err, "does not serve upgrades")
}

// Nodes that run the plan's version already are left alone: the plan
// commits on the others, and a plan run again changes nothing.
func TestClusterUpgradeWithNodesThereAlready(t *testing.T) {
	cl := newCluster3(t)
	rep, err := cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: []string{"b@localhost"}})
	require.NoError(t, err)
	require.Equal(t, cluster.ClusterCommitted, rep.Outcome)
	rep, err = cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: bcd})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterCommitted, rep.Outcome, rep.Reason)
	assert.Equal(t, map[string]string{"b@localhost": "unchanged", "c@localhost": "committed", "d@localhost": "committed"}, outcomes(rep))
	cl.expectVersion(t, "v2", bcd...)
	rep, err = cl.n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{Plan: toV2, Nodes: bcd})
	require.NoError(t, err)
	assert.Equal(t, cluster.ClusterCommitted, rep.Outcome)
	assert.Equal(t, map[string]string{"b@localhost": "unchanged", "c@localhost": "unchanged", "d@localhost": "unchanged"}, outcomes(rep))
}
