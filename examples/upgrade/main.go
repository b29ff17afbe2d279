// Command upgrade runs a service under load and upgrades it in place with
// supervisor.Handle.Upgrade, three times: an atomic upgrade of module
// counter from v1 to v2 (its state changes shape), an atomic downgrade back
// to v1, and a lazy upgrade to v2 again. It prints each upgrade's report and
// then checks, by asking every counter, that no message was lost.
//
//	cd examples && go run ./upgrade                 # 10,000 counters, 100k msg/s
//	cd examples && go run ./upgrade -actors 1000 -rate 20000
//
// The service is a simple_one_for_one supervisor over N counter processes
// (examples/counter). A few sender goroutines send counter.Inc messages,
// numbered per sender and per counter, at a fixed total rate; the counters
// check the order themselves. The load runs during each upgrade and stops
// between them, so that each summary is exact: a counter.Get call queues
// behind everything sent to that counter, and its answer counts all of it.
//
// The logic is run, which writes to an io.Writer and takes its options as
// data; main only parses flags and builds the logger (zap, warn level, to
// stderr).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/counter"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

func main() {
	o := defaultOptions()
	flag.IntVar(&o.Actors, "actors", o.Actors, "counter processes under the supervisor")
	flag.IntVar(&o.Senders, "senders", o.Senders, "load-generator goroutines")
	flag.Float64Var(&o.Rate, "rate", o.Rate, "messages per second, all senders together")
	flag.Int64Var(&o.Before, "before", o.Before, "messages sent before each upgrade starts (0: one per counter)")
	flag.Int64Var(&o.After, "after", o.After, "messages sent after each upgrade returns (0: one per counter)")
	flag.IntVar(&o.Show, "show", o.Show, "processes listed one by one in each report")
	flag.Parse()

	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.Lock(os.Stderr), zap.WarnLevel)
	o.Log = zap.New(core)
	defer o.Log.Sync() //nolint:errcheck // stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, os.Stdout, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upgrade:", err)
		os.Exit(1)
	}
	if p := res.problems(); p != "" {
		fmt.Fprintln(os.Stderr, "upgrade: FAILED:", p)
		os.Exit(1)
	}
}

// options configures run. Every field is used as given; defaultOptions
// holds the defaults of the command.
type options struct {
	Actors  int     // counter processes, >= 1
	Senders int     // load-generator goroutines, >= 1
	Rate    float64 // messages per second, all senders together, > 0
	// Before and After are how many messages the load sends before each
	// upgrade starts and after it returns (counts, not durations, so that
	// a test is driven by what happened, not by the wall clock). Zero
	// means one per counter: every counter has had a message.
	Before, After int64
	Show          int         // processes listed one by one in a report
	Log           *zap.Logger // nil: no logs
}

func defaultOptions() options {
	return options{Actors: 10_000, Senders: 4, Rate: 100_000, Show: 5}
}

func (o options) validate() error {
	switch {
	case o.Actors < 1:
		return fmt.Errorf("-actors must be at least 1, not %d", o.Actors)
	case o.Senders < 1:
		return fmt.Errorf("-senders must be at least 1, not %d", o.Senders)
	case o.Rate <= 0:
		return fmt.Errorf("-rate must be positive, not %v", o.Rate)
	case o.Before < 0 || o.After < 0:
		return errors.New("-before and -after must not be negative")
	case o.Show < 0:
		return fmt.Errorf("-show must not be negative, not %d", o.Show)
	}
	return nil
}

// step is one upgrade of the run.
type step struct {
	title string
	plan  upgrade.Plan
}

// steps are the upgrades run makes, in order: up atomically (counter's
// CodeChange migrates StateV1 to StateV2), down atomically (V2's Downgrade
// runs, in the newer code, as OTP's code_change({down, Vsn})), and up
// again lazily (each counter migrates on its next message).
func steps() []step {
	change := func(to *actor.Version) []upgrade.Change {
		return []upgrade.Change{{Module: counter.Module, To: to}}
	}
	return []step{
		{"atomic upgrade, counter v1 -> v2", upgrade.Plan{Mode: upgrade.Atomic, Changes: change(counter.V2)}},
		{"atomic downgrade, counter v2 -> v1", upgrade.Plan{Mode: upgrade.Atomic, Changes: change(counter.V1)}},
		{"lazy upgrade, counter v1 -> v2", upgrade.Plan{Mode: upgrade.Lazy, Changes: change(counter.V2)}},
	}
}

// stepResult is what one upgrade did.
type stepResult struct {
	Title    string
	Outcome  upgrade.Outcome
	Err      error // Upgrade's error, if any
	Elapsed  time.Duration
	MaxPause time.Duration
	Moved    int // processes now on the plan's version
	Failed   int // processes whose migration failed
}

// result is what run counted, cumulative over every step.
type result struct {
	Steps       []stepResult
	Sent        int64  // Send calls made by the load generator
	Handled     int64  // Inc messages the counters handled (their own counts)
	Lost        int64  // Sent - Handled: must be 0
	DeadLetters uint64 // messages the system reported as not delivered
	OutOfOrder  int64  // messages a counter did not expect next from their sender
	// Versions counts the counters by the version they run at the end.
	Versions map[string]int
}

// problems describes what went wrong, or returns "" for a clean run.
func (r result) problems() string {
	var p []string
	if r.Lost != 0 {
		p = append(p, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.OutOfOrder != 0 {
		p = append(p, fmt.Sprintf("%d out of order", r.OutOfOrder))
	}
	if r.DeadLetters != 0 {
		p = append(p, fmt.Sprintf("%d dead letters", r.DeadLetters))
	}
	want := []upgrade.Outcome{upgrade.Committed, upgrade.Committed, upgrade.Converged}
	for i, s := range r.Steps {
		if i < len(want) && s.Outcome != want[i] {
			p = append(p, fmt.Sprintf("%s: %v, want %v", s.Title, s.Outcome, want[i]))
		}
	}
	if n := len(r.Versions); n != 1 || r.Versions[counter.V2.Name()] == 0 {
		p = append(p, fmt.Sprintf("versions at the end %v, want every process on %s", r.Versions, counter.V2.Name()))
	}
	return strings.Join(p, ", ")
}

// requestTimeout bounds each call run makes outside an upgrade, and
// Shutdown.
const requestTimeout = 10 * time.Second

// run starts the service, makes the three upgrades under load, printing
// each report and a summary to w, and shuts the service down. It returns
// an error if the run could not go on (bad options, a failed start, call
// or upgrade); lost or misordered messages are reported in the result (see
// result.problems).
func run(ctx context.Context, w io.Writer, o options) (res result, err error) {
	if err := o.validate(); err != nil {
		return res, err
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	sys := actor.NewSystem(actor.WithLogger(log))
	defer func() {
		// Shutdown gets a deadline of its own: ctx may be what ended the run.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		if serr := sys.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()

	if err := sys.Load(counter.V1); err != nil {
		return res, err
	}
	sup, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.SimpleOneForOne},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: counter.Module}}})
	if err != nil {
		return res, err
	}
	pids := make([]actor.PID, 0, o.Actors)
	for range o.Actors {
		pid, err := sup.StartSimpleChild(ctx, nil)
		if err != nil {
			return res, fmt.Errorf("start counter: %w", err)
		}
		pids = append(pids, pid)
	}
	fmt.Fprintf(w, "service: simple_one_for_one supervisor %v over %d %s processes on %s; load: %d senders, %g msg/s in all\n",
		sup.PID(), o.Actors, counter.Module, counter.V1.Name(), o.Senders, o.Rate)

	before, after := o.Before, o.After
	if before == 0 {
		before = int64(o.Actors)
	}
	if after == 0 {
		after = int64(o.Actors)
	}
	l := newLoad(sys, pids, o.Senders, o.Rate, log)
	for _, st := range steps() {
		// The load runs from before the upgrade starts until after it
		// returns, and stops for the summary.
		l.start(ctx)
		err := l.awaitSent(ctx, l.sent.Load()+before)
		var rep *upgrade.Report
		var uerr error
		var events []upgrade.Event // the plan's steps and every process's, from the bus
		var mu sync.Mutex
		if err == nil {
			cancel := sys.Subscribe(func(e actor.Event) {
				if ev, ok := e.(upgrade.Event); ok {
					mu.Lock()
					events = append(events, ev)
					mu.Unlock()
				}
			})
			rep, uerr = sup.Upgrade(ctx, st.plan)
			cancel()
			if rep != nil { // nil only for a plan rejected before it started
				err = l.awaitSent(ctx, l.sent.Load()+after)
			}
		}
		l.stop()
		if err != nil {
			return res, err
		}
		fmt.Fprintf(w, "\n== %s (%d messages sent so far)\n", st.title, l.sent.Load())
		if rep == nil {
			return res, fmt.Errorf("%s: %w", st.title, uerr)
		}
		mu.Lock()
		sr := printReport(w, st, rep, events, uerr, o.Show)
		mu.Unlock()
		res.Steps = append(res.Steps, sr)
		if err := tally(ctx, sys, sup, pids, l, &res); err != nil {
			return res, err
		}
		printSummary(w, res)
		if uerr != nil && rep.Outcome != upgrade.RolledBack {
			return res, fmt.Errorf("%s: %w", st.title, uerr)
		}
	}
	if p := res.problems(); p != "" {
		fmt.Fprintf(w, "\nFAILED: %s\n", p)
	} else {
		fmt.Fprintf(w, "\nOK: %d upgrades under load; every message handled once, in order; every process on %s\n",
			len(res.Steps), counter.V2.Name())
	}
	return res, nil
}

// printReport prints an upgrade's report: outcome and timings, the first
// few processes one by one and a tally of all, and the events by kind.
func printReport(w io.Writer, st step, rep *upgrade.Report, events []upgrade.Event, err error, show int) stepResult {
	to := st.plan.Changes[0].To.Name()
	sr := stepResult{Title: st.title, Outcome: rep.Outcome, Err: err, Elapsed: rep.Elapsed, MaxPause: rep.MaxPause}
	fmt.Fprintf(w, "outcome     %v (mode %v)\n", rep.Outcome, rep.Mode)
	if err != nil {
		fmt.Fprintf(w, "error       %v\n", err)
	}
	fmt.Fprintf(w, "elapsed     %v\n", rep.Elapsed.Round(time.Microsecond))
	pauses := make([]time.Duration, 0, len(rep.Processes))
	for _, p := range rep.Processes {
		pauses = append(pauses, p.Pause)
	}
	slices.Sort(pauses)
	switch {
	case rep.Mode == upgrade.Lazy:
		fmt.Fprintf(w, "pause       none: each process migrates on its next message\n")
	case len(pauses) > 0:
		fmt.Fprintf(w, "pause       max %v, median %v\n",
			rep.MaxPause.Round(time.Microsecond), pauses[len(pauses)/2].Round(time.Microsecond))
	}

	tallies := map[string]int{}
	for i, p := range rep.Processes {
		line := fmt.Sprintf("%s -> %s", orDash(p.From), p.To)
		if p.Err != nil {
			line += " (failed)"
			sr.Failed++
		} else if p.To == to {
			sr.Moved++
		}
		tallies[line]++
		if i < show {
			fmt.Fprintf(w, "  %-9v %s", p.PID, line)
			if rep.Mode == upgrade.Atomic {
				fmt.Fprintf(w, "  paused %v", p.Pause.Round(time.Microsecond))
			}
			if p.Err != nil {
				fmt.Fprintf(w, "  error: %v", p.Err)
			}
			fmt.Fprintln(w)
		}
	}
	if more := len(rep.Processes) - show; more > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", more)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tallies)) {
		parts = append(parts, fmt.Sprintf("%d %s", tallies[k], k))
	}
	fmt.Fprintf(w, "processes   %d: %s\n", len(rep.Processes), strings.Join(parts, ", "))

	// Events by kind, in the order each kind first occurred.
	var kinds []string
	counts := map[string]int{}
	for _, ev := range events {
		k := eventKind(ev)
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	parts = parts[:0]
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	fmt.Fprintf(w, "events      %s\n", strings.Join(parts, ", "))
	return sr
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// eventKind names an upgrade event in OTP's snake_case: UpgradeCommitted
// is "upgrade_committed".
func eventKind(ev upgrade.Event) string {
	name := reflect.TypeOf(ev).Name()
	var b strings.Builder
	for i, r := range name {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tally asks every counter for its Stats and the supervisor for the
// version of each child. The load has stopped, so each Get queues behind
// everything sent to that counter and its answer counts all of it.
func tally(ctx context.Context, sys *actor.System, sup *supervisor.Handle, pids []actor.PID, l *load, res *result) error {
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var err error
	if res.Handled, res.OutOfOrder, err = counter.Sum(cctx, sys, pids); err != nil {
		return err
	}
	res.Sent = l.sent.Load()
	res.Lost = res.Sent - res.Handled
	res.DeadLetters = sys.DeadLetters()
	// WhichChildren asks each child through its system lane, which does
	// not make it migrate: the versions are what the upgrade left.
	children, err := sup.WhichChildren(cctx)
	if err != nil {
		return fmt.Errorf("which children: %w", err)
	}
	res.Versions = map[string]int{}
	for _, c := range children {
		res.Versions[orDash(c.Version)]++
	}
	return nil
}

func printSummary(w io.Writer, r result) {
	lost := "0 lost"
	if r.Lost != 0 {
		lost = fmt.Sprintf("%d LOST", r.Lost)
	}
	fmt.Fprintf(w, "messages    sent %d, handled %d, %s (dead letters %d, out of order %d)\n",
		r.Sent, r.Handled, lost, r.DeadLetters, r.OutOfOrder)
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(r.Versions)) {
		parts = append(parts, fmt.Sprintf("%d on %s", r.Versions[v], v))
	}
	fmt.Fprintf(w, "versions    %s\n", strings.Join(parts, ", "))
}

// load is the load generator: senders goroutines, each sending counter.Inc
// to the counters in turn at rate/senders messages per second. Sequence
// numbers count per sender and per counter, and survive stop and start, so
// each counter checks every sender's order over the whole run.
type load struct {
	sys     *actor.System
	pids    []actor.PID
	senders int
	rate    float64 // per sender
	log     *zap.Logger

	// seq[s][i] is the last Seq sender s sent to counter i; next[s] is
	// the counter sender s sends to next. Each sender owns its row.
	seq  [][]uint64
	next []int

	sent atomic.Int64

	mu      sync.Mutex
	changed chan struct{} // guarded by mu: closed and replaced after every batch

	cancel context.CancelFunc // set by start, used by stop; run's goroutine only
	wg     sync.WaitGroup
}

func newLoad(sys *actor.System, pids []actor.PID, senders int, rate float64, log *zap.Logger) *load {
	l := &load{sys: sys, pids: pids, senders: senders, rate: rate / float64(senders), log: log,
		seq: make([][]uint64, senders), next: make([]int, senders), changed: make(chan struct{})}
	for s := range senders {
		l.seq[s] = make([]uint64, len(pids))
		l.next[s] = s * len(pids) / senders // senders start on different counters
	}
	return l
}

// start starts the senders; stop stops them and waits until they have
// returned. They run until stop or until ctx ends.
func (l *load) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	for s := range l.senders {
		l.wg.Go(func() { l.sender(ctx, s) })
	}
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// sender paces itself: on each tick it catches up with its rate since it
// started. Ticks of at least 2 ms keep a high rate from becoming one
// wake-up per message.
func (l *load) sender(ctx context.Context, s int) {
	period := max(time.Duration(float64(time.Second)/l.rate), 2*time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	start, n := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int64(l.rate * time.Since(start).Seconds())
		batch := due - n
		for ; n < due; n++ {
			i := l.next[s]
			l.next[s] = (i + 1) % len(l.pids)
			l.seq[s][i]++
			if err := l.sys.Send(l.pids[i], counter.Inc{Sender: s, Seq: l.seq[s][i]}); err != nil {
				// Counted as a dead letter by the system, and as lost here.
				l.log.Error("send failed", zap.Int("sender", s), zap.Error(err))
			}
		}
		if batch > 0 {
			l.sent.Add(batch)
			l.mu.Lock()
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}
}

// awaitSent waits until the senders have sent n messages in all, or ctx
// ends.
func (l *load) awaitSent(ctx context.Context, n int64) error {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if l.sent.Load() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
