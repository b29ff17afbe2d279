package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is what a run did and found.
type Result struct {
	Seed    uint64
	Elapsed time.Duration
	// Faults injected, by kind; Upgrades counts the plans by "mode
	// outcome" (mode "dry_run" for dry runs of any mode; outcome
	// "refused_in_progress" for ErrInProgress, "invalid" for
	// ErrInvalidPlan).
	Faults   map[Kind]int
	Upgrades map[string]int
	// Policies counts the plans by policy and settings:
	// "stragglers:migrate|refuse|kill", "on_timeout:roll_back|skip",
	// "on_rollback_failure:kill|keep" and "gate:pass|error|panic" (rolling
	// plans), "modules:N" (how many modules a plan changes), "tree:subtree"
	// (plans on a supervisor below the root).
	Policies map[string]int
	// Stragglers counts, by straggler policy, the plans that met workers
	// running an older version than their module's current one (a refusal
	// for stragglers included).
	Stragglers map[string]int
	// ProcessResults counts the per-process results of every plan's
	// report, by result ("migrated", "restored", "killed", ...);
	// RollbackFailures the workers of finished rolling waves whose way
	// back failed, by what the policy did ("killed", "kept"); KeptKilled
	// the kept ones Run killed at the end (see Run's settling).
	ProcessResults   map[string]int
	RollbackFailures map[string]int
	KeptKilled       int
	// UpgradeErrors holds the first few errors of plans that had no fault
	// injected (other than ErrInProgress, and refusals for stragglers under
	// RefuseStragglers), for the record: such a plan may still roll back,
	// because of a concurrent fault.
	UpgradeErrors []string
	// Tagged messages: Sent (Send returned nil) = Handled + DeadLetters +
	// Lost; Refused were refused at Send (the sender was told).
	// Duplicated counts messages handled or reported more than once.
	Sent, Refused, Handled, DeadLetters, Lost, Duplicated int64
	// OutOfOrder counts messages handled after a later one of the same
	// sender to the same receiver.
	OutOfOrder int64
	// Timeouts counts probe calls that met their deadline behind a slow
	// handler; Restarts the children restarted; Panics the panics that
	// became exit reasons.
	Timeouts int64
	Restarts int
	Panics   int
	// Checks are the invariants, in a fixed order.
	Checks []Check

	violations map[string]int // by check: how many times it failed
}

func newResult(seed uint64) *Result {
	return &Result{Seed: seed, Faults: map[Kind]int{}, Upgrades: map[string]int{}, Policies: map[string]int{},
		Stragglers: map[string]int{}, ProcessResults: map[string]int{}, RollbackFailures: map[string]int{},
		violations: map[string]int{}}
}

// Check is one invariant's verdict.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// TotalFaults is the number of faults injected.
func (r *Result) TotalFaults() int {
	n := 0
	for _, c := range r.Faults {
		n += c
	}
	return n
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
	return fmt.Errorf("chaos: seed %d: %s", r.Seed, strings.Join(failed, "; "))
}

func (r *Result) add(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

func (r *Result) has(name string) bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Name == name })
}

// violate records a failed invariant seen during the run: the detail of
// the first violation; every one counts.
func (r *Result) violate(name, format string, args ...any) {
	r.violations[name]++
	if !r.has(name) {
		r.add(name, false, fmt.Sprintf(format, args...))
	}
}

// pass records an invariant that held unless a violation was recorded;
// a violated one gets its count.
func (r *Result) pass(name, detail string) {
	if !r.has(name) {
		r.add(name, true, detail)
		return
	}
	if n := r.violations[name]; n > 1 {
		for i := range r.Checks {
			if r.Checks[i].Name == name {
				r.Checks[i].Detail += fmt.Sprintf(" (first of %d)", n)
			}
		}
	}
}

// order puts the checks in the fixed order of checkNames.
func (r *Result) order() {
	slices.SortStableFunc(r.Checks, func(a, b Check) int {
		return slices.Index(checkNames, a.Name) - slices.Index(checkNames, b.Name)
	})
}

// String is the run's summary: seed, faults by kind, messages, invariants.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run: seed %d, %d faults in %v\n", r.Seed, r.TotalFaults(), r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "  faults:")
	for _, k := range Kinds {
		if n := r.Faults[k]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	writeCounts(&b, "\n  plans by mode and outcome:", r.Upgrades)
	writeCounts(&b, "\n  plans by policy:", r.Policies)
	writeCounts(&b, "\n  plans that met stragglers, by policy:", r.Stragglers)
	writeCounts(&b, "\n  processes in plans, by result:", r.ProcessResults)
	writeCounts(&b, "\n  rollbacks of finished waves that failed:", r.RollbackFailures)
	for _, e := range r.UpgradeErrors {
		fmt.Fprintf(&b, "\n    e.g. %s", e)
	}
	fmt.Fprintf(&b, "\n  messages: sent %d, handled %d, dead-lettered %d, refused at send %d, lost %d, duplicated %d, out of order %d\n",
		r.Sent, r.Handled, r.DeadLetters, r.Refused, r.Lost, r.Duplicated, r.OutOfOrder)
	fmt.Fprintf(&b, "  restarts %d, panics as exit reasons %d, calls past their deadline %d\n", r.Restarts, r.Panics, r.Timeouts)
	for _, c := range r.Checks {
		verdict := "ok  "
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s (%s)\n", verdict, c.Name, c.Detail)
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(&b, "  reproduce the schedule with Seed: %d\n", r.Seed)
	}
	return b.String()
}

// writeCounts writes a title and the counts by key, in key order (spaces
// in keys become colons); "none" if there are none.
func writeCounts(b *strings.Builder, title string, counts map[string]int) {
	b.WriteString(title)
	if len(counts) == 0 {
		b.WriteString(" none")
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(b, " %s=%d", strings.ReplaceAll(k, " ", ":"), counts[k])
	}
}
