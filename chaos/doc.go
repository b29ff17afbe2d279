// Package chaos tests a running Graft service the way production will:
// under load, with faults injected from a seeded schedule, and checks at the
// end that nothing was lost, duplicated or reordered, that the system
// converged, and that nothing leaked. Users run it against their own
// services from a Go test; the project's own suite (test/, make chaos)
// runs it against Graft.
//
//	res, err := chaos.Run(ctx, sys, root, chaos.Config{
//		Module: "visits", Versions: []*actor.Version{v1, v2}, Faults: 5000, Out: os.Stdout,
//	})
//	if err != nil { t.Fatal(err) }          // the run could not start
//	if err := res.Err(); err != nil { t.Fatal(err) } // an invariant failed; the error has the seed
//
// # What Run does
//
// The load: Config.Senders goroutines send fault.Msg to every worker of
// Config.Module in root's tree, Config.Rate per second in all, each tagged
// with its sender, target and a sequence number. The runtime's OnHandled
// observer and the DeadLetter events account for each one.
//
// The faults, one every Config.Interval, drawn from a schedule made by
// Config.Seed (kinds by Config.Weights, targets, upgrade modes and
// versions): kill or panic a worker, kill a supervisor below the root, slow
// handlers behind calls with short deadlines, upgrades and downgrades in
// every mode (atomic, lazy, rolling, dry run) between Config.Versions,
// migrations that fail, panic or outlast the plan's timeout, overlapping
// upgrade requests, plugin processes SIGKILLed or hung past their call
// deadline, bursts that overflow bounded mailboxes. Panics, slowness and
// failing migrations need the code under test to cooperate: handlers call
// fault.Act on every fault.Msg, migrations call fault.ActMigration on
// their extra (package fault has no dependencies, so plugin versions can
// too).
//
// At the end the load stops, and Run lets the system come to rest (up to
// Config.Settle): every worker gets a message (so lazy stragglers migrate)
// and Run waits until each message sent was handled or reported, in
// rounds until every worker runs the current version. Then it checks:
//
//   - every message was handled exactly once or reported as a dead letter
//     with a reason (a send the runtime refused counts as reported to its
//     sender); none lost, none duplicated;
//   - per sender, each receiver handled messages in the order sent;
//   - every worker runs the module's current version;
//   - no supervisor restarted more children within its period than its
//     intensity allows (restarts are watched through supervisor events);
//   - migrations told to fail never committed;
//   - the host is alive, and panics became exit reasons;
//   - with Config.Shutdown: after System.Shutdown no goroutine (goleak) and
//     no plugin process (by OS PID) is left.
//
// Result.String is the summary: seed, faults by kind, upgrades by mode and
// outcome, message counts, each invariant's verdict. A failing seed gives
// the same schedule again; goroutine interleavings still vary, so a
// failure caused by a rare interleaving may need a few runs, or a longer
// one, to show again.
package chaos
