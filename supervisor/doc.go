// Package supervisor implements OTP supervisors on Graft processes.
//
// A supervisor is an ordinary process running module "graft.supervisor"
// through the same receive loop as every other process. It traps exits,
// starts its children linked to itself in order, and decides on each
// child's exit by the child's restart type (permanent, transient,
// temporary) and its own strategy (one_for_one, one_for_all, rest_for_one,
// simple_one_for_one), counting restarts against its intensity and period.
// Child specs are plain data (ChildSpec) with OTP's defaults, validated at
// the boundary: an invalid spec returns a *SpecError naming the child and
// the field, and starts nothing.
//
// # Lifecycle
//
// Start validates, loads the supervisor module and spawns the supervisor;
// its Init starts the children left to right and fails as a whole (stopping
// those already started, in reverse) if one cannot start. A child whose
// Init returns actor.Ignore is not started and not a failure: it is kept,
// not running (OTP's ignore). Restarts always start the module's current
// version. A restart that fails is re-queued to the supervisor itself and
// retried, each attempt counting against the intensity, so requests and
// exits queued meanwhile are served; until then the child is restarting
// (OTP's {restarting, Pid}), and TerminateChild cancels the retry. When more
// than Intensity restarts happen within Period, the supervisor shuts its
// children down in reverse start order and exits with reason shutdown,
// which its own supervisor sees as a child exit (escalation).
//
// Two extensions keep what a crash would lose. A child spec with Handoff
// passes the messages its process left queued to the replacement. One
// with KeepName (and Handoff, and a registered name) keeps the name bound
// through the restart: sends by name in the gap queue for the
// replacement, which handles the handed-over messages, then those, then
// new ones; a child that is not restarted frees the name and its queue is
// reported as dead letters. OTP's semantics (each crash reports its queue,
// its name is free until the restart) stay the default.
//
// A supervisor stops (Stop, its parent's shutdown, System.Shutdown, the
// intensity limit, auto_shutdown) by shutting its children down in reverse
// start order, each by its Shutdown spec: an exit signal shutdown then kill
// after the timeout, kill at once (brutal_kill), or a wait without limit
// (infinity). It waits for each child's exit through actor.System.Watch on
// the system clock, so a fake clock drives shutdown timeouts in tests.
// Go cannot stop a goroutine from outside: a kill takes effect when the
// child's current handler (or Terminate) returns.
//
// # Runtime API and observability
//
// Handle wraps a running supervisor: StartChild, StartSimpleChild (with
// an instance's own SpawnOptions), TerminateChild, RestartChild,
// DeleteChild, ChildSpec (get_childspec), WhichChildren (with each child's
// PID, module and version) and CountChildren, each a call served between
// the supervisor's other messages; the StartInfo option returns what a
// child's Init handed back ({ok, Pid, Info}). UpgradeSpecs replaces the
// child specs: by default it applies the difference (stops, restarts,
// starts) and undoes all of it if a start fails; with SpecsOnly it only
// replaces the specs, as OTP's supervisor code change does; WithFlags
// replaces the flags too. Every start, exit,
// shutdown and intensity escalation is a zap log line and an event
// (ChildStarted, ChildExited, ChildShutdown, MaxIntensityReached) on the
// system's event bus (actor.System.Subscribe).
//
// Nothing in this package panics on bad input.
package supervisor
