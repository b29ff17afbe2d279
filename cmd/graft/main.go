package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the command stops what it follows; give
		// the signals back to the runtime so that a second one ends the
		// process.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit statuses (doc.go lists them for users).
const (
	exitOK      = 0
	exitFailed  = 1 // the node said no: an upgrade not done, an unknown process, ...
	exitUsage   = 2 // the command could not be run as asked: usage, plan, address, token
	exitStopped = 1 // an interrupt stopped a command before its end
)

// run runs the command line args and returns the exit status; it is main
// without the process around it, so tests run the command in-process.
// Errors are printed to stderr, one line each.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := newApp(stdin, stdout, stderr, getenv)
	defer a.close()
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := classify(err)
	if msg != "" {
		fmt.Fprintln(stderr, msg)
	}
	return code
}

// exitError is the error of a command that ran: its exit status, and
// what to print (nothing when the command printed it already).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake in the command line.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string {
	return e.err.Error() + " (see " + e.cmd.CommandPath() + " --help)"
}

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// classify turns what a command returned into an exit status and one line
// for a person: "graft: what went wrong", or for a usage error "graft
// upgrade: what is wrong (see graft upgrade --help)".
func classify(err error) (int, string) {
	var (
		ee *exitError
		ue *usageError
		ce *client.Error
	)
	switch {
	case errors.As(err, &ee) && ee.err == nil:
		return ee.code, ""
	case errors.As(err, &ue):
		return exitUsage, oneLine(ue.cmd.CommandPath() + ": " + ue.Error())
	case errors.As(err, &ce) && (ce.Status == 0 || ce.Status == 401 || ce.Status == 400):
		return exitUsage, "graft: " + oneLine(ce.Error())
	case errors.Is(err, context.Canceled):
		return exitStopped, "graft: interrupted"
	case errors.As(err, &ee):
		return ee.code, "graft: " + oneLine(ee.err.Error())
	}
	// Anything else comes from cobra's own parsing (unknown commands,
	// flags and arguments): a usage error.
	return exitUsage, "graft: " + oneLine(err.Error()+" (see graft --help)")
}

// oneLine keeps a message on one line: cobra's suggestions ("Did you mean
// this?") and multi-line errors are folded.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n\nDid you mean this?\n", "; did you mean:")
	return strings.Join(strings.Fields(s), " ")
}
