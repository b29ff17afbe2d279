package clusteradmin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/clusteradmin"
	"github.com/graftrt/graft/cluster/internal/nodetest"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// Ergo's node leaves a goroutine waiting for SIGINT or SIGTERM (see the
// cluster package's TestMain).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("ergo.services/ergo/node.(*node).SetCTRLC.func1"),
		goleak.Cleanup(func(code int) {
			nodetest.Cleanup()
			os.Exit(code)
		}))
}

var bcd = []string{"b@localhost", "c@localhost", "d@localhost"}

// rig is the test's node, a@localhost, with counters under a supervisor,
// serving upgrades, its admin API with the cluster's endpoints, and three
// node processes b, c, d (internal/testnode) with three counters each.
type rig struct {
	sys  *actortest.System
	node *cluster.Node
	srv  *admin.Server
	api  *clusteradmin.API
	c    *client.Client
	d    *nodetest.Node
}

func newRig(t *testing.T, dArgs ...string) *rig {
	t.Helper()
	reg := nodetest.FreePort(t)
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.WarnLevel)),
		actortest.WithSystemOptions(actor.WithClock(actor.RealClock{})))
	n, err := cluster.Join(sys.System, cluster.Options{Name: "a@localhost", Cookie: nodetest.Cookie, Registrar: cluster.Registrar{Port: reg}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	require.NoError(t, n.Register(testkit.Types()...))
	v1, v2 := testkit.Counter(false)
	require.NoError(t, sys.Load(v1))
	top, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.OneForOne}, []supervisor.ChildSpec{
		{ID: "counter0", Start: supervisor.StartSpec{Module: "counter"}},
	}, actor.WithName("top"))
	require.NoError(t, err)
	_, err = n.ServeUpgrades(top, upgrade.NewNative(v1, v2))
	require.NoError(t, err)

	srv, err := admin.Start(sys.System, admin.Options{Addr: "127.0.0.1:0", Token: "tok", TokenFile: t.TempDir() + "/token",
		Supervisors: []*supervisor.Handle{top}, Node: "a@localhost"})
	require.NoError(t, err)
	api, err := clusteradmin.Mount(srv, n, clusteradmin.Options{Nodes: bcd})
	require.NoError(t, err)
	hc := &http.Client{}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
		defer cancel()
		require.NoError(t, api.Close(ctx))
		require.NoError(t, srv.Close(ctx))
	})
	c, err := client.New(srv.URL(), "tok", client.WithHTTPClient(hc))
	require.NoError(t, err)
	r := &rig{sys: sys, node: n, srv: srv, api: api, c: c}
	nodetest.Start(t, "b@localhost", reg)
	nodetest.Start(t, "c@localhost", reg)
	r.d = nodetest.Start(t, "d@localhost", reg, dArgs...)
	return r
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.Wait)
	t.Cleanup(cancel)
	return ctx
}

// counters returns, per node, the version of each process of module
// counter, by PID, from the cluster's tree.
func (r *rig) counters(t *testing.T) map[string]map[string]string {
	t.Helper()
	trees, err := r.c.ClusterTree(ctxWait(t))
	require.NoError(t, err)
	out := map[string]map[string]string{}
	var walk func(node string, ns []admin.ProcessNode)
	walk = func(node string, ns []admin.ProcessNode) {
		for _, p := range ns {
			if p.Module == "counter" {
				out[node][p.PID.String()] = p.Version
			}
			walk(node, p.Children)
		}
	}
	for _, tr := range trees {
		require.Empty(t, tr.Error, tr.Node)
		out[tr.Node] = map[string]string{}
		walk(tr.Node, tr.Roots)
	}
	return out
}

func versionsOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestNodesTreeAndModulesOfEveryNode(t *testing.T) {
	r := newRig(t)
	ctx := ctxWait(t)

	nodes, err := r.c.ClusterNodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 4)
	assert.Equal(t, admin.ClusterNode{Name: "a@localhost", Self: true, Connected: true,
		Incarnation: fmt.Sprintf("%016x", r.node.Incarnation())}, nodes[0])
	for _, nd := range nodes[1:] {
		assert.Contains(t, bcd, nd.Name)
		assert.False(t, nd.Self)
	}

	trees, err := r.c.ClusterTree(ctx)
	require.NoError(t, err)
	require.Len(t, trees, 4)
	for i, tr := range trees {
		assert.Equal(t, nodes[i].Name, tr.Node, "the nodes' order")
		assert.Empty(t, tr.Error)
		assert.Len(t, tr.Incarnation, 16)
		assert.Positive(t, tr.Processes)
	}
	// Each node process: its supervisor with three counters under it, on
	// v1; the echo process a root of its own.
	for _, tr := range trees[1:] {
		var sup *admin.ProcessNode
		var names []string
		for i, root := range tr.Roots {
			names = append(names, root.Name)
			if root.Module == "graft.supervisor" {
				sup = &tr.Roots[i]
			}
		}
		assert.Contains(t, names, "echo", tr.Node)
		require.NotNil(t, sup, tr.Node)
		require.Len(t, sup.Children, 3, tr.Node)
		for i, ch := range sup.Children {
			assert.Equal(t, fmt.Sprint("counter", i), ch.Name)
			assert.Equal(t, "counter", ch.Module)
			assert.Equal(t, "v1", ch.Version)
			assert.Equal(t, sup.PID, ch.Parent)
		}
	}
	// Every node has been met by now: connected, with its incarnation.
	nodes2, err := r.c.ClusterNodes(ctx)
	require.NoError(t, err)
	for _, nd := range nodes2 {
		assert.True(t, nd.Connected, nd.Name)
		assert.Len(t, nd.Incarnation, 16, nd.Name)
	}

	mods, err := r.c.ClusterModules(ctx)
	require.NoError(t, err)
	require.Len(t, mods, 4)
	for _, nm := range mods {
		assert.Empty(t, nm.Error)
		var counter *admin.Module
		for i := range nm.Modules {
			if nm.Modules[i].Name == "counter" {
				counter = &nm.Modules[i]
			}
		}
		require.NotNil(t, counter, nm.Node)
		assert.Equal(t, "v1", counter.Current, nm.Node)
		require.NotEmpty(t, counter.Versions)
		assert.Equal(t, "v1", counter.Versions[0].Name)
		assert.True(t, counter.Versions[0].Current)
		assert.Positive(t, counter.Versions[0].Activations)
	}
}

// A node that is gone is listed, with its error, among the others.
func TestTreeWithANodeKilled(t *testing.T) {
	r := newRig(t)
	_, err := r.c.ClusterTree(ctxWait(t)) // every node met
	require.NoError(t, err)
	r.d.Kill(t)
	trees, err := r.c.ClusterTree(ctxWait(t))
	require.NoError(t, err)
	require.Len(t, trees, 4)
	for _, tr := range trees {
		if tr.Node == "d@localhost" {
			assert.Contains(t, tr.Error, "noconnection")
			assert.Empty(t, tr.Roots)
		} else {
			assert.Empty(t, tr.Error, tr.Node)
		}
	}
}

func TestClusterUpgradeCommitsThroughTheAPI(t *testing.T) {
	r := newRig(t)
	u, err := r.c.ClusterUpgrade(ctxWait(t), admin.ClusterPlan{
		Plan:     upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}},
		WaveSize: 2,
		Gate:     &admin.ClusterGate{Observe: "10ms"},
	})
	require.NoError(t, err)
	assert.Equal(t, "committed", u.State, u.Reason)
	assert.Equal(t, "1", u.ID)
	require.NotNil(t, u.Finished)
	require.Len(t, u.Nodes, 4, "every node, by default")
	for _, nr := range u.Nodes {
		assert.Equal(t, "committed", nr.Outcome, nr.Node)
		assert.Equal(t, map[string]string{"counter": "v1"}, nr.Previous, nr.Node)
		require.NotNil(t, nr.Commit, nr.Node)
		assert.Equal(t, "committed", nr.Commit.Outcome)
		assert.NotEmpty(t, nr.Commit.Procs, "every process of the node is in its report")
	}
	for node, vs := range r.counters(t) {
		for _, v := range versionsOf(vs) {
			assert.Equal(t, "v2", v, node)
		}
	}
	list, err := r.c.ClusterUpgrades(ctxWait(t))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, u.ID, list[0].ID)
	assert.Equal(t, "committed", list[0].State)
}

// Node d's v2 refuses its state: its dry run fails, and nothing is
// committed anywhere.
func TestClusterUpgradeRefusedThroughTheAPI(t *testing.T) {
	r := newRig(t, "-bad-v2")
	u, err := r.c.ClusterUpgrade(ctxWait(t), admin.ClusterPlan{
		Plan:  upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}},
		Nodes: bcd,
	})
	require.NoError(t, err)
	assert.Equal(t, "aborted", u.State)
	outcomes := map[string]string{}
	for _, nr := range u.Nodes {
		outcomes[nr.Node] = nr.Outcome
	}
	assert.Equal(t, map[string]string{"b@localhost": "prepared", "c@localhost": "prepared", "d@localhost": "refused"}, outcomes)
	for node, vs := range r.counters(t) {
		for _, v := range versionsOf(vs) {
			assert.Equal(t, "v1", v, node)
		}
	}
}

// Bad requests get a 4xx with a clear message, and change nothing.
func TestBadRequestsChangeNothing(t *testing.T) {
	r := newRig(t)
	before := r.counters(t)
	url := r.srv.URL() + "/api/v1/cluster/upgrades"
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"bad JSON", `{"plan": `, 400, "not a cluster plan"},
		{"unknown field", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "wave": 2}`, 400, `unknown field "wave"`},
		{"no plan", `{"nodes": ["b@localhost"]}`, 400, "no plan"},
		{"bad plan", `{"plan": {"changes": []}}`, 400, "change"},
		{"dry run", `{"plan": {"dry_run": true, "changes": [{"module": "counter", "version": "v2"}]}}`, 400, "not a dry run"},
		{"bad timeout", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "timeout": "soon"}`, 400, "timeout"},
		{"gate longer than the timeout", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "gate": {"observe": "1m"}}`, 400, "want less than the timeout, 1m0s"},
		{"bad wave size", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "wave_size": -1}`, 400, "wave_size"},
		{"node twice", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "nodes": ["b@localhost", "b@localhost"]}`, 400, "listed twice"},
		{"unknown node", `{"plan": {"changes": [{"module": "counter", "version": "v2"}]}, "nodes": ["b@localhost", "zz@localhost"]}`, 422, `unknown node "zz@localhost"`},
		{"unknown module", `{"plan": {"changes": [{"module": "counter", "version": "v2"}, {"module": "ledger", "version": "v2"}]}}`, 422, `unknown module "ledger" on node a@localhost`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctxWait(t), http.MethodPost, url, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var doc admin.Error
			require.NoError(t, jsonDecode(resp, &doc))
			assert.Equal(t, tc.status, resp.StatusCode, doc.Error)
			assert.Contains(t, doc.Error, tc.msg)
		})
	}
	// Without the token: 401, as every endpoint.
	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	assert.Equal(t, before, r.counters(t), "nothing changed")
	list, err := r.c.ClusterUpgrades(ctxWait(t))
	require.NoError(t, err)
	assert.Empty(t, list, "no upgrade ran")
	http.DefaultClient.CloseIdleConnections()
}

func TestMountRefusesBadOptions(t *testing.T) {
	_, err := clusteradmin.Mount(nil, nil, clusteradmin.Options{})
	require.ErrorIs(t, err, clusteradmin.ErrBadOptions)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
