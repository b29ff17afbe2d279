package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/handoff"
)

func newRunCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [--] PATH [ARGS...]",
		Short: "Run a service and stay its parent across binary handoffs (one process for a service manager to watch)",
		Long: `Run the service at PATH with ARGS, and stay its parent across binary handoffs
(docs/handoff.md): the one process a service manager or a container runtime
watches while builds of the service take over from each other.

graft run becomes a child subreaper (Linux), so a new build that took over is
re-parented to it when the old build exits, and gives the service a
NOTIFY_SOCKET on which a committed handoff names its new process the main
one (systemd's MAINPID). SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1 and SIGUSR2
are forwarded to the main process of the moment: a SIGHUP starts the
service's handoff if it handles it (handoff.Node.OnSIGHUP). Each change of
main process is written to stderr. The service's standard streams and
environment are graft run's.

graft run exits when no process of the service is left, with the exit status
of the last main process (128 plus the signal's number for one killed by a
signal); 2 if the service cannot be started.`,
		Args: args(1, 1<<20),
		RunE: a.runE(func(cmd *cobra.Command, argv []string) error {
			svc := exec.Command(argv[0], argv[1:]...)
			svc.Stdin, svc.Stdout, svc.Stderr = os.Stdin, os.Stdout, os.Stderr
			status, err := handoff.Run(context.WithoutCancel(cmd.Context()), svc, handoff.RunOptions{
				OnMain: func(pid int) {
					if pid == 0 {
						fmt.Fprintln(a.stderr, "graft run: the main process exited; waiting for what is left")
						return
					}
					fmt.Fprintf(a.stderr, "graft run: main process %d\n", pid)
				},
			})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if status != 0 {
				return &exitError{code: status}
			}
			return nil
		}),
	}
	cmd.Flags().SetInterspersed(false) // the service's flags are its own
	return cmd
}
