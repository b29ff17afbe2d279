// Package plugin loads module versions that live in their own executables,
// built (possibly long) after the service started, and runs them out of
// process through hashicorp/go-plugin over gRPC. It is the second loader
// behind upgrade.Loader, next to upgrade.Native: what it returns is an
// ordinary *actor.Version that takes part in every kind of plan (atomic,
// rolling/canary, lazy, dry run, downgrade) and that the receive loop runs
// like any other.
//
// # Loading
//
// Loader.Load takes an upgrade.Ref (module, version, path, hex SHA-256) and:
//
//  1. refuses a reference without a checksum, or a file that does not exist;
//  2. verifies the executable's SHA-256 and starts it with an empty
//     environment (WithEnv to pass some), an empty stdin, as the leader of
//     a process group of its own;
//  3. runs go-plugin's handshake (magic cookie, protocol version) over a
//     connection secured with AutoMTLS (a fresh certificate pair per
//     process), then a gRPC health check;
//  4. asks the plugin to Describe itself: it must serve exactly the module
//     and version asked for, in a Graft protocol version the host speaks
//     (2 or 3), with a codec the host knows;
//  5. stages the version in the system.
//
// Any failure kills what was started and changes nothing: ErrChecksum,
// ErrHandshake, upgrade.ErrInvalidRef, actor.ErrVersionConflict; Load's
// context ending, or the system shutting down, meanwhile: ErrUnavailable.
// No lock is held while a plugin process starts or stops.
//
// # Running
//
// The state of each process stays in the host, as a codec.Raw in the
// module's codec; each call carries it in and the new state out, so the
// plugin holds no state of its own, a crashed plugin loses only the
// messages of the call in flight, and the next version (compiled in or
// not) can read the state. A process on a plugin version sends the
// messages queued in its mailbox in one call (up to WithMaxBatch), so a
// busy process pays one round trip per batch, not per message.
//
// Failures are exit reasons of the processes using the plugin, handled by
// their supervisors; the host never crashes:
//
//   - the plugin process dies mid-call: ErrCrashed (every message of the
//     batch is reported undeliverable with that reason);
//   - a call runs past WithCallTimeout: ErrDeadline, and the plugin
//     process, taken for hung, is killed with its process group (the
//     failing call returns once it is gone; other processes on the version
//     never wait for it);
//   - the answer makes no sense: ErrBadResponse;
//   - a callback returns an error or panics inside the plugin: a
//     *HandlerError for that process only; the plugin process lives on;
//   - a message does not encode: ErrEncode.
//
// # Errors across the boundary
//
// An error crosses as its message and, if the module registered it
// (sdk.Module.Errors), its code. The host maps codes to its own errors
// (WithErrors): a *HandlerError (an exit reason) or a *ReplyError (a
// call's answer) unwraps to the host's error for its code, so errors.Is
// holds on the host as it would for a compiled-in version. Declare the
// table once, in a package both sides import.
//
// The next call after a failure starts a new plugin process (verifying the
// checksum again). Repeated failures back off (WithBackoff, on the system
// clock); meanwhile calls fail with ErrUnavailable, so a persistently
// failing plugin makes its processes' supervisors give up, and a migration
// into it fails, which rolls an atomic upgrade back.
//
// # Lifecycle
//
// A plugin version's process is stopped when the version retires (it is
// no longer current and its last activation has ended, the code server's
// soft purge; a plan that is refused, only dry-run or rolled back releases
// its versions, which then retire) and when the system shuts down
// (System.OnShutdown). Stopping asks the plugin to exit and gives it
// WithStopTimeout, cut short when Shutdown's context ends; then the
// process and its process group are killed. The host stops reading a
// plugin's output shortly after it exits, so a helper the plugin started
// that still holds it holds nothing up. A version made current again after
// its retirement starts a new process on first use. Processes lists them
// with their OS PIDs, and so does upgrade.LoaderProcesses, for code that
// does not import this package (the chaos toolkit).
//
// Module authors write versions with package sdk; the wire protocol is in
// internal/pb (module.proto).
//
// This package and those below it are a module of their own,
// github.com/graftrt/graft/upgrade/plugin, beside the core module
// github.com/graftrt/graft: go-plugin, gRPC and protobuf are this
// module's requirements, and a service that loads no plugin version never
// requires them.
package plugin
