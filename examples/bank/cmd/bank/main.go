// Command bank runs the bank example under load, with Graft's admin API,
// so that its accounts can be upgraded from outside while it serves:
//
//	make run            # from the repository root: builds bin/graft, then runs this
//
// It prints, first, the URL of the live view, the admin token's file and
// the graft commands to run next (upgrade, a canary that is rolled back, a
// downgrade, a plugin version built while it runs). Then one status line
// every few seconds: accounts and the versions they run, operations sent
// and handled, and money lost (0). Logs go to a file; warnings also to
// standard error.
//
// On SIGINT or SIGTERM (or when -duration is up) it stops the load, checks
// the books against every account, prints the report and exits: status 0
// if nothing was lost, 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/examples/bank"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade/plugin"
)

// options are the command's flags.
type options struct {
	Admin    string        // the admin API's address
	HTTP     string        // the bank's API address
	Accounts int           // accounts the load works on
	Rate     float64       // operations per second
	Clients  int           // load clients
	Duration time.Duration // 0: until interrupted
	Status   time.Duration // between status lines
	Log      string        // log file
	Level    string        // the log file's level
}

func defaults() options {
	return options{
		Admin: admin.DefaultAddr, HTTP: "127.0.0.1:8471",
		Accounts: 100, Rate: 200, Clients: 4,
		Status: 3 * time.Second, Log: "bank.log", Level: "info",
	}
}

func main() {
	o := defaults()
	flag.StringVar(&o.Admin, "admin", o.Admin, "the admin API's address (loopback)")
	flag.StringVar(&o.HTTP, "http", o.HTTP, "the bank's HTTP API address")
	flag.IntVar(&o.Accounts, "accounts", o.Accounts, "accounts the load generator opens")
	flag.Float64Var(&o.Rate, "rate", o.Rate, "operations per second")
	flag.IntVar(&o.Clients, "clients", o.Clients, "concurrent load clients")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "how long to run (0: until Ctrl-C)")
	flag.DurationVar(&o.Status, "status", o.Status, "time between status lines")
	flag.StringVar(&o.Log, "log", o.Log, "log file")
	flag.StringVar(&o.Level, "log-level", o.Level, "the log file's level: debug, info, warn, error")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, o); err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

// errLost is run's error when the books do not match the accounts.
var errLost = errors.New("money was lost")

// run serves until ctx ends or o.Duration passes, then reports.
func run(ctx context.Context, stdout, stderr io.Writer, o options) error {
	log, closeLog, err := newLogger(o.Log, o.Level, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	sys := actor.NewSystem(actor.WithLogger(log))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sys.Shutdown(sctx)
	}()

	b, err := bank.Start(sys, bank.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	srv, err := admin.Start(sys, admin.Options{
		Addr:        o.Admin,
		Supervisors: []*supervisor.Handle{b.Supervisor()},
		// The versions a plan may name, and where others come from: an
		// executable, given its path and checksum (v4).
		Versions: []*actor.Version{account.V1, account.V2, account.V3},
		Files:    plugin.NewLoader(plugin.WithErrors(account.Module, account.Errors)),
		Ready:    b.Ready,
	})
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer func() { _ = srv.Close(context.Background()) }()
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return fmt.Errorf("bank API: %w", err)
	}
	api := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = api.Serve(ln) }()
	defer func() { _ = api.Close() }()

	load, err := bank.StartLoad(ctx, b, bank.LoadOptions{Accounts: o.Accounts, Rate: o.Rate, Clients: o.Clients})
	if err != nil {
		return err
	}
	defer load.Stop()
	intro(stdout, o, srv, "http://"+ln.Addr().String())

	var end <-chan time.Time
	if o.Duration > 0 {
		end = time.After(o.Duration)
	}
	tick := time.NewTicker(o.Status)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-end:
			done = true
		case <-tick.C:
			status(ctx, stdout, sys, load)
		}
	}

	fmt.Fprintln(stdout, "\nstopping the load and checking the books...")
	load.Stop()
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	books, err := load.Check(cctx)
	if err != nil {
		return fmt.Errorf("checking the books: %w", err)
	}
	c := load.Counts()
	fmt.Fprintf(stdout, "sent %d, handled %d (refused %d), failed %d, lost %d\n",
		c.Sent, c.Handled(), c.Refused, c.Failed, books.Lost)
	fmt.Fprintf(stdout, "books: %d accounts, %d cents in all; %s\n", books.Checked, books.Money, verdict(books))
	if books.Lost != 0 || books.Off != 0 || books.Skipped != 0 {
		return errLost
	}
	return nil
}

func verdict(b bank.Books) string {
	switch {
	case b.Off != 0:
		return fmt.Sprintf("%d accounts differ from the books", b.Off)
	case b.Skipped != 0:
		return fmt.Sprintf("%d accounts could not be checked", b.Skipped)
	}
	return "every balance is what the books say"
}

// intro prints where to look and what to run next.
func intro(w io.Writer, o options, srv *admin.Server, api string) {
	graft := "bin/graft"
	if o.Admin != admin.DefaultAddr {
		// The graft command looks at the default address unless told.
		graft += " --addr " + strings.TrimPrefix(srv.URL(), "http://")
	}
	fmt.Fprintf(w, `
Graft bank demo: %d accounts under load (%g operations/s); module account runs v1.

  Live view    %s
  Token file   %s
  Bank API     %s/accounts
  Logs         %s (warnings show here too)

Next, from another terminal in this directory:

  1. Upgrade every account to v2 (its state gains a history of changes):
       %[7]s upgrade --module account --to v2

  2. Try v3 on 10%% of the accounts first. It crashes them, so the health gate
     stops it and every account goes back to v2:
       %[7]s upgrade --module account --to v3 --mode rolling --waves 0.1,1 --observe 2s --max-crashes 0

  3. Downgrade to v1:
       %[7]s downgrade --module account --to v1

  4. Build v4, a version that runs as a plugin, and upgrade to it (from v1 through v2):
       make plugins
       %[7]s upgrade --module account --to v4 --path bin/plugins/account-v4 --checksum $(sha256sum bin/plugins/account-v4 | cut -d' ' -f1)

Press Ctrl-C to stop: the load stops, the books are checked against every
account, and the last line says how much was lost.

`, o.Accounts, o.Rate, srv.ViewURL(), srv.TokenFile(), api, o.Log, graft)
}

// status prints one line: the accounts and their versions, the load's
// counts, and what a check of the books finds.
func status(ctx context.Context, w io.Writer, sys *actor.System, load *bank.Load) {
	versions := map[string]int{}
	n := 0
	for _, p := range sys.Snapshot() {
		if p.Module == account.Module {
			versions[p.Version]++
			n++
		}
	}
	var vs []string
	for _, v := range slices.Sorted(maps.Keys(versions)) {
		vs = append(vs, fmt.Sprintf("%s %d", v, versions[v]))
	}
	c := load.Counts()
	line := fmt.Sprintf("%s  accounts %d (%s)  sent %d  handled %d (refused %d)  failed %d",
		time.Now().Format(time.TimeOnly), n, strings.Join(vs, ", "), c.Sent, c.Handled(), c.Refused, c.Failed)
	if books, err := load.Check(ctx); err == nil {
		line += fmt.Sprintf("  lost %d", books.Lost)
	}
	fmt.Fprintln(w, line)
}

// newLogger logs to the file at level, and warnings and errors to stderr
// as well, without stack traces, so that the terminal shows what matters.
func newLogger(path, level string, stderr io.Writer) (*zap.Logger, func(), error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, nil, fmt.Errorf("-log-level: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	file := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(f), lvl)
	enc.EncodeTime = zapcore.TimeEncoderOfLayout(time.TimeOnly)
	term := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(stderr)), zapcore.WarnLevel)
	log := zap.New(zapcore.NewTee(file, terse{term}))
	return log, func() { _ = log.Sync(); _ = f.Close() }, nil
}

// terse leaves out the stacks that crash reports carry: the terminal says
// which process crashed and why, the log file has the stack.
type terse struct{ zapcore.Core }

func (t terse) With(fs []zapcore.Field) zapcore.Core { return terse{t.Core.With(withoutStacks(fs))} }

func (t terse) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if t.Enabled(e.Level) {
		return ce.AddCore(e, t)
	}
	return ce
}

func (t terse) Write(e zapcore.Entry, fs []zapcore.Field) error {
	return t.Core.Write(e, withoutStacks(fs))
}

func withoutStacks(fs []zapcore.Field) []zapcore.Field {
	return slices.DeleteFunc(slices.Clone(fs), func(f zapcore.Field) bool { return f.Key == "stack" })
}
