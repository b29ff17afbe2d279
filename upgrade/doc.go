// Package upgrade plans and executes hot code upgrades over a set of
// processes: the engine behind supervisor.Handle.Upgrade.
//
// A Plan names module version changes (up or down, decided by load order),
// Extra data for the migrations, a mode and a timeout. Plan.Validate checks
// a plan against a system without changing anything: unknown modules,
// versions of another module, a version already current, a module changed
// twice, a downgrade from a version without a Downgrade migration. Planning
// is pure; Execute carries a validated plan out:
//
//   - Atomic: stage the new versions (loaded, not current); suspend the
//     processes that hold the tree still (supervisors); suspend and migrate
//     every affected process, level by level top-down and in parallel
//     within a level, keeping each result pending; if all succeeded, make
//     the versions current (the point of no return) and switch and resume
//     every process bottom-up; if any migration failed, panicked or timed
//     out, drop every pending result and resume: every process keeps its
//     original state and version.
//   - Lazy: make the versions current at once; each process migrates on
//     its next message (the runtime's per-message pickup); the report
//     follows convergence until the timeout.
//   - DryRun: run every migration on the live states, keep nothing.
//
// Every step is a zap log line and an Event on the system's event bus, and
// the Report lists per process its PID, versions, pause and result.
// Timeouts run on the system clock. Nothing here panics on bad input.
package upgrade
