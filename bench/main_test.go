package bench

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

var graftW5 = flag.String("graft.w5", "keepname", "the child spec of Graft's W5 worker: keepname, handoff or otp")

func TestMain(m *testing.M) {
	flag.Parse()
	switch *graftW5 {
	case "keepname":
		GraftRestartSemantics = KeepName
	case "handoff":
		GraftRestartSemantics = Handoff
	case "otp":
		GraftRestartSemantics = OTP
	default:
		fmt.Fprintf(os.Stderr, "bench: -graft.w5=%q: want keepname, handoff or otp\n", *graftW5)
		os.Exit(2)
	}

	// The W6 plugin is built on first use (see w6Plugin) into a directory
	// made here and removed at the end, whatever the outcome: on Ctrl-C
	// below, and through goleak's Cleanup, which runs after the leak check
	// in place of its own os.Exit.
	var err error
	if pluginDir, err = os.MkdirTemp("", "graft-bench-plugins-"); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	exit := func(code int) {
		os.RemoveAll(pluginDir)
		os.Exit(code)
	}

	// Every Ergo node catches SIGINT and SIGTERM to stop itself gracefully
	// (node.SetCTRLC, called by node.Start), and node.Stop does not let go
	// of them. Without a handler of our own, Ctrl-C would only fail the Ergo
	// run in progress and the rest would go on, since every run starts a new
	// node that catches the next one. Every handler gets the signal, so this
	// one ends the process whatever Ergo does with its copy.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "bench: %v, exiting\n", sig)
		exit(128 + int(sig.(syscall.Signal)))
	}()

	// After the tests or benchmarks, no run may have left a goroutine
	// behind: every run tears its system down, and the peers' teardowns were
	// checked to leave nothing, with one exception. The goroutine that each
	// Ergo node starts to wait for those signals is never ended: one per
	// node started, blocked on its signal channel. Switching it off with
	// node.SetCTRLC(false) races with the goroutine that sets the channel up
	// and can leave signal.Notify pointing at a closed channel, so it is
	// ignored by name instead. Hollywood and protoactor leave none (an idle
	// hollywood engine holds no goroutine, though it has no shutdown).
	goleak.VerifyTestMain(m,
		goleak.IgnoreCurrent(), // the signal handler above
		goleak.IgnoreTopFunction("ergo.services/ergo/node.(*node).SetCTRLC.func1"),
		goleak.Cleanup(exit),
	)
}
