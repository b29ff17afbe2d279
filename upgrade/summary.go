package upgrade

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/graftrt/graft/actor"
)

// Summary is a Report as data: what the admin API sends and the graft
// command prints. Report.Summary builds it; errors are their messages,
// durations Go durations in text ("1.5ms").
type Summary struct {
	Mode     string           `json:"mode"`
	DryRun   bool             `json:"dry_run,omitempty"`
	Outcome  string           `json:"outcome"`
	Reason   string           `json:"reason,omitempty"` // why it was refused or rolled back
	Elapsed  string           `json:"elapsed"`
	MaxPause string           `json:"max_pause"`
	Modules  []ModuleSummary  `json:"modules,omitempty"`
	Counts   map[string]int   `json:"counts"` // processes per result
	Procs    []ProcessSummary `json:"processes"`
}

// ModuleSummary is one module of a plan: from which version to which, and
// in which direction of its lineage.
type ModuleSummary struct {
	Module    string `json:"module"`
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction"`
}

// ProcessSummary is one ProcessResult as data.
type ProcessSummary struct {
	PID    actor.PID `json:"pid"`
	Module string    `json:"module"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Target string    `json:"target"`
	Result string    `json:"result"`
	Err    string    `json:"error,omitempty"`
	Pause  string    `json:"pause,omitempty"`
	Late   bool      `json:"late,omitempty"`
}

// Lost reports whether the outcome leaves the plan undone: refused or
// rolled back (what the graft command exits non-zero for).
func (s Summary) Lost() bool {
	return s.Outcome == Refused.String() || s.Outcome == RolledBack.String()
}

// Summary returns the report as data.
func (r *Report) Summary() Summary {
	s := Summary{Mode: r.Mode.String(), DryRun: r.DryRun, Outcome: r.Outcome.String(),
		Elapsed: r.Elapsed.String(), MaxPause: r.MaxPause.String(), Counts: map[string]int{}}
	for _, ev := range r.Events {
		switch e := ev.(type) {
		case PlanRefused:
			s.Reason = errText(e.Reason)
		case UpgradeRolledBack:
			s.Reason = errText(e.Reason)
		}
	}
	if sc := r.Schedule; sc != nil {
		for _, c := range sc.Plan.Changes {
			m := ModuleSummary{Module: c.Module, Direction: sc.Direction[c.Module].String()}
			if c.To != nil {
				m.To = c.To.Name()
			}
			if v := sc.From[c.Module]; v != nil {
				m.From = v.Name()
			}
			s.Modules = append(s.Modules, m)
		}
	}
	s.Procs = make([]ProcessSummary, 0, len(r.Processes))
	for _, p := range r.Processes {
		s.Counts[p.Result.String()]++
		ps := ProcessSummary{PID: p.PID, Module: p.Module, From: p.From, To: p.To, Target: p.Target,
			Result: p.Result.String(), Err: errText(p.Err), Late: p.Late}
		if p.Pause > 0 {
			ps.Pause = p.Pause.String()
		}
		s.Procs = append(s.Procs, ps)
	}
	return s
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return actor.SafeError(err).Error()
}

// WriteTable writes the report for a person: the outcome, the modules,
// the counts per result, then one line per process (up to maxProcs of
// them, failures first; 0 means all).
func (r *Report) WriteTable(w io.Writer, maxProcs int) error {
	return r.Summary().WriteTable(w, maxProcs)
}

// WriteTable writes the summary as Report.WriteTable does.
func (s Summary) WriteTable(w io.Writer, maxProcs int) error {
	var b strings.Builder
	line := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-11s%s\n", k+":", fmt.Sprintf(format, args...)) }
	mode := s.Mode
	if s.DryRun {
		mode += " (dry run)"
	}
	line("outcome", "%s", s.Outcome)
	line("mode", "%s", mode)
	if s.Reason != "" {
		line("reason", "%s", s.Reason)
	}
	line("elapsed", "%s (max pause %s)", s.Elapsed, s.MaxPause)
	for _, m := range s.Modules {
		line("module", "%s %s → %s (%s)", m.Module, orDash(m.From), m.To, m.Direction)
	}
	results := make([]string, 0, len(s.Counts))
	for r := range s.Counts {
		results = append(results, r)
	}
	slices.Sort(results)
	counts := make([]string, 0, len(results))
	for _, r := range results {
		counts = append(counts, fmt.Sprintf("%s=%d", r, s.Counts[r]))
	}
	line("processes", "%d %s", len(s.Procs), strings.Join(counts, " "))
	if _, err := io.WriteString(w, b.String()); err != nil || len(s.Procs) == 0 {
		return err
	}
	procs := slices.Clone(s.Procs)
	slices.SortStableFunc(procs, func(a, b ProcessSummary) int { return boolRank(a.Err == "") - boolRank(b.Err == "") })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPID\tMODULE\tFROM\tTO\tRESULT\tPAUSE\tERROR")
	for i, p := range procs {
		if maxProcs > 0 && i == maxProcs {
			fmt.Fprintf(tw, "… %d more\n", len(procs)-maxProcs)
			break
		}
		fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.Module, orDash(p.From), orDash(p.To),
			p.Result, orDash(p.Pause), p.Err)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
