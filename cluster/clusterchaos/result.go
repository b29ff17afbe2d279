package clusterchaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/graftrt/graft/chaos"
)

// Result is what a cluster chaos run did and found.
type Result struct {
	Seed    uint64
	Elapsed time.Duration
	// Faults injected across nodes, by kind; Timeline each of them, in
	// order.
	Faults   map[Kind]int
	Timeline []FaultRecord
	// Nodes are the nodes' own runs, in the order of Config.Nodes.
	Nodes []NodeResult
	// The coordinator's messages to the nodes' workers. Sent (SendNamed
	// returned nil) = Handled + DeadHere + DeadThere + Lost, but for
	// ToKilled: the messages sent to an incarnation of a node that was
	// killed later, which its records died with (what it had acknowledged
	// and not handled is counted nowhere, as a process's mailbox dies with
	// it). Refused were refused at send. DeadHere were reported as dead
	// letters on the coordinator (a connection lost before the far node
	// took them), DeadThere on the node (no process by that name, a full
	// mailbox, a process that exited with them queued). Duplicated counts
	// messages accounted for more than once; OutOfOrder those a process
	// handled after a later one of the same sender. Unseen are the
	// messages of ToKilled accounted for nowhere: taken by the node after
	// the run's last look at its records (just before the kill), or not
	// yet reported by the coordinator (a connection to a node that died
	// reports what it did not deliver after the tick time).
	Sent, Refused, Handled, DeadHere, DeadThere, Lost, Duplicated, OutOfOrder, ToKilled, Unseen int64
	// Monitors and Links placed across nodes; Fired counts those that
	// fired, by reason; Calls the calls in progress when a connection
	// was lost (each must fail with noconnection).
	Monitors, Links, Calls int
	Fired                  map[string]int
	// DeadReasons counts the dead letters here by reason.
	DeadReasons map[string]int
	// Checks are the invariants: the cross-node ones, then one per node
	// for its own run.
	Checks []chaos.Check

	violations map[string]int // by check: how many times it failed
	firsts     map[string]string
}

// FaultRecord is one fault across nodes: Lost is how long after it the
// run had seen the connection lost (every monitor and link fired, the
// call in progress failed), Back how long until the node was watched
// again (for NodeKill: started again, its new run under way).
type FaultRecord struct {
	Kind       Kind
	Node       string
	Lost, Back time.Duration
}

// NodeResult is one node's part of a run.
type NodeResult struct {
	Node string
	// Starts counts the runs started on the node: one, and one more for
	// each time it was killed and started again. Seed is the seed of the
	// last (each run's seed comes from the run's Seed, the node's name and
	// the start's number).
	Starts int
	Seed   uint64
	// Run is the result of the node's last run as it reported it; Err,
	// why there is none.
	Run *chaos.Result
	Err string
}

func newResult(seed uint64) *Result {
	return &Result{Seed: seed, Faults: map[Kind]int{}, Fired: map[string]int{}, DeadReasons: map[string]int{},
		violations: map[string]int{}, firsts: map[string]string{}}
}

// OK reports whether every invariant held.
func (r *Result) OK() bool { return r.Err() == nil }

// Err returns an error naming the invariants that failed, with the seed
// that reproduces the schedule, or nil.
func (r *Result) Err() error {
	var failed []string
	for _, c := range r.Checks {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Detail)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("clusterchaos: seed %d: %s", r.Seed, strings.Join(failed, "; "))
}

// TotalFaults is the number of faults injected across nodes.
func (r *Result) TotalFaults() int {
	n := 0
	for _, c := range r.Faults {
		n += c
	}
	return n
}

// violate records a failed invariant seen during the run: the first case
// is kept; every one counts.
func (r *Result) violate(name, format string, args ...any) {
	r.violations[name]++
	if _, ok := r.firsts[name]; !ok {
		r.firsts[name] = fmt.Sprintf(format, args...)
	}
}

// check records an invariant's verdict: it fails if ok is false or if a
// violation of it was recorded during the run.
func (r *Result) check(name string, ok bool, detail string) {
	if n := r.violations[name]; n > 0 {
		ok = false
		detail = fmt.Sprintf("%s (%d times; first: %s)", detail, n, r.firsts[name])
	}
	r.Checks = append(r.Checks, chaos.Check{Name: name, OK: ok, Detail: detail})
}

// String is the run's summary: seed, faults, each node's own run,
// messages across nodes, monitors, invariants.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster chaos run: seed %d, %d faults across nodes in %v\n", r.Seed, r.TotalFaults(), r.Elapsed.Round(time.Millisecond))
	b.WriteString("  faults:")
	for _, k := range Kinds {
		if n := r.Faults[k]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	b.WriteString("\n  in order (connection seen lost / node back):")
	for _, f := range r.Timeline {
		fmt.Fprintf(&b, " %s %s %v/%v;", f.Kind, f.Node, f.Lost.Round(time.Millisecond), f.Back.Round(time.Millisecond))
	}
	b.WriteString("\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "  node %s: %d runs, the last with seed %d", n.Node, n.Starts, n.Seed)
		switch {
		case n.Err != "":
			fmt.Fprintf(&b, ": %s", n.Err)
		case n.Run != nil:
			verdict := "every invariant held"
			if err := n.Run.Err(); err != nil {
				verdict = "FAILED"
			}
			fmt.Fprintf(&b, ": %d faults, %d messages of its own sent, %s", n.Run.TotalFaults(), n.Run.Sent, verdict)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  messages across: sent %d (to incarnations killed later %d, of which %d accounted for nowhere), handled %d, dead letters here %d, there %d, refused at send %d, lost %d, duplicated %d, out of order %d\n",
		r.Sent, r.ToKilled, r.Unseen, r.Handled, r.DeadHere, r.DeadThere, r.Refused, r.Lost, r.Duplicated, r.OutOfOrder)
	writeCounts(&b, "  dead letters here by reason:", r.DeadReasons)
	fmt.Fprintf(&b, "\n  monitors %d, links %d, calls in progress %d; fired", r.Monitors, r.Links, r.Calls)
	writeCounts(&b, "", r.Fired)
	b.WriteString("\n")
	for _, c := range r.Checks {
		verdict := "ok  "
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s (%s)\n", verdict, c.Name, c.Detail)
	}
	if r.Err() != nil {
		fmt.Fprintf(&b, "  reproduce the schedule with Seed: %d\n", r.Seed)
	}
	return b.String()
}

func writeCounts(b *strings.Builder, title string, counts map[string]int) {
	b.WriteString(title)
	if len(counts) == 0 {
		b.WriteString(" none")
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(b, " %s=%d", k, counts[k])
	}
}
