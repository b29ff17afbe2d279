package upgrade

import (
	"time"

	"github.com/graftrt/graft/actor"
)

// Event is one step of an upgrade, as it happened. Each is also a zap log
// line (per-process events at debug level, the others at info or above)
// and is reported on the system's event bus (actor.System.Subscribe) and
// in Report.Events, in order. Every mode reports through the same runner,
// so the same things give the same events.
type Event interface{ isUpgradeEvent() }

type (
	// PlanAccepted: the plan was scheduled; Processes take part (those
	// already on their target not counted).
	PlanAccepted struct {
		Mode      Mode
		DryRun    bool
		Processes int
	}
	// PlanRefused: the plan was refused before anything was touched.
	PlanRefused struct{ Reason error }
	// PlanPrepared: the new versions are staged (known, not current).
	PlanPrepared struct{}
	// ProcessSuspended: a process stopped taking user messages.
	ProcessSuspended struct {
		PID    actor.PID
		Module string
	}
	// ProcessMigrated: a process's state was migrated, result pending
	// until the commit.
	ProcessMigrated struct {
		PID              actor.PID
		Module, From, To string
	}
	// ProcessFailed: a process's migration failed, or it did not answer
	// in time; the plan rolls back (or skips it, by policy).
	ProcessFailed struct {
		PID    actor.PID
		Module string
		Err    error
	}
	// ProcessSkipped: a process that did not answer in time was left out
	// (SkipOnTimeout); it never runs this plan's migration, and picks up
	// the new version at its next message after the commit.
	ProcessSkipped struct {
		PID    actor.PID
		Module string
	}
	// UpgradeCommitted: the new versions are current (the point of no
	// return).
	UpgradeCommitted struct{}
	// UpgradeRolledBack: a failure before the commit; every process that
	// took part is back on its original version.
	UpgradeRolledBack struct{ Reason error }
	// ProcessResumed: a process takes user messages again, on Version.
	ProcessResumed struct {
		PID             actor.PID
		Module, Version string
	}
	// ProcessKilled: a process was killed by the plan's policy (a
	// straggler under KillStragglers, a failed rollback under
	// KillOnRollbackFailure).
	ProcessKilled struct {
		PID    actor.PID
		Module string
		Reason error
	}
	// UpgradeAwaiting: lazy mode: the commit is done and Pending processes
	// are left to migrate at their next message; the plan waits for them
	// until its timeout.
	UpgradeAwaiting struct{ Pending int }
	// UpgradeConverged: lazy mode: every affected process has migrated.
	UpgradeConverged struct{}
	// UpgradeSimulated: a dry run finished; Failures migrations would
	// fail.
	UpgradeSimulated struct{ Failures int }
	// WaveCommitted: a rolling upgrade's wave runs the new version;
	// Processes is the count so far.
	WaveCommitted struct {
		Index, Processes int
	}
	// UpgradeFinished: the plan ended (the last event of every plan, on
	// the bus only: Report says the same). Metrics count upgrades by it.
	UpgradeFinished struct {
		Mode              Mode
		DryRun            bool
		Outcome           Outcome
		Elapsed, MaxPause time.Duration
		Processes         int
	}
	// GateFailed: the health check after a wave failed; the finished waves
	// are rolled back (UpgradeRolledBack follows).
	GateFailed struct {
		Index  int
		Reason error
	}
)

func (PlanAccepted) isUpgradeEvent()      {}
func (PlanRefused) isUpgradeEvent()       {}
func (PlanPrepared) isUpgradeEvent()      {}
func (ProcessSuspended) isUpgradeEvent()  {}
func (ProcessMigrated) isUpgradeEvent()   {}
func (ProcessFailed) isUpgradeEvent()     {}
func (ProcessSkipped) isUpgradeEvent()    {}
func (UpgradeCommitted) isUpgradeEvent()  {}
func (UpgradeRolledBack) isUpgradeEvent() {}
func (ProcessResumed) isUpgradeEvent()    {}
func (ProcessKilled) isUpgradeEvent()     {}
func (UpgradeAwaiting) isUpgradeEvent()   {}
func (UpgradeConverged) isUpgradeEvent()  {}
func (UpgradeSimulated) isUpgradeEvent()  {}
func (WaveCommitted) isUpgradeEvent()     {}
func (GateFailed) isUpgradeEvent()        {}
func (UpgradeFinished) isUpgradeEvent()   {}
