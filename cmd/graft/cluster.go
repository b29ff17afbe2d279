package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/upgrade"
)

// The commands with --cluster: status (the nodes), tree, ps, modules,
// upgrade and downgrade, through the cluster's endpoints of the node's
// admin API (package cluster/clusteradmin serves them). The command knows
// nothing of the cluster module: it reads the documents of package admin.

// clusterCommands are the commands that take --cluster.
var clusterCommands = []string{"status", "tree", "ps", "modules", "upgrade", "downgrade"}

// clusterFlags are upgrade's flags for a cluster-wide upgrade.
type clusterFlags struct {
	nodes    []string
	waveSize int
	observe  time.Duration
	timeout  time.Duration
}

// clusterOnly names them, to refuse them without --cluster.
var clusterOnly = []string{"nodes", "wave-size", "cluster-observe", "node-timeout"}

func (o *clusterFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&o.nodes, "nodes", nil, "with --cluster: the nodes to upgrade, in commit order (default: every node of the cluster)")
	f.IntVar(&o.waveSize, "wave-size", 0, "with --cluster: how many nodes commit per wave (default 1)")
	f.DurationVar(&o.observe, "cluster-observe", 0, "with --cluster: a health gate before each wave after the first: wait this long, then every committed node must answer and run the new versions")
	f.DurationVar(&o.timeout, "node-timeout", 0, "with --cluster: how long each node has to answer each phase (default 1m)")
}

// check refuses the cluster's flags without --cluster.
func (o *clusterFlags) check(a *app, cmd *cobra.Command) error {
	if a.cluster {
		if o.waveSize < 0 {
			return usagef(cmd, "--wave-size %d: want 1 or more", o.waveSize)
		}
		return nil
	}
	for _, name := range clusterOnly {
		if cmd.Flags().Changed(name) {
			return usagef(cmd, "--%s is for cluster-wide upgrades (--cluster)", name)
		}
	}
	return nil
}

// plan is the cluster plan for spec.
func (o *clusterFlags) plan(spec upgrade.PlanSpec) admin.ClusterPlan {
	cp := admin.ClusterPlan{Plan: spec, Nodes: o.nodes, WaveSize: o.waveSize}
	if o.observe > 0 {
		cp.Gate = &admin.ClusterGate{Observe: o.observe.String()}
	}
	if o.timeout > 0 {
		cp.Timeout = o.timeout.String()
	}
	return cp
}

func (a *app) clusterStatus(ctx context.Context, c *client.Client) error {
	ns, err := c.ClusterNodes(ctx)
	if err != nil {
		return err
	}
	if !a.table() {
		return a.writeJSON(ns)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCONNECTED\tINCARNATION")
	for _, n := range ns {
		name := n.Name
		if n.Self {
			name += " (this node)"
		}
		conn := "no"
		if n.Connected {
			conn = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, conn, dash(n.Incarnation))
	}
	return tw.Flush()
}

func (a *app) clusterTree(ctx context.Context, c *client.Client) error {
	ts, err := c.ClusterTree(ctx)
	if err != nil {
		return err
	}
	if !a.table() {
		return a.writeJSON(ts)
	}
	return writeClusterTree(a.stdout, ts)
}

// writeClusterTree draws each node's process tree, one block per node.
func writeClusterTree(w io.Writer, ts []admin.NodeTree) error {
	for i, t := range ts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if t.Error != "" {
			fmt.Fprintf(w, "%s: not read: %s\n", t.Node, oneLine(t.Error))
			continue
		}
		fmt.Fprintf(w, "%s: %d processes\n", t.Node, t.Processes)
		if len(t.Roots) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TREE\tPID\tMODULE\tVERSION\tQUEUED")
		drawTree(t.Roots, func(n admin.ProcessNode) []admin.ProcessNode { return n.Children },
			func(n admin.ProcessNode, lead string) {
				fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%d\n", lead, first(n.Name, pidText(n.PID)), pidText(n.PID), dash(n.Module),
					versionText(n.Version, n.Pinned), n.Queued)
			})
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) clusterPs(ctx context.Context, c *client.Client) error {
	ts, err := c.ClusterTree(ctx)
	if err != nil {
		return err
	}
	type row struct {
		Node string `json:"node"`
		admin.ProcessNode
	}
	var rows []row
	var walk func(node string, ns []admin.ProcessNode)
	walk = func(node string, ns []admin.ProcessNode) {
		for _, n := range ns {
			kids := n.Children
			n.Children = nil
			rows = append(rows, row{node, n})
			walk(node, kids)
		}
	}
	for _, t := range ts {
		walk(t.Node, t.Roots)
	}
	if !a.table() {
		if rows == nil {
			rows = []row{}
		}
		return a.writeJSON(rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPID\tNAME\tMODULE\tVERSION\tQUEUED\tTAKEN\tPARENT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Node, pidText(r.PID), dash(r.Name), r.Module,
			versionText(r.Version, r.Pinned), r.Queued, r.Taken, pidText(r.Parent))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range ts {
		if t.Error != "" {
			fmt.Fprintf(a.stdout, "%s: not read: %s\n", t.Node, oneLine(t.Error))
		}
	}
	return nil
}

func (a *app) clusterModules(ctx context.Context, c *client.Client) error {
	ms, err := c.ClusterModules(ctx)
	if err != nil {
		return err
	}
	if !a.table() {
		return a.writeJSON(ms)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMODULE\tCURRENT\tPREVIOUS\tVERSIONS (ACTIVATIONS)")
	// current: module → version → the nodes that run it.
	current := map[string]map[string][]string{}
	var unread []string
	for _, nm := range ms {
		if nm.Error != "" {
			unread = append(unread, fmt.Sprintf("%s: not read: %s\n", nm.Node, oneLine(nm.Error)))
			continue
		}
		mods := slices.Clone(nm.Modules)
		slices.SortFunc(mods, func(x, y admin.Module) int { return strings.Compare(x.Name, y.Name) })
		for _, m := range mods {
			var vs []string
			for _, v := range m.Versions {
				vs = append(vs, fmt.Sprintf("%s(%d)", v.Name, v.Activations))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", nm.Node, m.Name, dash(m.Current), dash(m.Previous), dash(strings.Join(vs, " ")))
			if current[m.Name] == nil {
				current[m.Name] = map[string][]string{}
			}
			current[m.Name][m.Current] = append(current[m.Name][m.Current], nm.Node)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range unread {
		fmt.Fprint(a.stdout, line)
	}
	// A module whose nodes run different versions is worth a line: a
	// cluster upgrade in progress, or one that left a node behind.
	for _, mod := range slices.Sorted(maps.Keys(current)) {
		byVersion := current[mod]
		if len(byVersion) < 2 {
			continue
		}
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(byVersion)) {
			parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(byVersion[v], ", ")))
		}
		fmt.Fprintf(a.stdout, "%s: the nodes differ: %s\n", mod, strings.Join(parts, "; "))
	}
	return nil
}

// clusterUpgrade runs a cluster-wide upgrade and prints its report: every
// node's outcome, then each node's processes.
func (a *app) clusterUpgrade(ctx context.Context, c *client.Client, cp admin.ClusterPlan) error {
	if a.table() {
		nodes := "every node"
		if len(cp.Nodes) > 0 {
			nodes = strings.Join(cp.Nodes, ", ")
		}
		fmt.Fprintf(a.stdout, "cluster upgrade: %s on %s\n", describe(cp.Plan), nodes)
	}
	u, err := c.ClusterUpgrade(ctx, cp)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitStopped, err: fmt.Errorf(
				"stopped waiting for the cluster upgrade; it goes on in the cluster (graft --cluster modules shows the versions)")}
		}
		return err
	}
	if !a.table() {
		if err := a.writeJSON(u); err != nil {
			return err
		}
		return clusterUpgradeEnd(u)
	}
	if err := writeClusterReport(a.stdout, u); err != nil {
		return err
	}
	return clusterUpgradeEnd(u)
}

// writeClusterReport prints a cluster upgrade's outcome, a line per node,
// then each node's report of the last phase it ran.
func writeClusterReport(w io.Writer, u admin.ClusterUpgrade) error {
	fmt.Fprintf(w, "\ncluster upgrade %s: %s\n", u.ID, u.State)
	if u.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", oneLine(u.Reason))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tOUTCOME\tPREVIOUS\tPROCESSES\tERROR")
	for _, nr := range u.Nodes {
		var prev []string
		for _, m := range slices.Sorted(maps.Keys(nr.Previous)) {
			prev = append(prev, m+"="+nr.Previous[m])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", nr.Node, nr.Outcome, dash(strings.Join(prev, " ")),
			dash(counts(lastPhase(nr))), dash(oneLine(nr.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, nr := range u.Nodes {
		s := lastPhase(nr)
		if s == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", nr.Node)
		if err := s.WriteTable(w, 0); err != nil {
			return err
		}
	}
	return nil
}

// lastPhase is the report of the last phase a node ran: its rollback, its
// commit, or its dry run.
func lastPhase(nr admin.ClusterNodeReport) *upgrade.Summary {
	switch {
	case nr.Rollback != nil:
		return nr.Rollback
	case nr.Commit != nil:
		return nr.Commit
	}
	return nr.Prepare
}

// counts is "migrated=3 failed=1" for a phase's report.
func counts(s *upgrade.Summary) string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, s.Counts[k]))
	}
	return strings.Join(parts, " ")
}

// clusterUpgradeEnd is the exit status of a cluster upgrade: 0 when every
// node committed, 1 otherwise.
func clusterUpgradeEnd(u admin.ClusterUpgrade) error {
	if u.State == "committed" {
		return nil
	}
	msg := fmt.Sprintf("cluster upgrade %s %s", u.ID, strings.ReplaceAll(u.State, "_", " "))
	if u.Reason != "" {
		msg += ": " + u.Reason
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%s", msg)}
}
