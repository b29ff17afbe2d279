package visits_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/examples/plugin/visits"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestV1CountsAndChecksOrder(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(visits.V1))
	pid, err := sys.Spawn(visits.Module, nil)
	require.NoError(t, err)
	for _, m := range []visits.Msg{{Page: "/", Sender: 1, Seq: 1}, {Page: "/", Sender: 1, Seq: 2}, {Page: "/a", Sender: 1, Seq: 4}} {
		require.NoError(t, sys.Send(pid, m))
	}
	r, err := sys.Call(context.Background(), pid, visits.Msg{Op: "report"})
	require.NoError(t, err)
	assert.Equal(t, visits.Report{Version: "v1", Visits: 3, OutOfOrder: 1, Pages: map[string]int{"/": 2, "/a": 1}}, r)
}
