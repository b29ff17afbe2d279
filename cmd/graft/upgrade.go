package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/upgrade"
)

// upgradeFlags are the flags that build a plan on the command line.
type upgradeFlags struct {
	module, to, path, checksum string
	mode, stragglers           string
	waves                      []float64
	observe, timeout           time.Duration
	maxCrashes                 int
}

// planFlags names them, to tell a plan file and flags apart.
var planFlags = []string{"module", "to", "path", "checksum", "mode", "waves", "observe", "max-crashes", "timeout", "stragglers"}

func newUpgradeCmd(a *app, down bool) *cobra.Command {
	var o upgradeFlags
	var co clusterFlags
	verb, short := "upgrade", "Move modules to new versions in the running node, and report what happened"
	if down {
		verb, short = "downgrade", "Move a module back to an older version (the same request as upgrade: the lineage decides the direction)"
	}
	cmd := &cobra.Command{
		Use:   verb + " PLAN.json | --module M --to V [flags]",
		Short: short,
		Long: short + `.

The plan is a file (upgrade.PlanSpec as JSON; "-" reads standard input), or is
built from the flags. Either way it is checked as the node will check it
(upgrade.ParsePlan) before it is sent; a bad plan changes nothing.

The command starts the upgrade, prints its steps as they happen, process by
process, then the report: the outcome, each module's move and direction, and
each process's result and pause. With -o json it prints the upgrade's
document (admin.Upgrade, with its report) when the upgrade has ended.

upgrade and downgrade send the same request: a version's lineage (what it
follows, what its CodeChange migrates from and its Downgrade returns to)
decides whether a move runs CodeChange (an upgrade) or Downgrade (a
downgrade), never the command's name.

Modes: atomic (default: every process migrates, or none), rolling (in waves
behind a health gate: --waves, --observe, --max-crashes), lazy (each process
migrates at its next message; the upgrade waits for them until --timeout),
dry-run (computes the schedule and runs every migration on copies, changing
nothing).

With --cluster the plan runs on every node of the cluster (or --nodes, in
that order): a dry run on each, then commits in waves of --wave-size nodes,
with a health gate before each wave after the first (--cluster-observe); a
failure rolls every committed node back. The command waits for the end and
prints each node's outcome and processes.

Exit status: 0 committed, simulated (dry run) or converged (lazy); 1 rolled
back, refused, failed or unconverged (with --cluster: aborted, rolled back
or stuck); 2 a bad plan or command line, or a node
that does not answer or refuses the token.`,
		Args: args(0, 1),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			if err := co.check(a, cmd); err != nil {
				return err
			}
			spec, err := o.plan(cmd, argv, a.stdin)
			if err != nil {
				return err
			}
			if a.cluster && spec.DryRun {
				return usagef(cmd, "--cluster: a cluster-wide upgrade runs a dry run on every node before it commits anywhere; there is no dry-run mode for it")
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if a.cluster {
				return a.clusterUpgrade(cmd.Context(), c, co.plan(spec))
			}
			return a.upgrade(cmd.Context(), c, spec)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.module, "module", "", "the module to move")
	f.StringVar(&o.to, "to", "", "the version to move it to")
	f.StringVar(&o.path, "path", "", "a plugin version's executable (upgrade/plugin)")
	f.StringVar(&o.checksum, "checksum", "", "the SHA-256 the executable must have")
	f.StringVar(&o.mode, "mode", "atomic", "atomic, rolling, lazy or dry-run")
	f.Float64SliceVar(&o.waves, "waves", nil, "a rolling upgrade's waves, fractions of the processes ending at 1: 0.1,1")
	f.DurationVar(&o.observe, "observe", 0, "a rolling upgrade's gate: how long to watch each wave")
	f.IntVar(&o.maxCrashes, "max-crashes", 0, "a rolling upgrade's gate: crashes a wave may have")
	f.DurationVar(&o.timeout, "timeout", 0, "how long processes have to suspend and migrate (lazy: to converge); default the node's (upgrade.DefaultTimeout)")
	f.StringVar(&o.stragglers, "stragglers", "", "processes on an older version of the module: migrate (default), refuse or kill")
	co.add(cmd)
	return cmd
}

// plan reads the plan file, or builds the plan from the flags, and checks
// it as the node will.
func (o *upgradeFlags) plan(cmd *cobra.Command, argv []string, stdin io.Reader) (upgrade.PlanSpec, error) {
	var set []string
	for _, name := range planFlags {
		if cmd.Flags().Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(argv) == 1 {
		if len(set) > 0 {
			return upgrade.PlanSpec{}, usagef(cmd, "give a plan file or flags, not both (%s)", strings.Join(set, " "))
		}
		name := argv[0]
		var data []byte
		var err error
		if name == "-" {
			name = "standard input"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return upgrade.PlanSpec{}, usagef(cmd, "cannot read the plan: %v", err)
		}
		spec, err := upgrade.ParsePlan(data)
		if err != nil {
			return upgrade.PlanSpec{}, usagef(cmd, "%s: %s", name, strings.TrimPrefix(err.Error(), "upgrade: "))
		}
		return spec, nil
	}
	if o.module == "" || o.to == "" {
		return upgrade.PlanSpec{}, usagef(cmd, "give a plan file, or --module and --to")
	}
	spec := upgrade.PlanSpec{
		Changes:    []upgrade.ChangeSpec{{Module: o.module, Version: o.to, Path: o.path, Checksum: o.checksum}},
		Stragglers: o.stragglers,
		Waves:      o.waves,
	}
	switch o.mode {
	case "atomic", "rolling", "lazy":
		spec.Mode = o.mode
	case "dry-run":
		spec.DryRun = true
	default:
		return upgrade.PlanSpec{}, usagef(cmd, "--mode %q: want atomic, rolling, lazy or dry-run", o.mode)
	}
	rolling := o.mode == "rolling"
	for _, name := range []string{"waves", "observe", "max-crashes"} {
		if cmd.Flags().Changed(name) && !rolling {
			return upgrade.PlanSpec{}, usagef(cmd, "--%s is for rolling upgrades (--mode rolling), not %s", name, o.mode)
		}
	}
	if cmd.Flags().Changed("timeout") {
		spec.Timeout = o.timeout.String()
	}
	if cmd.Flags().Changed("observe") || cmd.Flags().Changed("max-crashes") {
		spec.Gate = &upgrade.GateSpec{MaxCrashes: o.maxCrashes}
		if cmd.Flags().Changed("observe") {
			spec.Gate.Observe = o.observe.String()
		}
	}
	// The same check as a plan file's: what the flags built goes through
	// ParsePlan too, so both are refused for the same reasons.
	data, err := json.Marshal(spec)
	if err != nil {
		return upgrade.PlanSpec{}, err
	}
	if spec, err = upgrade.ParsePlan(data); err != nil {
		return upgrade.PlanSpec{}, usagef(cmd, "%s", strings.TrimPrefix(err.Error(), "upgrade: "))
	}
	return spec, nil
}

// upgrade starts the plan, follows it and prints its report.
func (a *app) upgrade(ctx context.Context, c *client.Client, spec upgrade.PlanSpec) error {
	if !a.table() {
		u, err := c.RunUpgrade(ctx, spec)
		if err != nil {
			return err
		}
		if err := a.writeJSON(u); err != nil {
			return err
		}
		return upgradeEnd(u)
	}
	// Subscribed before the upgrade starts, so its first step is seen: the
	// stream filtered by the upgrade's ID could only be asked for once the
	// node has answered with the ID, after the first steps may have gone.
	// The filter is applied here instead.
	s, err := c.Subscribe(ctx, "")
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := c.StartUpgrade(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "upgrade %s: %s\n", u.ID, describe(u.Plan))
	p := &eventPrinter{a: a, seen: map[uint64]bool{}}
	if id := u.ID; !u.Done() {
		u, err = a.follow(ctx, c, s, id, p.print)
		if err != nil {
			if ctx.Err() != nil {
				return &exitError{code: exitStopped, err: fmt.Errorf(
					"stopped following upgrade %s; it goes on in the node (graft upgrades, graft events --follow --upgrade %[1]s, graft cancel %[1]s)", id)}
			}
			return err
		}
	}
	fmt.Fprintf(a.stdout, "\nupgrade %s: %s\n", u.ID, u.State)
	if u.Report != nil {
		if err := u.Report.WriteTable(a.stdout, 0); err != nil {
			return err
		}
	}
	return upgradeEnd(u)
}

// upgradeEnd is the exit status of an ended upgrade: 0 when the plan is
// done, 1 when it is not.
func upgradeEnd(u admin.Upgrade) error {
	switch u.State {
	case "committed", "simulated", "converged":
		return nil
	}
	// The report's reason is the failure itself; the error wraps it in
	// the outcome ("upgrade: rolled back: ...") that the message says.
	why := u.Error
	if u.Report != nil && u.Report.Reason != "" {
		why = u.Report.Reason
	}
	msg := fmt.Sprintf("upgrade %s %s", u.ID, strings.ReplaceAll(u.State, "_", " "))
	if why != "" {
		msg += ": " + why
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%s", msg)}
}

// describe says what a plan moves, for a person: "svc → v2 (atomic)".
func describe(p upgrade.PlanSpec) string {
	changes := make([]string, 0, len(p.Changes))
	for _, ch := range p.Changes {
		changes = append(changes, ch.Module+" → "+ch.Version)
	}
	mode := dash(p.Mode)
	if p.Mode == "" {
		mode = "atomic"
	}
	if p.DryRun {
		mode += ", dry run"
	}
	return strings.Join(changes, ", ") + " (" + mode + ")"
}

func newCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a running upgrade before its commit (it rolls back); one that committed or ended cannot be",
		Args:  args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			u, err := c.Cancel(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(u)
			}
			_, err = fmt.Fprintf(a.stdout, "upgrade %s: %s\n", u.ID, u.State)
			return err
		}),
	}
}

func newUpgradesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrades",
		Short: "List the upgrades started through the API, newest first",
		Args:  args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			us, err := c.Upgrades(cmd.Context())
			if err != nil {
				return err
			}
			if !a.table() {
				return a.writeJSON(us)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tPLAN\tSTARTED\tTOOK")
			for _, u := range us {
				took := "-"
				if u.Finished != nil {
					took = u.Finished.Sub(u.Started).Round(time.Microsecond).String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.State, describe(u.Plan),
					u.Started.Local().Format("2006-01-02 15:04:05"), took)
			}
			return tw.Flush()
		}),
	}
}
