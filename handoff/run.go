package handoff

import (
	"os"
)

// RunOptions configure Run.
type RunOptions struct {
	// Signals are forwarded to the service's main process as they
	// arrive. Nil: SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1 and SIGUSR2
	// sent to this process.
	Signals <-chan os.Signal
	// OnMain, if set, is called with the PID of each process that becomes
	// the service's main process (the one started first, then each
	// successor), and with 0 when the main process exited and none
	// followed it.
	OnMain func(pid int)
}
