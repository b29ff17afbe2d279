// Package chaos tests a running Graft service the way production will:
// under load, with faults and upgrade plans injected from a seeded
// schedule. It checks every plan against its report and the system as the
// plan ends, and at the end that nothing was lost, duplicated or
// reordered, that the system converged, and that nothing leaked. Users run
// it against their own services from a Go test; the project's own suite
// (test/, make chaos) runs it against Graft.
//
//	res, err := chaos.Run(ctx, sys, root, chaos.Config{
//		Module: "visits", Versions: []*actor.Version{v1, v2}, Faults: 5000, Out: os.Stdout,
//	})
//	if err != nil { t.Fatal(err) }          // the run could not start
//	if err := res.Err(); err != nil { t.Fatal(err) } // an invariant failed; the error has the seed
//
// # What Run does
//
// The load: Config.Senders goroutines send fault.Msg to the workers of the
// modules under test (Config.Module and Config.Modules) in root's tree,
// Config.Rate per second in all, each tagged with its sender, target and a
// sequence number. The runtime's OnHandled observer and the DeadLetter
// events account for each one. A share of the workers (Config.Idle, drawn
// again every Config.IdleFor faults) gets no load and no fault message:
// a lazy upgrade leaves them on their version, so later plans meet them as
// stragglers.
//
// The faults, one every Config.Interval, drawn from a schedule made by
// Config.Seed (kinds by Config.Weights, targets, modules, versions, modes
// and policies): kill or panic a worker, kill a supervisor below the
// root, slow handlers behind calls with short deadlines, plugin processes
// SIGKILLed or hung past their call deadline, bursts that overflow bounded
// mailboxes, and upgrade plans. A plan changes one, several or all of the
// modules at once, each to another of its versions (up, down, or across
// the lineage), in any mode (atomic, lazy, rolling with two or three
// waves, or a dry run of one), with a straggler policy at random
// (migrate, refuse, kill), now and then SkipOnTimeout (sometimes with a
// worker kept busy past the timeout), and, when rolling, either
// OnRollbackFailure. Plans told to fail: migrations that fail, panic or
// outlast the timeout; Downgrades that fail or panic, in downgrades and in
// rolling upgrades whose gate then fails, so that rolling the finished
// waves back fails; gate checks that fail or panic at a wave of the
// schedule's choosing; two plans at once, on the root or on two
// supervisors below it. A plan runs in the background while the other
// faults go on; the next plan waits for it. Before each plan Run stages
// the versions of its modules that the system no longer knows, so that
// routes through them exist. Panics, slowness and failing migrations need
// the code under test to cooperate: handlers call fault.Act on every
// fault.Msg, migrations call fault.ActCodeChange (in CodeChange) and
// fault.ActDowngrade (in Downgrade) on their extra (package fault has no
// dependencies, so plugin versions can too).
//
// As each plan (or pair) ends, Run checks it against its report and the
// system:
//
//   - the current versions that changed while it ran are exactly the
//     targets of the plans that committed (Committed, Converged or
//     Unconverged), and the last of them is current: a plan that rolled
//     back, was refused or was a dry run changed none; its schedule
//     started from the versions current before it; it left no supervisor
//     of the tree suspended (Run resumes one it left, to go on);
//   - the outcome fits the mode (a dry run simulates, a lazy plan
//     converges or not), and every process's result is one the mode,
//     outcome and policies allow: migrated only in a plan that committed,
//     restored only in one that rolled back, skipped only under
//     SkipOnTimeout, killed only as a straggler under KillStragglers or by
//     a rollback under KillOnRollbackFailure, left on the new version only
//     under KeepOnRollbackFailure, no straggler taken in under
//     RefuseStragglers;
//   - every process still alive runs what its result says: the target if
//     it migrated, or ran the target already in a plan that committed;
//     the target, pinned, if a failed rollback kept it there; otherwise
//     the version it ran, or the current one (picked up since);
//   - a failing gate that was reached rolled the plan back; no process
//     migrated through a migration told to fail, and none of a finished
//     wave came back through a Downgrade told to fail.
//
// At the end the load stops, and Run lets the system come to rest (up to
// Config.Settle): workers a failed rollback kept on a new version are
// killed (their supervisors restart them on the current one), every worker
// gets a message (so stragglers migrate) and Run waits until each message
// sent was handled or reported, in rounds until every worker runs its
// module's current version. Then it checks:
//
//   - every message was handled exactly once or reported as a dead letter
//     with a reason (a send the runtime refused counts as reported to its
//     sender); none lost, none duplicated;
//   - per sender, each receiver handled messages in the order sent;
//   - every worker runs its module's current version, and a worker pinned
//     ahead of it is one a report said a rollback kept;
//   - no supervisor restarted more children within its period than its
//     intensity allows (restarts are watched through supervisor events);
//   - the host is alive, and panics became exit reasons;
//   - every plugin process runs a version that is current or in use (a
//     retired version's process stops);
//   - with Config.Shutdown: after System.Shutdown no goroutine (goleak) and
//     no plugin process (by OS PID) is left.
//
// # Plugin versions
//
// This package does not import the plugin host (package upgrade/plugin,
// a module of its own, which brings gRPC): it finds plugin processes
// through upgrade.LoaderProcesses, where every plugin.Loader lists the
// processes it runs for a system, and follows the
// upgrade.LoaderProcessStarted events for the OS PIDs the leak check
// covers. A system with plugin versions needs nothing more in Config; one
// without gets no PluginKill or PluginHang fault (they find no process)
// and passes the plugin checks trivially. A loader of another kind that
// runs versions in OS processes takes part by registering them
// (upgrade.RegisterLoaderProcesses) and reporting the same events.
//
// # Ending a run, and watching with it
//
// A run ends after Config.Faults faults, after Config.Duration, or when
// Config.Stop is closed, whichever comes first; each ends the schedule
// the same way (the load stops, the system settles, the invariants are
// checked), where cancelling Run's context cuts the settling short. Run
// holds the system's OnHandled observer; a caller that must watch the
// same messages passes Config.OnHandled, which Run calls with each of
// them. A fault.Msg with an Origin came from another node: the run that
// sent it accounts for it, not this one (package cluster/clusterchaos
// runs the toolkit across the nodes of a cluster this way).
//
// Result.String is the summary: seed, faults by kind, plans by mode and
// outcome, by policy and by the number of modules they change, the plans
// that met stragglers, per-process results, failed rollbacks of finished
// waves, message counts, each invariant's verdict (a violated one with
// its first case and how many there were). A failing seed gives the same
// schedule again; goroutine interleavings still vary, so a failure caused
// by a rare interleaving may need a few runs, or a longer one, to show
// again.
package chaos
