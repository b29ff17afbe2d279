package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
)

// The commands that show the node: status, tree, ps, inspect, kill,
// modules, version.

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's health, process and module counts, uptime and Graft version",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if a.cluster {
				return a.clusterStatus(cmd.Context(), c)
			}
			h, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(h)
			}
			rows := [][2]string{{"status", h.Status}}
			if h.Error != "" {
				rows = append(rows, [2]string{"error", h.Error})
			}
			rows = append(rows,
				[2]string{"node", dash(h.Node)},
				[2]string{"address", c.Addr()},
				[2]string{"graft", dash(h.Graft)},
				[2]string{"uptime", dash(h.Uptime)},
				[2]string{"processes", strconv.Itoa(h.Processes)},
				[2]string{"modules", strconv.Itoa(h.Modules)})
			return writeFields(a.stdout, rows)
		}),
	}
}

func newTreeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "tree",
		Short: "Show the supervision tree: each child's PID, module, version, status, restarts and queue",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if a.cluster {
				return a.clusterTree(cmd.Context(), c)
			}
			t, err := c.Tree(cmd.Context())
			if err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(t)
			}
			return writeTree(a.stdout, t)
		}),
	}
}

// writeTree draws the tree, one line per node, with the tree's branches in
// the first column.
func writeTree(w io.Writer, t admin.Tree) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TREE\tPID\tMODULE\tVERSION\tSTATUS\tRESTARTS\tQUEUED")
	// lead starts the node's own line; more starts its children's.
	drawTree(t.Roots, func(n admin.Node) []admin.Node { return n.Children }, func(n admin.Node, lead string) {
		label := first(n.ID, n.Name, pidText(n.PID))
		if n.Name != "" && n.Name != label {
			label += " (" + n.Name + ")"
		}
		if n.Strategy != "" {
			label += " [" + n.Strategy + "]"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%d\t%d\n", lead, label, pidText(n.PID), dash(n.Module),
			versionText(n.Version, n.Pinned), n.Status, n.Restarts, n.Queued)
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(t.Roots) == 0 {
		_, err := fmt.Fprintf(w, "no supervision tree is shown by this node; %d processes\n", t.Processes)
		return err
	}
	_, err := fmt.Fprintf(w, "%d processes on the node\n", t.Processes)
	return err
}

func newPsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ps",
		Short: "List every live process: PID, name, module, version, queue, messages taken, parent",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if a.cluster {
				return a.clusterPs(cmd.Context(), c)
			}
			ps, err := c.Processes(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortFunc(ps, func(x, y actor.ProcessStat) int { return comparePIDs(x.PID, y.PID) })
			if !a.table() {
				return a.writeJSON(ps)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PID\tNAME\tMODULE\tVERSION\tQUEUED\tTAKEN\tPARENT")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", pidText(p.PID), dash(p.Name), p.Module,
					versionText(p.Version, p.Pinned), p.Queued, p.Taken, pidText(p.Parent))
			}
			return tw.Flush()
		}),
	}
}

func newInspectCmd(a *app) *cobra.Command {
	var state bool
	cmd := &cobra.Command{
		Use:   "inspect PID",
		Short: "Show one process: module, version, queue, links, trap_exit, suspension, and its state with --state",
		Long: `Show one process. PID is written as graft prints it, "<0.12.0>" or "0.12.0".

With --state the process shows what its module chooses to show of its state
(the state type implements admin.StateInspector; it runs in the process,
between two of its messages); a state that does not is shown as redacted.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			pid, err := parsePID(cmd, argv[0])
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			p, err := c.Process(cmd.Context(), pid, state)
			if err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(p)
			}
			links := make([]string, 0, len(p.Links))
			for _, l := range p.Links {
				links = append(links, l.String())
			}
			rows := [][2]string{
				{"pid", pidText(p.PID)},
				{"name", dash(p.Name)},
				{"module", p.Module},
				{"version", versionText(p.Version, p.Pinned)},
				{"parent", pidText(p.Parent)},
				{"queued", strconv.Itoa(p.Queued)},
				{"taken", strconv.FormatUint(p.Taken, 10)},
				{"links", dash(strings.Join(links, " "))},
				{"trap_exit", strconv.FormatBool(p.TrapExit)},
				{"suspended", strconv.FormatBool(p.Suspended)},
			}
			switch {
			case !state:
			case p.StateRedacted || len(p.State) == 0:
				rows = append(rows, [2]string{"state", "redacted (its state type does not implement admin.StateInspector)"})
			default:
				var b bytes.Buffer
				if json.Indent(&b, p.State, "", "  ") != nil {
					b.Reset()
					b.Write(p.State)
				}
				rows = append(rows, [2]string{"state", b.String()})
			}
			return writeFields(a.stdout, rows)
		}),
	}
	cmd.Flags().BoolVar(&state, "state", false, "show what the process's module shows of its state")
	return cmd
}

func newKillCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "kill PID",
		Short: "Kill a process (exit reason killed); its supervisor restarts it as its restart type says",
		Args:  args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			pid, err := parsePID(cmd, argv[0])
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.Kill(cmd.Context(), pid); err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(map[string]any{"pid": pid, "killed": true})
			}
			_, err = fmt.Fprintf(a.stdout, "killed %s\n", pid)
			return err
		}),
	}
}

func newModulesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "modules",
		Short: "List the modules and their versions: current, previous, lineage, activations, retired",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if a.cluster {
				return a.clusterModules(cmd.Context(), c)
			}
			ms, err := c.Modules(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortFunc(ms, func(x, y admin.Module) int { return strings.Compare(x.Name, y.Name) })
			if !a.table() {
				return a.writeJSON(ms)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODULE\tVERSION\tSTATE\tFOLLOWS\tUPGRADES FROM\tDOWNGRADES TO\tACTIVATIONS")
			for _, m := range ms {
				for _, v := range m.Versions {
					st := ""
					switch {
					case v.Current || v.Name == m.Current:
						st = "current"
					case v.Name == m.Previous:
						st = "previous"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", m.Name, v.Name, dash(st), dash(v.Follows),
						dash(strings.Join(v.UpgradesFrom, ",")), dash(strings.Join(v.DowngradesTo, ",")), v.Activations)
				}
				for _, r := range m.Retired {
					fmt.Fprintf(tw, "%s\t%s\tretired\t-\t-\t-\t-\n", m.Name, r)
				}
			}
			return tw.Flush()
		}),
	}
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the command's version and, if a node answers, the node's",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			mine := commandVersion()
			var node *admin.Health
			var nodeErr error
			c, err := a.client(cmd)
			if err == nil {
				var h admin.Health
				if h, nodeErr = c.Status(cmd.Context()); nodeErr == nil {
					node = &h
				}
			} else {
				nodeErr = err
			}
			if !a.table() {
				return a.writeJSON(struct {
					Command string        `json:"command"`
					Node    *admin.Health `json:"node"`
				}{mine, node})
			}
			fmt.Fprintf(a.stdout, "graft command  %s\n", mine)
			if node == nil {
				// Not a failure: the command's version is what was asked.
				fmt.Fprintf(a.stderr, "graft: no node version: %s\n", oneLine(nodeErr.Error()))
				return nil
			}
			_, err = fmt.Fprintf(a.stdout, "graft node     %s (%s at %s)\n", dash(node.Graft), dash(node.Node), c.Addr())
			return err
		}),
	}
}

// commandVersion is the command's module version and the Go that built
// it, from the build information.
func commandVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	s := bi.Main.Version
	if s == "" {
		s = "(devel)"
	}
	for _, kv := range bi.Settings {
		if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
			s += " " + kv.Value[:12]
		}
		if kv.Key == "vcs.modified" && kv.Value == "true" {
			s += "+dirty"
		}
	}
	return s + ", " + bi.GoVersion
}

// writeFields writes "key: value" lines, values aligned; a value of
// several lines is indented under its key.
func writeFields(w io.Writer, rows [][2]string) error {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0])+1)
	}
	var b strings.Builder
	for _, r := range rows {
		val := strings.ReplaceAll(r[1], "\n", "\n"+strings.Repeat(" ", width+1))
		fmt.Fprintf(&b, "%-*s %s\n", width, r[0]+":", val)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func parsePID(cmd *cobra.Command, s string) (actor.PID, error) {
	pid, err := actor.ParsePID(s)
	if err != nil {
		return actor.PID{}, usagef(cmd, "%q is not a PID: write it as graft prints it, \"<0.12.0>\" or \"0.12.0\"", s)
	}
	return pid, nil
}

// comparePIDs orders PIDs by node, then number (their wire form is big
// endian).
func comparePIDs(x, y actor.PID) int {
	bx, _ := x.MarshalBinary()
	by, _ := y.MarshalBinary()
	return bytes.Compare(bx, by)
}

func pidText(p actor.PID) string {
	if p.IsZero() {
		return "-"
	}
	return p.String()
}

func versionText(v string, pinned bool) string {
	if pinned {
		return dash(v) + " (pinned)"
	}
	return dash(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// drawTree calls row for every node of the trees under roots, depth
// first, with the lines that lead to it ("├─ ", "│  └─ ", ...).
func drawTree[N any](roots []N, children func(N) []N, row func(n N, lead string)) {
	var walk func(n N, lead, more string)
	walk = func(n N, lead, more string) {
		row(n, lead)
		kids := children(n)
		for i, ch := range kids {
			if i == len(kids)-1 {
				walk(ch, more+"└─ ", more+"   ")
			} else {
				walk(ch, more+"├─ ", more+"│  ")
			}
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
}
