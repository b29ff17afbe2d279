package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/cluster"
)

// Ergo's signal-handling goroutine outlives its node (see docs/cluster.md).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("ergo.services/ergo/node.(*node).SetCTRLC.func1"))
}

func TestDemo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "example")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var log bytes.Buffer
	books, err := run(&log, bin, 5, 0, nil)
	require.NoError(t, err, log.String())
	t.Log(log.String())

	first := map[string]string{}
	for _, n := range books.First.Nodes {
		first[n.Node] = n.Outcome
	}
	assert.Equal(t, cluster.ClusterRolledBack, books.First.Outcome)
	assert.Equal(t, map[string]string{"b@localhost": cluster.NodeRolledBack, "c@localhost": cluster.NodeLost, "d@localhost": cluster.NodePrepared}, first)
	assert.Equal(t, cluster.ClusterCommitted, books.Second.Outcome)
	for _, node := range []string{"b@localhost", "d@localhost"} {
		assert.Equal(t, books.Sent[node], books.Handled[node]+books.Lost[node], "%s: every increment handled or reported", node)
		assert.Positive(t, books.Sent[node])
	}
}
