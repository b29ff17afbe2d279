package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run stops cleanly; give the signals
		// back to the runtime so that a second one ends the process.
		<-ctx.Done()
		stop()
	}()
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "graft:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the command tree writing its report to stdout and its
// logs to stderr. It installs no signal handler (main does), so tests can
// run it in-process.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "graft",
		Short: "Run and operate Graft nodes: actors whose code is upgraded while they run",
		// Errors are printed once, by main; a failed run is not a usage
		// mistake.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root
}
