// Package handoff hands a running service over to a new build of itself:
// the new executable takes the listening sockets, the supervision trees,
// every process's state and queued messages, and its pending SendAfter
// timers, over a private channel; if anything fails before the commit,
// the new process exits and the old one resumes every process with its
// original state, nothing lost.
//
// # Use
//
// Both builds run the same main, in a few lines:
//
//	sys := actor.NewSystem()
//	sys.Stage(accountV1)           // versions a state may come from
//	sys.Load(accountV2)            // this build's current version
//	node := handoff.New(sys, handoff.Options{Servers: []*http.Server{srv}, Check: ready})
//	if handoff.Inherited() {
//		if err := node.Receive(ctx); err != nil {
//			os.Exit(1) // the old process runs on
//		}
//	} else {
//		top, _ := supervisor.Start(sys, flags, specs)
//		node.SetTrees(top)
//	}
//	ln, _ := node.Listen("tcp", addr) // inherited, or new
//	go srv.Serve(ln)
//	... rep, err := node.Upgrade(ctx, "/srv/bin/service-new", checksum) // or SIGHUP
//	<-node.Done() // handed over and drained: exit
//
// # Sequence
//
// verify (the executable's SHA-256) → start (the new process, with the
// sockets as inherited descriptors and one end of a socketpair; it says
// hello) → prepare (here: every version in use declares a codec; there:
// every one has a route of declared steps to the new build's current
// version; otherwise refused, nothing suspended) → suspend (every process
// of the trees, all at once; or tree by tree with Options.Waves, suspend
// and transfer repeating per tree) → transfer (the trees as data, each state and
// queue in its version's codec) → rebuild (the new process starts the
// trees again with the same names and order, each state migrated along
// the lineage) → health (every process alive, then Options.Check) →
// commit (the new process answers: the point of no return; the old one
// names the new one the main process to the service manager, sd_notify
// MAINPID on NOTIFY_SOCKET) → forward
// (timers, then what reached the old processes meanwhile; each name gets
// a forwarder in the old process) → drain (the old HTTP servers finish
// their requests) → Done. Every step is an Event on the system's bus and
// a log line; a failure is a *StepError naming the step.
//
// Frames on the channel are a 4-byte length and a JSON envelope. PIDs
// change, as after any restart; names are the stable addresses.
//
// # One process to watch
//
// Run (the `graft run` command) starts the service and stays its parent
// across handoffs, following each new build, for a container runtime or a
// service manager that watches one process.
package handoff
