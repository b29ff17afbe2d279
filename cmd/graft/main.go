package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
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
	root.AddCommand(newRunCmd(stdout, stderr))
	return root
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	o := defaultDemoOptions()
	var level string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a node with the counter demo service, swapping its code under load",
		Long: `Run a node with the counter demo service on built-in defaults.

Module "counter" starts at v1; load generators send numbered messages to the
counter processes, and every swap interval the node loads the other version
(v2, then v1, ...) while the load runs. Each process migrates its state on its
next message. At the end it prints what was sent, handled, dead-lettered, out
of order and lost, and exits non-zero if anything was lost or out of order.
It stops when --duration is up or on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, level)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }() // stderr may refuse fsync
			o.Log = log
			res, err := runDemo(cmd.Context(), stdout, o)
			if err != nil {
				return err
			}
			if problems := res.problems(); problems != "" {
				return fmt.Errorf("run: %s", problems)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Actors, "actors", o.Actors, "number of counter processes")
	f.IntVar(&o.Senders, "senders", o.Senders, "number of load-generator goroutines")
	f.Float64Var(&o.Rate, "rate", o.Rate, "messages per second per sender (0: as fast as possible)")
	f.DurationVar(&o.Interval, "swap-interval", o.Interval, "time between version swaps")
	f.IntVar(&o.Swaps, "swaps", o.Swaps, "number of version swaps (0: until the run ends)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "length of the run (0: until interrupted)")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// newLogger returns a zap logger with production settings (sampling off)
// and the console encoder, which reads better in a terminal than JSON.
func newLogger(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	ws := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), ws, lvl)
	return zap.New(core, zap.ErrorOutput(ws)), nil
}
