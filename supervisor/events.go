package supervisor

import "github.com/graftrt/graft/actor"

// Events a supervisor reports through actor.System.Subscribe. Each is also
// a zap log line.
type (
	// ChildStarted: a child was started (Restart: by a restart).
	ChildStarted struct {
		Supervisor actor.PID
		ID         string
		PID        actor.PID
		Restart    bool
	}
	// ChildExited: a child exited on its own (crash or normal exit); the
	// supervisor's decision follows.
	ChildExited struct {
		Supervisor actor.PID
		ID         string
		PID        actor.PID
		Reason     error
	}
	// ChildShutdown: the supervisor terminated a child (strategy, API or
	// its own shutdown). Reason is how it ended: shutdown, killed, ...
	ChildShutdown struct {
		Supervisor actor.PID
		ID         string
		PID        actor.PID
		Reason     error
	}
	// MaxIntensityReached: more restarts than the intensity allows in the
	// period; the supervisor terminates its children and exits with
	// reason shutdown, escalating to its own supervisor.
	MaxIntensityReached struct {
		Supervisor actor.PID
		Child      string
	}
)
