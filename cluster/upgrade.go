package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// AgentName is the registered name of the process through which a node
// takes part in cluster-wide upgrades (ServeUpgrades).
const AgentName = "graft.upgrade_agent"

// AgentModule is the agent's module.
const AgentModule = "cluster.upgrade_agent"

// ErrNoAgent is the error of a cluster upgrade for a node that does not
// serve upgrades.
var ErrNoAgent = errors.New("cluster: the node does not serve upgrades (ServeUpgrades)")

// upgradeReq and upgradeAns are what a coordinator and a node's agent
// exchange: a plan as JSON (upgrade.PlanSpec), and the node's report.
type upgradeReq struct {
	Phase   string // prepare, commit, rollback
	Plan    []byte // an upgrade.PlanSpec, JSON
	Timeout int64  // nanoseconds the node has for the phase
}

type upgradeAns struct {
	Ready     bool     // prepare: the dry run found nothing to refuse; commit, rollback: committed
	Unchanged bool     // the node runs the plan's versions already: nothing to do
	Summary   []byte   // the node's upgrade.Summary, JSON
	Current   []string // prepare: "module=version" for each module of the plan, before it
	Err       string   // why the phase failed at that node
}

type agentState struct {
	top    *supervisor.Handle
	loader upgrade.Loader
}

// ServeUpgrades makes this node take part in cluster-wide upgrades
// (UpgradeCluster): an agent process, registered as AgentName, resolves a
// coordinator's plans through loader (upgrade.Native for compiled-in
// versions) and runs them on the subtree of top, as top.Upgrade does.
func (n *Node) ServeUpgrades(top *supervisor.Handle, loader upgrade.Loader) (actor.PID, error) {
	if top == nil || loader == nil {
		return actor.PID{}, fmt.Errorf("%w: ServeUpgrades needs a supervisor and a loader", ErrBadOptions)
	}
	if err := loadOnce(n.sys, agentVersion); err != nil {
		return actor.PID{}, err
	}
	return n.sys.Spawn(AgentModule, agentState{top: top, loader: loader}, actor.WithName(AgentName))
}

var agentVersion = actor.Define(AgentModule, "v1", actor.Funcs[agentState]{
	Init: func(ctx *actor.Context, args any) (agentState, error) {
		return args.(agentState), nil
	},
	Handle: func(ctx *actor.Context, s agentState, msg any) (agentState, error) {
		req, ok := msg.(upgradeReq)
		if !ok || !ctx.IsCall() {
			return s, nil
		}
		ctx.Reply(s.serve(ctx.System(), req))
		return s, nil
	},
})

// serve runs one phase of a cluster upgrade on this node.
func (s agentState) serve(sys *actor.System, req upgradeReq) (ans upgradeAns) {
	defer func() {
		if r := recover(); r != nil { // a loader or a gate is user code
			ans = upgradeAns{Err: fmt.Sprintf("panic: %v", r)}
		}
	}()
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	spec, err := upgrade.ParsePlan(req.Plan)
	if err != nil {
		return upgradeAns{Err: err.Error()}
	}
	switch req.Phase {
	case "prepare":
		spec.DryRun = true
		for _, c := range spec.Changes {
			if cur, ok := sys.Current(c.Module); ok {
				ans.Current = append(ans.Current, c.Module+"="+cur.Name())
			}
		}
	case "commit", "rollback":
		spec.DryRun = false
	default:
		return upgradeAns{Err: fmt.Sprintf("unknown phase %q", req.Phase)}
	}
	// A module the node runs at the plan's version already is left out; a
	// node that runs them all has nothing to do (a node started after an
	// upgrade, a plan run again).
	var todo []upgrade.ChangeSpec
	for _, c := range spec.Changes {
		if cur, ok := sys.Current(c.Module); !ok || cur.Name() != c.Version {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 {
		ans.Ready, ans.Unchanged = true, true
		return ans
	}
	spec.Changes = todo
	plan, err := spec.Resolve(ctx, sys, s.loader)
	if err != nil {
		ans.Err = err.Error()
		return ans
	}
	rep, err := s.top.Upgrade(ctx, plan)
	if rep != nil {
		ans.Summary, _ = json.Marshal(rep.Summary())
	}
	switch {
	case err != nil:
		ans.Err = err.Error()
	case spec.DryRun && (rep.Outcome != upgrade.Simulated || len(rep.Failed()) > 0):
		ans.Err = fmt.Sprintf("dry run: %v, %d processes would fail", rep.Outcome, len(rep.Failed()))
	case !spec.DryRun && rep.Outcome != upgrade.Committed:
		ans.Err = fmt.Sprintf("upgrade %v", rep.Outcome)
	default:
		ans.Ready = true
	}
	return ans
}

// ClusterUpgrade is a plan for the whole cluster: the same plan on every
// node, prepared everywhere, then committed node by node in waves.
type ClusterUpgrade struct {
	// Plan is run on every node's agent (see ServeUpgrades); its DryRun is
	// ignored.
	Plan upgrade.PlanSpec
	// Nodes are the nodes to upgrade, in commit order; this node by its
	// name.
	Nodes []string
	// WaveSize is how many nodes commit per wave (default 1).
	WaveSize int
	// Gate, if set, is asked before every wave with the nodes committed
	// so far (none before the first): an error, a panic or no answer by
	// the deadline stops the upgrade and rolls every committed node back.
	Gate func(ctx context.Context, committed []string) error
	// Timeout bounds each node's answer to each phase (default 1 min).
	Timeout time.Duration
}

// Node outcomes in a ClusterReport.
const (
	NodePrepared   = "prepared"    // its dry run passed; not committed (the upgrade stopped)
	NodeUnchanged  = "unchanged"   // it ran the plan's versions already: nothing was done there
	NodeRefused    = "refused"     // its dry run, or its commit, failed: it runs what it ran
	NodeCommitted  = "committed"   // it runs the new versions
	NodeRolledBack = "rolled_back" // it committed, and was rolled back
	NodeStuck      = "stuck"       // it committed, and its rollback failed: it may run either
	NodeLost       = "lost"        // it could not be reached
)

// Cluster outcomes.
const (
	ClusterCommitted  = "committed"   // every node committed
	ClusterAborted    = "aborted"     // a node was not ready: nothing was committed
	ClusterRolledBack = "rolled_back" // a wave failed: every committed node was rolled back
	ClusterStuck      = "stuck"       // a rollback failed: see the nodes
)

// ClusterReport says what a cluster-wide upgrade did, node by node; each
// node's upgrade.Summary lists its processes.
type ClusterReport struct {
	Outcome string
	Reason  string
	Nodes   []NodeReport
}

// NodeReport is one node's part.
type NodeReport struct {
	Node    string
	Outcome string
	Err     string
	// Previous are the versions the node ran before, by module.
	Previous map[string]string
	// The node's reports of each phase it ran.
	Prepare, Commit, Rollback *upgrade.Summary
}

// UpgradeCluster runs cu: (1) prepare: every node resolves the plan
// (loading and staging its versions) and runs it as a dry run; unless
// every node answers ready, nothing is committed anywhere (aborted). (2)
// commit, wave by wave, each node's upgrade atomic on its own (the plan's
// mode); the gate runs before each wave. A node that fails to commit, is
// lost, or a gate that fails stops the upgrade, and every node committed
// so far is rolled back, newest first, through the lineage's downgrades
// (a plan back to the versions it reported in prepare). Both versions
// serve meanwhile: a node committed runs the new versions while the
// others run the old ones.
func (n *Node) UpgradeCluster(ctx context.Context, cu ClusterUpgrade) (*ClusterReport, error) {
	if len(cu.Nodes) == 0 {
		return nil, fmt.Errorf("%w: a cluster upgrade needs nodes", ErrBadOptions)
	}
	seen := map[string]bool{}
	for _, nd := range cu.Nodes {
		if nd == "" || seen[nd] {
			return nil, fmt.Errorf("%w: node %q empty or listed twice", ErrBadOptions, nd)
		}
		seen[nd] = true
	}
	cu.Plan.DryRun = false
	planJSON, err := json.Marshal(cu.Plan)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", upgrade.ErrInvalidPlan, err)
	}
	if _, err := upgrade.ParsePlan(planJSON); err != nil {
		return nil, err
	}
	if cu.WaveSize <= 0 {
		cu.WaveSize = 1
	}
	if cu.Timeout <= 0 {
		cu.Timeout = time.Minute
	}
	rep := &ClusterReport{}
	byNode := map[string]*NodeReport{}
	for _, nd := range cu.Nodes {
		rep.Nodes = append(rep.Nodes, NodeReport{Node: nd})
	}
	for i := range rep.Nodes {
		byNode[rep.Nodes[i].Node] = &rep.Nodes[i]
	}

	// Phase 1: prepare everywhere, at once.
	type prepared struct {
		node string
		ans  upgradeAns
		err  error
	}
	answers := make(chan prepared, len(cu.Nodes))
	for _, nd := range cu.Nodes {
		go func() {
			ans, err := n.agentCall(ctx, nd, upgradeReq{Phase: "prepare", Plan: planJSON, Timeout: int64(cu.Timeout)}, cu.Timeout)
			answers <- prepared{nd, ans, err}
		}()
	}
	ready := true
	for range cu.Nodes {
		a := <-answers
		nr := byNode[a.node]
		nr.Prepare = summary(a.ans.Summary)
		nr.Previous = map[string]string{}
		for _, mv := range a.ans.Current {
			if m, v, ok := strings.Cut(mv, "="); ok {
				nr.Previous[m] = v
			}
		}
		switch {
		case a.err != nil:
			nr.Outcome, nr.Err, ready = NodeLost, a.err.Error(), false
		case !a.ans.Ready:
			nr.Outcome, nr.Err, ready = NodeRefused, a.ans.Err, false
		case a.ans.Unchanged:
			nr.Outcome = NodeUnchanged
		default:
			nr.Outcome = NodePrepared
		}
	}
	if !ready {
		rep.Outcome, rep.Reason = ClusterAborted, "a node was not ready: nothing committed"
		return rep, nil
	}

	// Phase 2: commit in waves.
	var committed []string
	fail := func(reason string) (*ClusterReport, error) {
		rep.Outcome, rep.Reason = ClusterRolledBack, reason
		for i := len(committed) - 1; i >= 0; i-- {
			nr := byNode[committed[i]]
			back := rollbackSpec(cu.Plan, nr.Previous)
			data, err := json.Marshal(back)
			if err == nil {
				var ans upgradeAns
				ans, err = n.agentCall(ctx, nr.Node, upgradeReq{Phase: "rollback", Plan: data, Timeout: int64(cu.Timeout)}, cu.Timeout)
				nr.Rollback = summary(ans.Summary)
				if err == nil && !ans.Ready {
					err = errors.New(ans.Err)
				}
			}
			if err != nil {
				nr.Outcome, nr.Err = NodeStuck, "rollback: "+err.Error()
				rep.Outcome = ClusterStuck
				continue
			}
			nr.Outcome = NodeRolledBack
		}
		return rep, nil
	}
	for start := 0; start < len(cu.Nodes); start += cu.WaveSize {
		wave := cu.Nodes[start:min(start+cu.WaveSize, len(cu.Nodes))]
		if cu.Gate != nil {
			if err := runGate(ctx, cu.Gate, append([]string(nil), committed...), cu.Timeout); err != nil {
				return fail("gate before wave " + fmt.Sprint(start/cu.WaveSize+1) + ": " + err.Error())
			}
		}
		for _, nd := range wave {
			nr := byNode[nd]
			if nr.Outcome == NodeUnchanged {
				continue
			}
			ans, err := n.agentCall(ctx, nd, upgradeReq{Phase: "commit", Plan: planJSON, Timeout: int64(cu.Timeout)}, cu.Timeout)
			nr.Commit = summary(ans.Summary)
			switch {
			case err != nil:
				nr.Outcome, nr.Err = NodeLost, err.Error()
				return fail(fmt.Sprintf("node %s lost at commit: %v", nd, err))
			case !ans.Ready:
				nr.Outcome, nr.Err = NodeRefused, ans.Err
				return fail(fmt.Sprintf("node %s did not commit: %s", nd, ans.Err))
			}
			nr.Outcome = NodeCommitted
			if ans.Unchanged { // it was upgraded meanwhile, by another plan
				nr.Outcome = NodeUnchanged
				continue
			}
			committed = append(committed, nd)
		}
	}
	rep.Outcome = ClusterCommitted
	return rep, nil
}

// agentCall asks node's agent, within timeout.
func (n *Node) agentCall(ctx context.Context, node string, req upgradeReq, timeout time.Duration) (upgradeAns, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	v, err := n.CallNamed(ctx, Name{Name: AgentName, Node: node}, req)
	if err != nil {
		if errors.Is(err, actor.ErrUnknownName) {
			return upgradeAns{}, fmt.Errorf("%w: %s", ErrNoAgent, node)
		}
		return upgradeAns{}, err
	}
	ans, ok := v.(upgradeAns)
	if !ok {
		return upgradeAns{}, fmt.Errorf("cluster: node %s answered %T", node, v)
	}
	return ans, nil
}

// rollbackSpec is the plan back to the versions a node ran before: the
// same plan with each change's version replaced by the previous one, run
// atomically.
func rollbackSpec(p upgrade.PlanSpec, previous map[string]string) upgrade.PlanSpec {
	back := upgrade.PlanSpec{Mode: "atomic", Timeout: p.Timeout, Stragglers: p.Stragglers}
	for _, c := range p.Changes {
		if v, ok := previous[c.Module]; ok {
			back.Changes = append(back.Changes, upgrade.ChangeSpec{Module: c.Module, Version: v})
		}
	}
	return back
}

func runGate(ctx context.Context, gate func(context.Context, []string) error, committed []string, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("gate panicked: %v", r)
			}
		}()
		done <- actor.SafeError(gate(ctx, committed))
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gate: %w", ctx.Err())
	}
}

func summary(b []byte) *upgrade.Summary {
	if len(b) == 0 {
		return nil
	}
	var s upgrade.Summary
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}
