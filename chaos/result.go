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
	// Faults injected, by kind; Upgrades by "mode outcome".
	Faults   map[Kind]int
	Upgrades map[string]int
	// UpgradeErrors holds the first few errors of upgrades that had no
	// migration fault injected (other than ErrInProgress), for the record:
	// such an upgrade may still roll back, because of a concurrent fault.
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

// violate records a failed invariant seen during the run (the first only).
func (r *Result) violate(name, format string, args ...any) {
	if !r.has(name) {
		r.add(name, false, fmt.Sprintf(format, args...))
	}
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
	fmt.Fprintf(&b, "\n  upgrades:")
	for _, k := range slices.Sorted(maps.Keys(r.Upgrades)) {
		fmt.Fprintf(&b, " %s=%d", strings.ReplaceAll(k, " ", ":"), r.Upgrades[k])
	}
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
