package clusteradmin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/upgrade"
)

// Options configure Mount. The zero value works: the cluster is the nodes
// this node has met.
type Options struct {
	// Nodes are nodes of the cluster to show and upgrade besides those
	// this node has met (the cluster's members as configured: a node is
	// met on its first request, so one never asked would be missing).
	Nodes []string
	// Timeout bounds the reading of each node for GET requests and for a
	// cluster upgrade's checks (default 5 s).
	Timeout time.Duration
}

// keepUpgrades is how many finished cluster upgrades are remembered.
const keepUpgrades = 20

// API is the cluster's endpoints on one admin server.
type API struct {
	srv  *admin.Server
	node *cluster.Node
	opts Options
	log  *zap.Logger

	mu      sync.Mutex
	next    int                     // guarded by mu
	all     []*admin.ClusterUpgrade // guarded by mu; oldest first
	running bool                    // guarded by mu
	closed  bool                    // guarded by mu
	// wg tracks the running cluster upgrade's goroutine.
	wg sync.WaitGroup
}

// Errors of Mount.
var ErrBadOptions = errors.New("clusteradmin: bad options")

// Mount adds the cluster's endpoints to srv, for node: GET
// /api/v1/cluster/nodes, /tree and /modules, and POST and GET
// /api/v1/cluster/upgrades (see package doc). It registers Close as a
// shutdown hook of node's System.
func Mount(srv *admin.Server, node *cluster.Node, opts Options) (*API, error) {
	if srv == nil || node == nil {
		return nil, fmt.Errorf("%w: Mount needs an admin server and a node", ErrBadOptions)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	a := &API{srv: srv, node: node, opts: opts, log: srv.Logger().Named("cluster")}
	get := func(h http.HandlerFunc) admin.Route { return admin.Route{Method: http.MethodGet, Handler: h} }
	for _, e := range []struct {
		pattern string
		routes  []admin.Route
	}{
		{"/api/v1/cluster/nodes", []admin.Route{get(a.nodes)}},
		{"/api/v1/cluster/tree", []admin.Route{get(a.tree)}},
		{"/api/v1/cluster/modules", []admin.Route{get(a.modules)}},
		{"/api/v1/cluster/upgrades", []admin.Route{get(a.upgrades), {Method: http.MethodPost, Handler: http.HandlerFunc(a.upgrade)}}},
	} {
		if err := srv.Handle(e.pattern, e.routes...); err != nil {
			return nil, err
		}
	}
	node.System().OnShutdown(func(ctx context.Context) { _ = a.Close(ctx) })
	return a, nil
}

// Close refuses new cluster upgrades and waits for the one running, if
// any, or until ctx ends. It may be called more than once.
func (a *API) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("clusteradmin: a cluster upgrade is still running: %w", ctx.Err())
	}
}

// members lists the cluster's nodes: this one first, then those it has
// met, then those of Options.Nodes it has not, each once.
func (a *API) members() []admin.ClusterNode {
	self := a.node.Name()
	out := []admin.ClusterNode{{Name: self, Self: true, Connected: true, Incarnation: incarnation(a.node.Incarnation())}}
	seen := map[string]bool{self: true}
	for _, p := range a.node.Peers() {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, admin.ClusterNode{Name: p.Name, Connected: p.Connected, Incarnation: incarnation(p.Incarnation)})
		}
	}
	for _, nd := range a.opts.Nodes {
		if !seen[nd] {
			seen[nd] = true
			out = append(out, admin.ClusterNode{Name: nd})
		}
	}
	return out
}

func incarnation(v uint64) string { return fmt.Sprintf("%016x", v) }

func (a *API) nodes(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, a.members())
}

// infoOf is one node's info, or why it could not be read.
type infoOf struct {
	node string
	info cluster.NodeInfo
	err  error
}

// gather reads the info of nodes, all at once, each within the timeout,
// in the order given.
func (a *API) gather(ctx context.Context, nodes []string) []infoOf {
	out := make([]infoOf, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
			defer cancel()
			info, err := a.node.Info(ctx, nd)
			out[i] = infoOf{node: nd, info: info, err: err}
		})
	}
	wg.Wait()
	return out
}

func (a *API) names() []string {
	var out []string
	for _, m := range a.members() {
		out = append(out, m.Name)
	}
	return out
}

func (a *API) tree(w http.ResponseWriter, r *http.Request) {
	infos := a.gather(r.Context(), a.names())
	out := make([]admin.NodeTree, 0, len(infos))
	for _, in := range infos {
		t := admin.NodeTree{Node: in.node, Roots: []admin.ProcessNode{}}
		if in.err != nil {
			t.Error = actor.SafeError(in.err).Error()
		} else {
			t.Incarnation = incarnation(in.info.Incarnation)
			t.Processes = len(in.info.Processes)
			t.Roots = processTree(in.info.Processes)
		}
		out = append(out, t)
	}
	admin.WriteJSON(w, http.StatusOK, out)
}

// processTree puts each process under its parent; a process whose parent
// is gone, or that has none, is a root. Siblings are in PID order.
func processTree(stats []actor.ProcessStat) []admin.ProcessNode {
	live := make(map[actor.PID]bool, len(stats))
	for _, st := range stats {
		live[st.PID] = true
	}
	children := map[actor.PID][]actor.ProcessStat{}
	var roots []actor.ProcessStat
	for _, st := range stats {
		if st.Parent.IsZero() || !live[st.Parent] || st.Parent == st.PID {
			roots = append(roots, st)
		} else {
			children[st.Parent] = append(children[st.Parent], st)
		}
	}
	var build func(sts []actor.ProcessStat, depth int) []admin.ProcessNode
	build = func(sts []actor.ProcessStat, depth int) []admin.ProcessNode {
		slices.SortFunc(sts, func(x, y actor.ProcessStat) int { return comparePID(x.PID, y.PID) })
		out := make([]admin.ProcessNode, 0, len(sts))
		for _, st := range sts {
			n := admin.ProcessNode{ProcessStat: st}
			if depth < maxDepth {
				n.Children = build(children[st.PID], depth+1)
			}
			out = append(out, n)
		}
		return out
	}
	return build(roots, 0)
}

// maxDepth bounds the tree (a parent chain cannot loop, but a bound costs
// nothing).
const maxDepth = 64

// comparePID orders PIDs by node, then number (their text, by length
// first).
func comparePID(a, b actor.PID) int {
	x, y := a.String(), b.String()
	return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y))
}

func (a *API) modules(w http.ResponseWriter, r *http.Request) {
	infos := a.gather(r.Context(), a.names())
	out := make([]admin.NodeModules, 0, len(infos))
	for _, in := range infos {
		nm := admin.NodeModules{Node: in.node, Modules: []admin.Module{}}
		if in.err != nil {
			nm.Error = actor.SafeError(in.err).Error()
		} else {
			nm.Incarnation = incarnation(in.info.Incarnation)
			nm.Modules = modulesDoc(in.info.Modules)
		}
		out = append(out, nm)
	}
	admin.WriteJSON(w, http.StatusOK, out)
}

func modulesDoc(ms []cluster.ModuleInfo) []admin.Module {
	out := make([]admin.Module, 0, len(ms))
	for _, m := range ms {
		mod := admin.Module{Name: m.Name, Current: m.Current, Previous: m.Previous, Retired: m.Retired,
			Versions: make([]admin.Version, 0, len(m.Versions))}
		for _, v := range m.Versions {
			mod.Versions = append(mod.Versions, admin.Version{Name: v.Name, Follows: v.Follows,
				UpgradesFrom: v.UpgradesFrom, DowngradesTo: v.DowngradesTo, Activations: v.Activations,
				Current: v.Name == m.Current})
		}
		out = append(out, mod)
	}
	return out
}

func (a *API) upgrades(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	out := make([]admin.ClusterUpgrade, 0, len(a.all))
	for i := len(a.all) - 1; i >= 0; i-- {
		out = append(out, *a.all[i])
	}
	a.mu.Unlock()
	admin.WriteJSON(w, http.StatusOK, out)
}

// upgrade runs a cluster-wide upgrade and answers its document when it
// has ended. Everything the request names is checked before any node is
// touched: a malformed body or plan (400), a node the cluster does not
// know, a node that does not answer, a module a node has not loaded
// (422), another cluster upgrade running (409).
func (a *API) upgrade(w http.ResponseWriter, r *http.Request) {
	body, ok := a.srv.ReadBody(w, r)
	if !ok {
		return
	}
	cp, cu, status, err := a.check(r.Context(), body)
	if err != nil {
		admin.WriteError(w, status, err.Error())
		return
	}
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		admin.WriteError(w, http.StatusServiceUnavailable, "the cluster API is closing")
		return
	case a.running:
		a.mu.Unlock()
		admin.WriteError(w, http.StatusConflict, "a cluster upgrade is in progress; wait for it (GET api/v1/cluster/upgrades)")
		return
	}
	a.running = true
	a.next++
	doc := &admin.ClusterUpgrade{ID: strconv.Itoa(a.next), State: "running", Plan: cp, Started: time.Now().UTC(),
		Nodes: []admin.ClusterNodeReport{}}
	a.all = append(a.all, doc)
	if len(a.all) > keepUpgrades {
		a.all = slices.Delete(a.all, 0, len(a.all)-keepUpgrades)
	}
	a.wg.Add(1)
	a.mu.Unlock()

	a.log.Info("cluster upgrade started through the admin API", zap.String("id", doc.ID),
		zap.Strings("nodes", cu.Nodes), zap.String("remote", r.RemoteAddr))
	done := make(chan admin.ClusterUpgrade, 1)
	// The upgrade runs on its own context, not the request's: a client
	// that goes away midway must not leave nodes half committed. Its
	// outcome is then in GET api/v1/cluster/upgrades.
	go func() {
		defer a.wg.Done()
		rep, err := a.node.UpgradeCluster(context.Background(), cu)
		now := time.Now().UTC()
		a.mu.Lock()
		doc.Finished = &now
		switch {
		case err != nil:
			doc.State, doc.Reason = "failed", actor.SafeError(err).Error()
		default:
			doc.State, doc.Reason = rep.Outcome, rep.Reason
			for _, nr := range rep.Nodes {
				doc.Nodes = append(doc.Nodes, admin.ClusterNodeReport{Node: nr.Node, Outcome: nr.Outcome, Error: nr.Err,
					Previous: nr.Previous, Prepare: nr.Prepare, Commit: nr.Commit, Rollback: nr.Rollback})
			}
		}
		a.running = false
		final := *doc
		a.mu.Unlock()
		a.log.Info("cluster upgrade ended", zap.String("id", final.ID), zap.String("outcome", final.State), zap.String("reason", final.Reason))
		done <- final
	}()
	select {
	case d := <-done:
		admin.WriteJSON(w, http.StatusOK, d)
	case <-r.Context().Done():
	}
}

// check reads and checks a ClusterPlan: the status and error of a
// request that must not run, else the plan and what UpgradeCluster takes.
func (a *API) check(ctx context.Context, body []byte) (admin.ClusterPlan, cluster.ClusterUpgrade, int, error) {
	var cp admin.ClusterPlan
	var raw struct {
		Plan json.RawMessage `json:"plan"`
		admin.ClusterPlan
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return cp, cluster.ClusterUpgrade{}, http.StatusBadRequest, fmt.Errorf("the body is not a cluster plan: %v", err)
	}
	if dec.More() {
		return cp, cluster.ClusterUpgrade{}, http.StatusBadRequest, errors.New("the body is not a cluster plan: data after it")
	}
	if len(raw.Plan) == 0 {
		return cp, cluster.ClusterUpgrade{}, http.StatusBadRequest, errors.New("the cluster plan has no plan")
	}
	spec, err := upgrade.ParsePlan(raw.Plan)
	if err != nil {
		return cp, cluster.ClusterUpgrade{}, http.StatusBadRequest, err
	}
	if spec.DryRun {
		return cp, cluster.ClusterUpgrade{}, http.StatusBadRequest, errors.New("a cluster plan is not a dry run (every node runs one in its prepare phase)")
	}
	cp = raw.ClusterPlan
	cp.Plan = spec
	cu := cluster.ClusterUpgrade{Plan: spec, WaveSize: cp.WaveSize, Nodes: cp.Nodes}
	if cp.WaveSize < 0 {
		return cp, cu, http.StatusBadRequest, fmt.Errorf("wave_size %d: want 1 or more (0: 1)", cp.WaveSize)
	}
	if cp.Timeout != "" {
		if cu.Timeout, err = time.ParseDuration(cp.Timeout); err != nil || cu.Timeout <= 0 {
			return cp, cu, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive Go duration (\"30s\")", cp.Timeout)
		}
	}
	var observe time.Duration
	if cp.Gate != nil && cp.Gate.Observe != "" {
		if observe, err = time.ParseDuration(cp.Gate.Observe); err != nil || observe < 0 {
			return cp, cu, http.StatusBadRequest, fmt.Errorf("gate observe %q: want a Go duration (\"2s\")", cp.Gate.Observe)
		}
	}
	// The gate runs within the timeout (UpgradeCluster bounds it so): an
	// observation as long would always fail.
	if timeout := cmp.Or(cu.Timeout, time.Minute); observe >= timeout {
		return cp, cu, http.StatusBadRequest, fmt.Errorf("gate observe %v: want less than the timeout, %v", observe, timeout)
	}
	known := map[string]bool{}
	for _, m := range a.members() {
		known[m.Name] = true
	}
	if len(cu.Nodes) == 0 {
		cu.Nodes = a.names()
	}
	seen := map[string]bool{}
	for _, nd := range cu.Nodes {
		switch {
		case seen[nd]:
			return cp, cu, http.StatusBadRequest, fmt.Errorf("node %q is listed twice", nd)
		case !known[nd]:
			return cp, cu, http.StatusUnprocessableEntity, fmt.Errorf("unknown node %q: the cluster's nodes are %v (GET api/v1/cluster/nodes)", nd, a.names())
		}
		seen[nd] = true
	}
	// Every node must answer, and have every module of the plan loaded;
	// whether it can reach the plan's versions is its prepare phase's
	// question.
	for _, in := range a.gather(ctx, cu.Nodes) {
		if in.err != nil {
			return cp, cu, http.StatusUnprocessableEntity, fmt.Errorf("node %s does not answer: %v", in.node, actor.SafeError(in.err))
		}
		for _, c := range spec.Changes {
			if !slices.ContainsFunc(in.info.Modules, func(m cluster.ModuleInfo) bool { return m.Name == c.Module }) {
				return cp, cu, http.StatusUnprocessableEntity, fmt.Errorf("unknown module %q on node %s: it is not loaded there", c.Module, in.node)
			}
		}
	}
	if cp.Gate != nil {
		cu.Gate = a.gate(spec, observe)
	}
	return cp, cu, 0, nil
}

// gate is the health gate of a ClusterGate: before each wave after the
// first, it waits observe, then asks every node committed so far for its
// info: each must answer, with every module of the plan current at the
// plan's version and every process of those modules on it.
func (a *API) gate(spec upgrade.PlanSpec, observe time.Duration) func(context.Context, []string) error {
	return func(ctx context.Context, committed []string) error {
		if len(committed) == 0 {
			return nil
		}
		if observe > 0 {
			t := time.NewTimer(observe)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		want := map[string]string{}
		for _, c := range spec.Changes {
			want[c.Module] = c.Version
		}
		for _, in := range a.gather(ctx, committed) {
			if in.err != nil {
				return fmt.Errorf("node %s does not answer: %w", in.node, in.err)
			}
			for _, m := range in.info.Modules {
				if v, ok := want[m.Name]; ok && m.Current != v {
					return fmt.Errorf("node %s runs %s at %s, not %s", in.node, m.Name, m.Current, v)
				}
			}
			for _, p := range in.info.Processes {
				if v, ok := want[p.Module]; ok && p.Version != "" && p.Version != v {
					return fmt.Errorf("node %s: process %v of %s runs %s, not %s", in.node, p.PID, p.Module, p.Version, v)
				}
			}
		}
		return nil
	}
}
