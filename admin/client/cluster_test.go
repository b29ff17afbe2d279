package client_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/upgrade"
)

func TestClusterDocuments(t *testing.T) {
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/cluster/nodes":
			_, _ = io.WriteString(w, `[{"name":"a@h","self":true,"connected":true,"incarnation":"00000000000000aa"},{"name":"b@h","connected":false}]`)
		case "GET /api/v1/cluster/tree":
			_, _ = io.WriteString(w, `[{"node":"a@h","processes":2,"roots":[{"pid":"<0.1.0>","module":"graft.supervisor","version":"v1","queued":0,"taken":0,
				"children":[{"pid":"<0.2.0>","name":"c0","module":"counter","version":"v2","parent":"<0.1.0>","queued":0,"taken":3}]}]},
				{"node":"b@h","error":"noconnection","processes":0,"roots":[]}]`)
		case "GET /api/v1/cluster/modules":
			_, _ = io.WriteString(w, `[{"node":"a@h","modules":[{"name":"counter","current":"v2","versions":[{"name":"v2","activations":1,"current":true}]}]}]`)
		case "POST /api/v1/cluster/upgrades":
			var p admin.ClusterPlan
			assert.NoError(t, json.NewDecoder(r.Body).Decode(&p))
			assert.Equal(t, "counter", p.Plan.Changes[0].Module)
			assert.Equal(t, 2, p.WaveSize)
			_, _ = io.WriteString(w, `{"id":"1","state":"committed","plan":{"plan":{"changes":[{"module":"counter","version":"v2"}]}},
				"started":"2026-12-06T05:01:02Z","nodes":[{"node":"a@h","outcome":"committed","previous":{"counter":"v1"}}]}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	})
	ctx := t.Context()
	ns, err := c.ClusterNodes(ctx)
	require.NoError(t, err)
	assert.Equal(t, []admin.ClusterNode{{Name: "a@h", Self: true, Connected: true, Incarnation: "00000000000000aa"}, {Name: "b@h"}}, ns)
	ts, err := c.ClusterTree(ctx)
	require.NoError(t, err)
	require.Len(t, ts, 2)
	assert.Equal(t, "c0", ts[0].Roots[0].Children[0].Name)
	assert.Equal(t, "v2", ts[0].Roots[0].Children[0].Version)
	assert.Equal(t, "noconnection", ts[1].Error)
	ms, err := c.ClusterModules(ctx)
	require.NoError(t, err)
	assert.Equal(t, "v2", ms[0].Modules[0].Current)
	u, err := c.ClusterUpgrade(ctx, admin.ClusterPlan{Plan: upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}}, WaveSize: 2})
	require.NoError(t, err)
	assert.Equal(t, "committed", u.State)
	assert.Equal(t, map[string]string{"counter": "v1"}, u.Nodes[0].Previous)
}

// A node without the cluster's endpoints answers 404 there: the error
// says the node is not in a cluster.
func TestClusterEndpointsMissing(t *testing.T) {
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, admin.Error{Error: "no such endpoint: " + r.URL.Path})
	})
	_, err := c.ClusterTree(t.Context())
	require.ErrorIs(t, err, client.ErrNotInCluster)
	require.ErrorIs(t, err, client.ErrNotFound)
	assert.Contains(t, err.Error(), "this node is not in a cluster")
	var ce *client.Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, http.StatusNotFound, ce.Status)
	_, err = c.ClusterUpgrade(t.Context(), admin.ClusterPlan{})
	require.ErrorIs(t, err, client.ErrNotInCluster)
}
