package upgrade

import "github.com/graftrt/graft/actor"

// Event is one step of an upgrade. Each is also a zap log line (or part of
// one) and is reported on the system's event bus (actor.System.Subscribe)
// and in Report.Events, in order.
type Event interface{ isUpgradeEvent() }

type (
	// PlanAccepted: the plan validated; Processes are affected.
	PlanAccepted struct {
		Mode      Mode
		Processes int
	}
	// PlanPrepared: the new versions are staged (loaded, not current).
	PlanPrepared struct{}
	// ProcessSuspended: a process stopped taking user messages.
	ProcessSuspended struct {
		PID    actor.PID
		Module string
	}
	// ProcessMigrated: a process's state was migrated, result pending.
	ProcessMigrated struct {
		PID              actor.PID
		Module, From, To string
	}
	// UpgradeCommitted: the new versions are current (the point of no
	// return).
	UpgradeCommitted struct{}
	// UpgradeRolledBack: a failure before the commit; every process keeps
	// its original state and version.
	UpgradeRolledBack struct{ Reason error }
	// ProcessResumed: a process takes user messages again.
	ProcessResumed struct {
		PID    actor.PID
		Module string
	}
	// UpgradeConverged: lazy mode: every affected process has migrated.
	UpgradeConverged struct{}
	// UpgradeSimulated: a dry run finished; Failures migrations would fail.
	UpgradeSimulated struct{ Failures int }
	// WaveCommitted: a rolling upgrade's wave runs the new version.
	WaveCommitted struct {
		Index, Processes int
	}
	// GateFailed: the health check after a wave failed; the finished waves
	// are rolled back.
	GateFailed struct {
		Index  int
		Reason error
	}
)

func (PlanAccepted) isUpgradeEvent()      {}
func (PlanPrepared) isUpgradeEvent()      {}
func (ProcessSuspended) isUpgradeEvent()  {}
func (ProcessMigrated) isUpgradeEvent()   {}
func (UpgradeCommitted) isUpgradeEvent()  {}
func (UpgradeRolledBack) isUpgradeEvent() {}
func (ProcessResumed) isUpgradeEvent()    {}
func (UpgradeConverged) isUpgradeEvent()  {}
func (UpgradeSimulated) isUpgradeEvent()  {}
func (WaveCommitted) isUpgradeEvent()     {}
func (GateFailed) isUpgradeEvent()        {}
