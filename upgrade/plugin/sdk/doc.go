// Package sdk is what a module author writes a plugin version with: the
// handler, written once with typed state and messages, becomes an
// executable that a Graft service loads by path and checksum (package
// upgrade/plugin), possibly long after the service started.
//
//	func main() {
//		sdk.Serve(sdk.Module[State, Msg]{
//			Name: "visits", Version: "v3",
//			Handle: func(ctx *sdk.Context, s State, m Msg) (State, error) { ... },
//			CodeChange: sdk.Migrate(func(old StateV2, extra codec.Raw) (State, error) { ... }),
//		})
//	}
//
// The plugin keeps no state between calls: the host holds every process's
// state and sends it with each batch of messages, encoded with the
// module's codec (JSON by default; codec.Gob or codec.Protobuf on request).
// Messages arrive decoded into M, so a module whose versions may run out
// of process takes one message type (a struct, with a field telling kinds
// apart, is the usual shape). Callbacks run one batch at a time per
// process, but batches of different processes run concurrently: Handle
// must not share mutable globals without locking.
//
// What a plugin can do: compute a new state from the state and messages it
// is given, answer calls, stop its process (return Normal or an error).
// What it cannot: reach the host's system (send to other processes, spawn,
// link), keep state the host does not see, or outlive its host (Serve
// exits when the host stops it or goes away). It starts with an empty
// environment (but what the host passes) and an empty stdin, as the leader
// of a process group that the host kills when it stops the plugin. Errors
// and panics in callbacks are caught here and reported to the host as exit
// reasons of the one process concerned; the plugin process lives on.
//
// Errors cross to the host as their message and, for the errors listed in
// Module.Errors, a code: the host maps it to its own error for that code
// (plugin.WithErrors), so that errors.Is holds there. Declare the table
// once, next to the errors, in a package both sides import.
package sdk
