package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/admin"
)

// fakeCluster is an admin API with the cluster's endpoints, answering
// canned documents (the endpoints themselves are tested against real
// nodes in cluster/clusteradmin).
type fakeCluster struct {
	addr string
	mu   sync.Mutex
	plan *admin.ClusterPlan // the last plan posted
	// outcome is the state the next cluster upgrade ends in.
	outcome string
}

const (
	fakeNodes = `[{"name":"a@h","self":true,"connected":true,"incarnation":"00000000000000aa"},
		{"name":"b@h","connected":true,"incarnation":"00000000000000bb"},{"name":"c@h","connected":false}]`
	fakeTree = `[{"node":"a@h","incarnation":"00000000000000aa","processes":3,"roots":[
		{"pid":"<0.1.0>","name":"top","module":"graft.supervisor","version":"v1","queued":0,"taken":0,"children":[
			{"pid":"<0.2.0>","name":"counter0","module":"counter","version":"v2","parent":"<0.1.0>","queued":0,"taken":7},
			{"pid":"<0.3.0>","module":"counter","version":"v2","parent":"<0.1.0>","queued":2,"taken":1}]}]},
		{"node":"b@h","processes":1,"roots":[{"pid":"<0.1.0>","name":"echo","module":"echo","version":"v1","queued":0,"taken":0}]},
		{"node":"c@h","error":"cluster: info of c@h: noconnection","processes":0,"roots":[]}]`
	fakeModules = `[{"node":"a@h","modules":[{"name":"counter","current":"v2","previous":"v1","versions":[
			{"name":"v1","activations":0},{"name":"v2","follows":"v1","activations":2,"current":true}]}]},
		{"node":"b@h","modules":[{"name":"counter","current":"v1","versions":[{"name":"v1","activations":3,"current":true}]}]},
		{"node":"c@h","error":"noconnection","modules":[]}]`
)

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	f := &fakeCluster{outcome: "committed"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			admin.WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/cluster/nodes":
			_, _ = io.WriteString(w, fakeNodes)
		case "GET /api/v1/cluster/tree":
			_, _ = io.WriteString(w, fakeTree)
		case "GET /api/v1/cluster/modules":
			_, _ = io.WriteString(w, fakeModules)
		case "POST /api/v1/cluster/upgrades":
			var p admin.ClusterPlan
			if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
				admin.WriteError(w, http.StatusBadRequest, err.Error())
				return
			}
			f.mu.Lock()
			f.plan = &p
			outcome := f.outcome
			f.mu.Unlock()
			u := admin.ClusterUpgrade{ID: "7", State: outcome, Plan: p, Nodes: []admin.ClusterNodeReport{
				{Node: "a@h", Outcome: "committed", Previous: map[string]string{"counter": "v1"}},
				{Node: "b@h", Outcome: "committed", Previous: map[string]string{"counter": "v1"}},
			}}
			if outcome == "aborted" {
				u.Reason = "a node was not ready: nothing committed"
				u.Nodes[0].Outcome = "prepared"
				u.Nodes[1].Outcome, u.Nodes[1].Error = "refused", "dry run: simulated, 3 processes would fail"
			}
			admin.WriteJSON(w, http.StatusOK, u)
		default:
			admin.WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	f.addr = srv.URL
	return f
}

func (f *fakeCluster) graft(t *testing.T, args ...string) result {
	t.Helper()
	return graft(t, nil, "", append([]string{"--addr", f.addr, "--token", testToken}, args...)...)
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestClusterStatus(t *testing.T) {
	f := newFakeCluster(t)
	r := f.graft(t, "--cluster", "status")
	require.Equal(t, 0, r.code, r)
	l := lines(r.stdout)
	require.Len(t, l, 4, r)
	assert.Regexp(t, `^NODE\s+CONNECTED\s+INCARNATION$`, l[0])
	assert.Regexp(t, `^a@h \(this node\)\s+yes\s+00000000000000aa$`, l[1])
	assert.Regexp(t, `^b@h\s+yes\s+00000000000000bb$`, l[2])
	assert.Regexp(t, `^c@h\s+no\s+-$`, l[3])
}

func TestClusterTree(t *testing.T) {
	f := newFakeCluster(t)
	r := f.graft(t, "--cluster", "tree")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr)
	l := lines(r.stdout)
	require.Len(t, l, 11, r)
	assert.Equal(t, "a@h: 3 processes", l[0])
	assert.Regexp(t, `^TREE\s+PID\s+MODULE\s+VERSION\s+QUEUED$`, l[1])
	assert.Regexp(t, `^top\s+<0\.1\.0>\s+graft\.supervisor\s+v1\s+0$`, l[2])
	assert.Regexp(t, `^├─ counter0\s+<0\.2\.0>\s+counter\s+v2\s+0$`, l[3])
	assert.Regexp(t, `^└─ <0\.3\.0>\s+<0\.3\.0>\s+counter\s+v2\s+2$`, l[4])
	assert.Equal(t, "", l[5])
	assert.Equal(t, "b@h: 1 processes", l[6])
	assert.Regexp(t, `^echo\s+<0\.1\.0>\s+echo\s+v1\s+0$`, l[8])
	assert.Equal(t, "c@h: not read: cluster: info of c@h: noconnection", l[10])

	// -o json: the API's documents.
	r = f.graft(t, "--cluster", "-o", "json", "tree")
	require.Equal(t, 0, r.code, r)
	var ts []admin.NodeTree
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ts))
	require.Len(t, ts, 3)
	assert.Equal(t, "counter0", ts[0].Roots[0].Children[0].Name)
}

func TestClusterPs(t *testing.T) {
	f := newFakeCluster(t)
	r := f.graft(t, "--cluster", "ps")
	require.Equal(t, 0, r.code, r)
	l := lines(r.stdout)
	require.Len(t, l, 6, r)
	assert.Regexp(t, `^NODE\s+PID\s+NAME\s+MODULE\s+VERSION\s+QUEUED\s+TAKEN\s+PARENT$`, l[0])
	assert.Regexp(t, `^a@h\s+<0\.2\.0>\s+counter0\s+counter\s+v2\s+0\s+7\s+<0\.1\.0>$`, l[2])
	assert.Regexp(t, `^b@h\s+<0\.1\.0>\s+echo\s+echo\s+v1\s+0\s+0\s+-$`, l[4])
	assert.Equal(t, "c@h: not read: cluster: info of c@h: noconnection", l[5])
}

func TestClusterModules(t *testing.T) {
	f := newFakeCluster(t)
	r := f.graft(t, "--cluster", "modules")
	require.Equal(t, 0, r.code, r)
	l := lines(r.stdout)
	require.Len(t, l, 5, r)
	assert.Regexp(t, `^NODE\s+MODULE\s+CURRENT\s+PREVIOUS\s+VERSIONS \(ACTIVATIONS\)$`, l[0])
	assert.Regexp(t, `^a@h\s+counter\s+v2\s+v1\s+v1\(0\) v2\(2\)$`, l[1])
	assert.Regexp(t, `^b@h\s+counter\s+v1\s+-\s+v1\(3\)$`, l[2])
	assert.Equal(t, "c@h: not read: noconnection", l[3])
	assert.Equal(t, "counter: the nodes differ: v1 on b@h; v2 on a@h", l[4])
}

func TestClusterUpgrade(t *testing.T) {
	f := newFakeCluster(t)
	r := f.graft(t, "--cluster", "upgrade", "--module", "counter", "--to", "v2",
		"--nodes", "b@h,a@h", "--wave-size", "2", "--cluster-observe", "1s", "--node-timeout", "30s")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr)
	f.mu.Lock()
	p := f.plan
	f.mu.Unlock()
	require.NotNil(t, p)
	assert.Equal(t, admin.ClusterPlan{Plan: p.Plan, Nodes: []string{"b@h", "a@h"}, WaveSize: 2,
		Gate: &admin.ClusterGate{Observe: "1s"}, Timeout: "30s"}, *p)
	assert.Equal(t, "counter", p.Plan.Changes[0].Module)
	assert.Equal(t, "v2", p.Plan.Changes[0].Version)
	l := lines(r.stdout)
	assert.Equal(t, "cluster upgrade: counter → v2 (atomic) on b@h, a@h", l[0])
	assert.Equal(t, "cluster upgrade 7: committed", l[2])
	assert.Regexp(t, `^NODE\s+OUTCOME\s+PREVIOUS\s+PROCESSES\s+ERROR$`, l[3])
	assert.Regexp(t, `^a@h\s+committed\s+counter=v1\s+-\s+-$`, l[4])

	// Refused: exit status 1, and why.
	f.mu.Lock()
	f.outcome = "aborted"
	f.mu.Unlock()
	r = f.graft(t, "--cluster", "upgrade", "--module", "counter", "--to", "v2")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: cluster upgrade 7 aborted: a node was not ready: nothing committed\n", r.stderr)
	assert.Regexp(t, `(?m)^b@h\s+refused\s+counter=v1\s+-\s+dry run: simulated, 3 processes would fail$`, r.stdout)
	f.mu.Lock()
	assert.Empty(t, f.plan.Nodes, "every node, by default")
	f.mu.Unlock()

	// -o json: the cluster upgrade's document.
	r = f.graft(t, "--cluster", "-o", "json", "upgrade", "--module", "counter", "--to", "v2")
	assert.Equal(t, 1, r.code, r)
	var u admin.ClusterUpgrade
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &u), r)
	assert.Equal(t, "aborted", u.State)
}

func TestClusterUsageErrors(t *testing.T) {
	f := newFakeCluster(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--cluster", "inspect", "0.1.0"}, "graft inspect: --cluster: graft inspect works on one node"},
		{[]string{"--cluster", "events"}, "graft events: --cluster: graft events works on one node"},
		{[]string{"upgrade", "--module", "m", "--to", "v2", "--nodes", "a@h"}, "graft upgrade: --nodes is for cluster-wide upgrades (--cluster)"},
		{[]string{"--cluster", "upgrade", "--module", "m", "--to", "v2", "--wave-size", "-1"}, "--wave-size -1: want 1 or more"},
		{[]string{"--cluster", "upgrade", "--module", "m", "--to", "v2", "--mode", "dry-run"}, "no dry-run mode"},
	} {
		r := f.graft(t, tc.args...)
		assert.Equal(t, 2, r.code, r)
		assert.Contains(t, r.stderr, tc.msg)
		assert.Empty(t, r.stdout)
	}
	f.mu.Lock()
	assert.Nil(t, f.plan, "nothing was sent")
	f.mu.Unlock()
}

// A node whose admin API has no cluster endpoints (a node that is not in
// a cluster) answers 404 there: the command says so.
func TestClusterOnANodeNotInACluster(t *testing.T) {
	n := startNode(t)
	for _, args := range [][]string{{"tree"}, {"modules"}, {"status"}, {"ps"}, {"upgrade", "--module", "svc", "--to", "v2"}} {
		r := n.graft(t, append([]string{"--cluster"}, args...)...)
		assert.Equal(t, 2, r.code, r)
		assert.Regexp(t, `^graft: this node is not in a cluster: its admin API at \S+ has no cluster endpoints`, r.stderr)
		// Only upgrade's first line, printed before the request.
		assert.Empty(t, strings.TrimPrefix(r.stdout, "cluster upgrade: svc → v2 (atomic) on every node\n"), args)
	}
	assert.Equal(t, "v1", n.current(t), "nothing changed")
}
