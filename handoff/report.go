package handoff

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/graftrt/graft/actor"
)

// Outcomes of a handoff.
const (
	Committed = "committed" // the new process runs the trees
	Aborted   = "aborted"   // the old process resumed everything
	Refused   = "refused"   // nothing was suspended
)

// Report says what a handoff did, process by process.
type Report struct {
	Outcome string `json:"outcome"`
	// Step is the step that failed (Aborted, Refused), Err its error.
	Step string `json:"step,omitempty"`
	Err  string `json:"err,omitempty"`
	// NewPID is the new process's OS PID.
	NewPID    int             `json:"new_pid,omitempty"`
	Processes []ProcessReport `json:"processes"`
	// Total is from the trigger to the end (commit and forwarding, or the
	// abort); Pause is from the suspension until the new process runs
	// every process and the old one has sent what reached it meanwhile.
	Total time.Duration `json:"total"`
	Pause time.Duration `json:"pause"`
	// Bytes crossed the channel, both ways, until the commit.
	Bytes int64 `json:"bytes"`
	// Forwarded counts late messages sent on after the commit (calls
	// included); Timers the SendAfter timers taken over.
	Forwarded int `json:"forwarded"`
	Timers    int `json:"timers"`
}

// ProcessReport is one process in a Report.
type ProcessReport struct {
	Path   string    `json:"path"`
	Name   string    `json:"name,omitempty"`
	Module string    `json:"module"`
	OldPID actor.PID `json:"old_pid"`
	NewPID actor.PID `json:"new_pid,omitempty"`
	From   string    `json:"from"`
	To     string    `json:"to,omitempty"`
	// StateBytes is the state's size in its codec; Queued the messages
	// that crossed with it.
	StateBytes int    `json:"state_bytes"`
	Queued     int    `json:"queued"`
	Result     string `json:"result"` // moved, resumed
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "handoff %s", r.Outcome)
	if r.Step != "" {
		fmt.Fprintf(w, " at %s: %s", r.Step, r.Err)
	}
	fmt.Fprintf(w, "\ntotal %v, pause %v, %d bytes, %d forwarded, %d timers\n", r.Total, r.Pause, r.Bytes, r.Forwarded, r.Timers)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tNAME\tMODULE\tOLD\tNEW\tFROM\tTO\tSTATE B\tQUEUED\tRESULT")
	for _, p := range r.Processes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\t%s\t%d\t%d\t%s\n", p.Path, p.Name, p.Module, p.OldPID, p.NewPID,
			p.From, p.To, p.StateBytes, p.Queued, p.Result)
	}
	tw.Flush()
}
