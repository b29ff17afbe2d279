// Package upgrade plans and executes hot code upgrades over a set of
// processes: the engine behind supervisor.Handle.Upgrade.
//
// A Plan names module version changes (where each module goes; up or down
// follows from the lineage the versions declare, see actor.Lineage),
// Extra data for the migrations, a mode (Atomic, Lazy, Rolling), DryRun,
// a timeout and policies (stragglers, late answers, rollback failures).
// Plan.Check checks one without a system; Plan.Validate against a system.
//
// Execute carries a plan out as one transaction over a Tree (a supervision
// subtree, or Processes):
//
//	lock the plan's modules → hold the tree → snapshot → schedule (pure;
//	a refusal touches nothing) → run the steps → release the tree.
//
// NewSchedule is the planning, a pure function of the plan and a snapshot:
// every process of the plan's modules with its route, and the ordered steps
// (stage, prepare, commit, switch, pin, gate, await), each with its undo.
// Atomic, lazy, rolling, dry run and downgrade are different schedules of
// the same steps, run by one runner: a failure before the commit undoes
// every step begun, in reverse (every process back on its original version
// and state, no current version changed); after the commit nothing is
// undone. Processes on another version than the current one (stragglers)
// take part in the transaction, or refuse it, or are killed, by policy.
//
// The Report says where each process ended (From, To, Result, Err, Pause),
// with the plan's outcome and steps; each step is a zap log line and an
// Event on the system's bus. Timeouts run on the system clock. Nothing here
// panics on bad input, and a panic in user code (a migration, a gate) is a
// failed step. docs/upgrades.md walks through all of it.
package upgrade
