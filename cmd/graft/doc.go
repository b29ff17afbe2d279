// Command graft runs and operates Graft nodes.
//
//	graft run [flags]
//
// starts a node with a demo service on built-in defaults (nothing to install,
// no configuration file): module "counter" (package
// github.com/graftrt/graft/examples/counter) loaded at v1, a number of
// counter processes, and load generators that send them numbered messages
// without pause. Every swap interval the node loads the other version of
// "counter" (v2, then v1 again, …) while the load runs; each process
// migrates its state on its next message. After each swap the command prints
// which version each process runs, and at the end a summary: messages sent
// and handled, dead letters, messages out of order, and how many were lost.
// It exits with status 1 if any message was lost, dead-lettered or handled
// out of order.
//
// The run ends when its duration is up or on SIGINT or SIGTERM; either way
// it stops the load, collects the summary and shuts the node down. A second
// signal ends the process at once. The report goes to standard output, logs
// (zap, console encoding) to standard error.
//
// Flags of `graft run`, with their defaults:
//
//	--actors 8            counter processes
//	--senders 4           load-generator goroutines
//	--rate 2000           messages per second per sender (0: as fast as possible)
//	--swap-interval 1s    time between version swaps
//	--swaps 0             number of swaps (0: until the run ends)
//	--duration 10s        length of the run (0: until interrupted)
//	--log-level info      debug, info, warn or error
//
// The command is thin: the service's code is package counter, and the run
// loop (runDemo) takes an io.Writer and options so that tests drive it by
// message counts instead of the wall clock.
package main
