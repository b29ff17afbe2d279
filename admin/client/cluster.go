package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/graftrt/graft/admin"
)

// ErrNotInCluster: the node's admin API has no cluster endpoints (404 on
// /api/v1/cluster/...): it is not in a cluster, or its service did not
// mount them (package cluster/clusteradmin).
var ErrNotInCluster = errors.New("client: this node is not in a cluster")

// ClusterNodes returns the nodes of the node's cluster: GET
// /api/v1/cluster/nodes.
func (c *Client) ClusterNodes(ctx context.Context) ([]admin.ClusterNode, error) {
	var ns []admin.ClusterNode
	return ns, c.clusterCall(ctx, http.MethodGet, "/nodes", nil, &ns)
}

// ClusterTree returns every node's process tree: GET
// /api/v1/cluster/tree.
func (c *Client) ClusterTree(ctx context.Context) ([]admin.NodeTree, error) {
	var ts []admin.NodeTree
	return ts, c.clusterCall(ctx, http.MethodGet, "/tree", nil, &ts)
}

// ClusterModules returns every node's modules and versions: GET
// /api/v1/cluster/modules.
func (c *Client) ClusterModules(ctx context.Context) ([]admin.NodeModules, error) {
	var ms []admin.NodeModules
	return ms, c.clusterCall(ctx, http.MethodGet, "/modules", nil, &ms)
}

// ClusterUpgrade runs a cluster-wide upgrade and returns when it has
// ended: POST /api/v1/cluster/upgrades (200). An upgrade that was aborted
// or rolled back is not an error: its document says so.
func (c *Client) ClusterUpgrade(ctx context.Context, plan admin.ClusterPlan) (admin.ClusterUpgrade, error) {
	var u admin.ClusterUpgrade
	return u, c.clusterCall(ctx, http.MethodPost, "/upgrades", plan, &u)
}

// ClusterUpgrades returns the cluster upgrades started through the API,
// newest first: GET /api/v1/cluster/upgrades.
func (c *Client) ClusterUpgrades(ctx context.Context) ([]admin.ClusterUpgrade, error) {
	var us []admin.ClusterUpgrade
	return us, c.clusterCall(ctx, http.MethodGet, "/upgrades", nil, &us)
}

// clusterCall calls a cluster endpoint. The cluster endpoints never answer
// 404 themselves: a 404 there is the endpoint missing, an *Error that
// matches ErrNotInCluster.
func (c *Client) clusterCall(ctx context.Context, method, path string, body, out any) error {
	err := c.call(ctx, method, api+"/cluster"+path, nil, body, out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return &Error{Status: e.Status, Err: ErrNotInCluster,
			Message: "this node is not in a cluster: its admin API at " + c.addr + " has no cluster endpoints (see cluster/clusteradmin)"}
	}
	return err
}
