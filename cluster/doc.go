// Package cluster attaches a Graft actor.System to a node of Ergo's
// network stack (ergo.services/ergo): processes of different nodes send,
// call, link and monitor each other with the actor package's own API.
//
// It lives in a module of its own, so that the core module never requires
// Ergo; Ergo v3.2.0 is reachable through a replace directive (see
// go.mod), which a module using this one repeats.
//
// # Joining
//
// Join starts an Ergo node named "name@host" for a System, with a cookie,
// an acceptor and a registrar (Ergo's embedded one by default), and a
// bridge process through which the node's traffic goes. From then on the
// System accepts PIDs of other nodes: a PID's Node is a number this node
// gave the other node (Erlang's way), NodeOf names it. Whereis, SendNamed
// and CallNamed take a Name{Name, Node}; Spawn starts a process of a
// module loaded on another node; RemoteChild puts one under a local
// supervisor. ServeUpgrades and UpgradeCluster run an upgrade plan on
// several nodes in two phases: a dry run everywhere, then commits in
// waves, rolled back on failure. Info asks a node for its processes and
// modules (answered by that node's runtime, not by a process), Peers lists
// the nodes met; package clusteradmin serves both, and cluster upgrades,
// through a node's admin API. Package clusterchaos runs the chaos toolkit
// across nodes.
//
// # Messages
//
// A message crosses nodes encoded by the codec registered for its type
// (Register: Ergo's EDF; RegisterCodec: any other). A Send of a type that
// is not registered fails at the sender with ErrUnregistered; a message
// the far node cannot decode is a dead letter there. RegisterMessages
// declares types as the message shapes of a module's version: a message
// for a process of a module with declared shapes is checked, on the
// process's node, against the version the process runs and the versions
// it comes after in the lineage; one that version does not accept is a
// dead letter there with a *NotAcceptedError (a call gets the error). A
// PID inside a message is local to the node that wrote it: send names, or
// let the far node look the process up.
//
// # Guarantees
//
// Delivery across nodes is at most once, as in Erlang distribution:
// messages from one process to another arrive in the order sent (every
// message between two nodes travels on one ordered connection), or not at
// all once the connection breaks. Nothing is lost silently, and nothing
// is counted twice: a send the connection refuses fails at the sender; a
// message the far node takes and cannot deliver is a dead letter there,
// with the reason; a message the far node never took, on a connection
// that was lost, is a dead letter at the sender with reason
// actor.NoConnection (reported once the far node says, asked on a new
// connection, how far it took them, session by session, or once it has
// been out of reach for the tick time). When a connection is lost (the
// node died, the network failed, Disconnect, or it stayed silent for
// Options.NetTickTime), every link across it
// delivers an exit signal with reason noconnection, every monitor a Down
// with noconnection, and every call waiting for an answer fails with an
// *actor.ExitError whose Reason is noconnection. The next request to that
// node connects again; a node that restarted is a new incarnation, and
// PIDs of the old one are dead (noproc).
//
// # Lifecycle
//
// Node.Stop (also run by System.Shutdown) detaches the node from its
// System, ends what crossed to other nodes as a lost connection would,
// and stops the Ergo node; it can be called more than once. Every goroutine
// the package starts ends by then, but for a cluster upgrade's gate that
// has not returned by its deadline (left running, as the runtime leaves
// stuck hooks). Every call into user code (codecs, loaders, gates) is
// recovered.
package cluster
