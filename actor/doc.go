// Package actor is Graft's process runtime: processes with mailboxes, links,
// monitors and exit signals with Erlang/OTP's semantics, modules whose
// versions can be swapped while processes run, and the receive loop that
// picks up the current version on every message.
//
// # Systems
//
// Everything hangs off a *System (NewSystem): processes, registered names,
// loaded modules, the clock and the logger. There is no package-level
// state; two Systems never see each other. System.Shutdown stops every
// process and waits for them.
//
// # Modules and versions
//
// A module is a name, e.g. "counter". A version is one implementation of it
// (a *Version, built with Define for a typed state or NewVersion for an
// untyped Behaviour): Init builds a process's state, Handle handles one
// message and returns the next state; optional Terminate, CodeChange
// (migrate the state of an older version: OTP's code_change/3) and
// Downgrade (hand the state back to an older version). A version declares
// its Lineage: the version it follows, and the versions its CodeChange
// migrates from and its Downgrade returns to; moving between versions
// chains these steps (Route), never the order the system loaded them in,
// and a move without a chain is refused. System.Load makes a version
// current, atomically (LoadAll several modules at once, or none). Spawn
// starts the module's current version.
//
// # The receive loop
//
// A process has two lanes: signals (exit signals, link and monitor
// requests, suspend/resume, stop, info) on the system lane, ordinary
// messages and calls on the user lane. Its receive loop, the only long-lived
// code of a process, takes the system lane first, then one user message:
// it loads the module's current version (one atomic load) and, if that is
// not the version that built the state, migrates the state first along the
// route (CodeChange up, the version left's Downgrade down), then calls
// Handle. A
// migration that fails, panics or returns a state the version does not
// accept leaves the process on its version with its state intact, logs the
// failure and reports a MigrationFailed event; the process keeps handling
// messages and does not retry until another version is made current.
//
// # Code change requests
//
// The upgrade engine drives processes with rounds of requests served on
// their system lanes (Prepare, Commit, CommitPinned, Abort, Simulate): a
// process suspends and migrates with the result kept pending, then commits
// or drops it. A request the round gives up on before the process takes it
// is never served. VersionOf reads what a process runs without asking it;
// TrySuspend and Inspect serve a supervisor's walk.
//
// An idle process holds no goroutine: a goroutine is started when its
// mailbox goes from empty to non-empty and ends when it is empty again, so
// a million idle processes fit in a few hundred megabytes. A goroutine may
// go on with another process instead of ending: an exit that wakes the
// exiting process's idle parent runs the parent next, and a process
// spawned WithDeferredStart from a handler runs once that handler returns,
// on the spawner's goroutine if the spawner is idle. So does a process
// woken by Context.Send from a handler (it was idle), at the latest half a
// millisecond after the send (a timer starts it), or at once when the
// handler waits through Context.Call or a request.
//
// # Handoff and kept names
//
// A process spawned WithHandoff gives its unhandled messages to its parent
// at exit (ExitMsg.Queued), for a replacement spawned WithBacklog. One
// spawned WithKeepName leaves its registered name to its parent, reserved
// with a queue (ExitMsg.Reserved): sends by name queue there until a
// replacement spawned WithReservation takes the name and the queue, or the
// parent releases it (ReleaseReservation), which frees the name and
// reports what was queued. A process that exits while it holds a
// reservation releases it with its exit reason. While a name is reserved,
// Whereis finds no process, Reserved shows the reservation, and Register
// fails with ErrNameTaken.
//
// # Ordering
//
// Messages from one sender to one process are handled in the order sent.
// Signals overtake user messages (the system lane goes first), except that
// a trapped exit signal becomes an ExitMsg placed where the signal arrived,
// after the messages its sender sent before it. Nothing is dropped
// silently: a message to a dead process, refused or evicted by a bounded
// mailbox, or still queued when its process exits is a DeadLetter event
// (and, for Send, an error the sender sees); a call in any of those cases
// fails with an error for its caller.
//
// # Exits
//
// Exit reasons are errors: Normal, Shutdown, ShutdownReason, Kill/Killed,
// NoProc, a *PanicError for a panic in user code (with the value and the
// stack), or whatever error a handler returned. Links propagate exits,
// TrapExit turns them into ExitMsg messages, monitors deliver Down
// messages, as in OTP. A panic in Init, Handle, Terminate or a migration
// never crashes the host: it becomes an exit reason or an error.
//
// Starts and stops carry OTP's extra results: Init may return Ignore (not
// started, not a failure) and hand info back with SetStartInfo
// ({ok, Pid, Info}, read through WithStartInfo); StopWith stops a process
// with a reason (gen_server:stop/3); a ReasonTerminator (or
// Funcs.TerminateReason) chooses the reason its process exits with.
//
// # Blocking and panics
//
// Spawn runs Init on the caller's goroutine before returning. Call blocks
// until the reply, the context's end, the target's exit or the system's
// default call timeout (5 s, OTP's default) when the context has no
// deadline; SendRequest does not block, and calls a function with the
// answer instead (gen_server:send_request). Signals take effect between
// two messages: Go cannot stop a
// goroutine from outside, so a process stuck in a handler or a Terminate
// is abandoned instead (System.Abandon): declared killed at once, its
// goroutine left to finish without effect. A long job is a loop of short
// steps (Context.Continue), each on the current version.
//
// Every call into user code is recovered (a panic is an exit reason or an
// error), every error it returns is vetted (SafeError: a typed nil becomes
// a *BadError), and every wait on it is bounded (hooks by WithHookTimeout,
// event subscribers by SubscribeAsync). No function of this package panics
// on bad input; it returns an error.
package actor
