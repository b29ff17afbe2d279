// Package clusterchaos runs the chaos toolkit (package chaos) across the
// nodes of a cluster: every node runs its own chaos run on its tree, with
// its own faults and invariants, while a coordinator sends load by name
// to the nodes' workers, kills whole nodes and starts them again, closes
// connections from either end, and checks the invariants that span
// nodes. Users run it against their own services, as they run package
// chaos against one node.
//
// On every node under test:
//
//	node, err := cluster.Join(sys, cluster.Options{Name: "b@host2", Cookie: cookie})
//	_, err = clusterchaos.Serve(node, root, chaos.Config{Module: "orders", Versions: ...})
//
// The workers of the modules under test that are registered by name take
// the coordinator's load as well as the node's own. Then, on the
// coordinator (a node of its own, which runs no chaos):
//
//	res, err := clusterchaos.Run(ctx, node, clusterchaos.Config{
//		Nodes: []string{"b@host2", "c@host3", "d@host4"}, Control: nodes, Faults: 20,
//	})
//	if err != nil { ... }                   // the run could not start or go on
//	if err := res.Err(); err != nil { ... } // an invariant failed; the error has the seed
//
// # What Run does
//
// It starts each node's own run through the node's agent (AgentName): a
// chaos.Run on the node's tree, seeded from Config.Seed, the node's name
// and the number of the start, which goes on until the coordinator ends
// it. The agent answers once the run watches every message the node's
// processes consume (chaos.Config.OnHandled), and from then on accounts
// for the coordinator's messages the node handles or reports as dead
// letters. The coordinator monitors each node's agent and links to it,
// and monitors the node's workers.
//
// The load: Config.Senders goroutines send fault.Msg (with the
// coordinator as its Origin, a sender, a target and a sequence number) by
// name to every named worker of every node, Config.Rate per second in
// all, whatever the faults, so that messages meet nodes that are gone,
// connections that break and workers the nodes' own faults kill.
//
// The faults across nodes, one every Config.Interval, drawn from the
// seed: NodeKill (Control.Kill, a SIGKILL for an OS process, then
// Control.Start and a new run on the new incarnation), Disconnect (the
// coordinator closes its connection to the node) and FarDisconnect (the
// node closes its connection to the coordinator). Before each, the run
// monitors the node's live workers again and makes a call to its agent
// that the agent never answers (a call in progress); after it, Run waits
// until every monitor and link to the node has fired and the call has
// failed, then watches the node again.
//
// At the end the load stops; Run asks the nodes for their records until
// every message sent to a node's last incarnation is accounted for (or
// Config.Settle passes), ends every node's run (each settles and checks
// its invariants, and answers with its chaos.Result), and checks:
//
//   - every message sent to a node's last incarnation was handled there
//     once, or reported once: a dead letter on the coordinator (sent on a
//     connection lost before the node took it), a dead letter on the node
//     (no process by that name, a full mailbox, a process that exited
//     with it queued), or refused at send; none lost, none duplicated. A
//     node that is killed takes its records with it, as a process takes
//     its mailbox: what an earlier incarnation acknowledged and did not
//     handle is counted nowhere. The run asks a node for its records
//     right before it kills it, and checks the messages sent to a killed
//     incarnation against them for being counted twice (taken there and
//     reported here, say); Result.Unseen counts those accounted for
//     nowhere;
//   - per sender, each receiving process handled the messages in the
//     order sent (order is a promise per process: a restarted worker is
//     another one);
//   - every monitor and link across a lost connection fired, once; those
//     of the agent, which exits only with its node, with noconnection;
//   - every call in progress across a lost connection failed with
//     noconnection, and none hung;
//   - each node's own run held every invariant of package chaos (the
//     last run of a node killed during the run).
//
// Result.String is the summary: seed, faults in order with how long the
// connection took to be seen lost and the node to be back, each node's
// run, the message counts, the monitors by reason, every invariant's
// verdict. The same seed gives the same schedules (across nodes and on
// each node); interleavings still vary.
//
// # Lifecycle
//
// Run returns once every node's run has ended and the checks are done;
// on an error it ends the nodes' runs still under way. The coordinator's
// watcher process, its load and its calls end before Run returns. A
// node's agent ends its run, if one is under way, when it exits (its
// System shuts down). Calls into Control are user code, made on Run's
// goroutine.
package clusterchaos
