// Package clusteradmin adds a cluster's endpoints to a node's admin API
// (package admin), so that an operator, and the graft command with
// --cluster, sees and upgrades every node through one of them:
//
//	srv, err := admin.Start(sys, admin.Options{Supervisors: []*supervisor.Handle{top}})
//	node, err := cluster.Join(sys, cluster.Options{Name: "a@host1", Cookie: cookie})
//	api, err := clusteradmin.Mount(srv, node, clusteradmin.Options{Nodes: []string{"b@host2", "c@host3"}})
//
// Routes, below the admin server's prefix and behind its token:
//
//	GET  /api/v1/cluster/nodes     []admin.ClusterNode: this node, the nodes it has met, Options.Nodes
//	GET  /api/v1/cluster/tree      []admin.NodeTree: every node's processes under their parents, with versions
//	GET  /api/v1/cluster/modules   []admin.NodeModules: every node's modules and versions
//	POST /api/v1/cluster/upgrades  body: admin.ClusterPlan; 200 admin.ClusterUpgrade once it has ended
//	GET  /api/v1/cluster/upgrades  []admin.ClusterUpgrade, newest first
//
// Each node is read through Node.Info (its System's Snapshot and Modules,
// answered by the node itself, without a message to its processes), all
// at once, each within Options.Timeout; a node that does not answer is
// listed with its error. A cluster upgrade is Node.UpgradeCluster: every
// node named must serve upgrades (Node.ServeUpgrades) and resolves the
// plan's versions with its own loader. Before anything runs, the request
// is checked: a malformed body or plan is 400; a node the cluster does
// not know, one that does not answer, or a module a node has not loaded
// is 422; a second cluster upgrade while one runs is 409. None of these
// touches a node. The cluster endpoints never answer 404: a 404 below
// /api/v1/cluster means a node without them (admin/client says "this node
// is not in a cluster").
//
// The upgrade runs on a goroutine of its own, not on the request's
// context: a client that goes away does not stop it midway. Close (also
// run by the System's shutdown) waits for it.
package clusteradmin
