package upgrade

import (
	"time"

	"github.com/graftrt/graft/actor"
)

// Outcome is how an upgrade ended.
type Outcome uint8

const (
	// Committed: every process that took part runs the new version.
	Committed Outcome = iota
	// RolledBack: a failure before the commit; every process that took
	// part runs its original version with its original state, and no
	// current version changed.
	RolledBack
	// Simulated: dry run; nothing changed.
	Simulated
	// Converged: lazy; every process has migrated.
	Converged
	// Unconverged: lazy; the timeout passed with processes still on the
	// outgoing version (they migrate at their next message).
	Unconverged
	// Refused: the plan was refused before anything was touched.
	Refused
)

var outcomeNames = [...]string{"committed", "rolled_back", "simulated", "converged", "unconverged", "refused"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(?)"
}

// Result is where one process ended.
type Result uint8

const (
	// NotReached: no step reached it (the plan stopped before); it runs
	// From, untouched.
	NotReached Result = iota
	// Migrated: it runs To, the plan's version, with its state migrated
	// once along the route.
	Migrated
	// Unchanged: it ran the plan's version already.
	Unchanged
	// Restored: it was prepared, and the rollback returned it to From with
	// its original state; or it ran a finished wave of a rolling upgrade,
	// and the rollback migrated its state back to From along the lineage.
	Restored
	// Failed: its own step failed (Err): a migration, or the rollback of a
	// finished wave under KeepOnRollbackFailure (then To says where it
	// stayed).
	Failed
	// NoAnswer: it did not answer the suspend within the timeout; it never
	// runs this plan's migration; the plan rolled back.
	NoAnswer
	// Skipped: it did not answer in time and was left out
	// (SkipOnTimeout); it runs From and migrates at its next message.
	Skipped
	// Exited: it exited during the upgrade (Err is an *actor.ExitError);
	// To is the version it ran. Its supervisor restarts it as usual.
	Exited
	// Killed: the plan's policy killed it (Err says why).
	Killed
	// Pending: lazy; it had not migrated when the plan ended.
	Pending
	// WouldMigrate: dry run; its migration succeeds.
	WouldMigrate
)

var resultNames = [...]string{"not_reached", "migrated", "unchanged", "restored", "failed", "no_answer",
	"skipped", "exited", "killed", "pending", "would_migrate"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(?)"
}

// ProcessResult is one process's part in an upgrade, as it happened.
type ProcessResult struct {
	PID    actor.PID
	Module string
	// From is the version it ran when the plan found it; To the version
	// it runs at the end (or ran when it exited); Target the plan's
	// version for its module.
	From, To, Target string
	Result           Result
	Err              error
	// Pause is how long the process was suspended, as it saw it.
	Pause time.Duration
	// Late marks a process that joined the tree while a rolling upgrade
	// observed a wave (restarted by its supervisor) and took part in the
	// last wave.
	Late bool
}

// Report is what an upgrade did: the schedule, per process where it
// ended, totals, and the events in order.
type Report struct {
	Mode     Mode
	DryRun   bool
	Outcome  Outcome
	Schedule *Schedule // nil if the plan was refused
	// Processes follows Schedule.Procs (then processes that joined late).
	Processes []ProcessResult
	Elapsed   time.Duration
	MaxPause  time.Duration
	Events    []Event
}

// Failed returns the results of processes whose own step failed or did
// not answer (not those that exited).
func (r *Report) Failed() []ProcessResult {
	var out []ProcessResult
	for _, p := range r.Processes {
		if p.Result == Failed || p.Result == NoAnswer {
			out = append(out, p)
		}
	}
	return out
}

// Count returns how many processes ended with result res.
func (r *Report) Count(res Result) int {
	n := 0
	for _, p := range r.Processes {
		if p.Result == res {
			n++
		}
	}
	return n
}
