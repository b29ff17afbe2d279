package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/counter"
)

// demoOptions configures runDemo. Every field is used as given;
// defaultDemoOptions holds the defaults of `graft run`.
type demoOptions struct {
	Actors  int     // counter processes, >= 1
	Senders int     // load-generator goroutines, >= 1
	Rate    float64 // messages per second per sender; 0 sends as fast as Send returns

	Interval time.Duration // between swaps, unless SwapEvery is set
	Swaps    int           // swaps to make; 0 swaps until the run ends
	Duration time.Duration // length of the run; 0 runs until ctx ends (or, with PerSender, until all is sent)

	// SwapEvery > 0 swaps after every SwapEvery messages sent (all senders
	// together) instead of every Interval, so that tests are driven by
	// counts, not by the wall clock. The sender whose message reaches the
	// count waits until the swap's Load is done, the others go on: every
	// swap happens under load, at its count, however far the senders could
	// have run ahead of the swapper.
	SwapEvery int64
	// PerSender > 0 makes each sender stop after that many messages; the
	// run ends when every sender has.
	PerSender int64

	Log *zap.Logger // nil: no logs
}

func defaultDemoOptions() demoOptions {
	return demoOptions{
		Actors:   8,
		Senders:  4,
		Rate:     2000,
		Interval: time.Second,
		Duration: 10 * time.Second,
	}
}

func (o demoOptions) validate() error {
	switch {
	case o.Actors < 1:
		return fmt.Errorf("--actors must be at least 1, not %d", o.Actors)
	case o.Senders < 1:
		return fmt.Errorf("--senders must be at least 1, not %d", o.Senders)
	case o.Rate < 0:
		return fmt.Errorf("--rate must not be negative, not %v", o.Rate)
	case o.Swaps < 0:
		return fmt.Errorf("--swaps must not be negative, not %d", o.Swaps)
	case o.Duration < 0:
		return fmt.Errorf("--duration must not be negative, not %v", o.Duration)
	case o.SwapEvery < 0 || o.PerSender < 0:
		return errors.New("SwapEvery and PerSender must not be negative")
	case o.SwapEvery == 0 && o.Interval <= 0:
		return fmt.Errorf("--swap-interval must be positive, not %v", o.Interval)
	}
	return nil
}

// demoResult is what runDemo counted.
type demoResult struct {
	Elapsed time.Duration
	Sent    int64 // Send calls made by the load generators
	Handled int64 // Inc messages the counters handled (their own count)
	// DeadLetters are messages the system reported as not delivered.
	DeadLetters uint64
	// OutOfOrder counts messages a counter did not expect next from their
	// sender (the counters check it themselves).
	OutOfOrder int64
	// Lost is Sent - Handled - DeadLetters: messages that vanished without
	// a dead letter. Negative means some were handled twice.
	Lost int64

	Swaps             int
	Migrations        int64 // processes that migrated, over all swaps
	MigrationFailures int64
	// Final is the version each counter ran at the end, by PID, and Want
	// the version current at the end.
	Final map[actor.PID]string
	Want  string
}

// problems describes what went wrong, or returns "" for a clean run.
func (r demoResult) problems() string {
	var p []string
	switch {
	case r.Lost > 0:
		p = append(p, fmt.Sprintf("%d lost", r.Lost))
	case r.Lost < 0:
		p = append(p, fmt.Sprintf("%d duplicated", -r.Lost))
	}
	if r.OutOfOrder > 0 {
		p = append(p, fmt.Sprintf("%d out of order", r.OutOfOrder))
	}
	if r.DeadLetters > 0 {
		p = append(p, fmt.Sprintf("%d dead letters", r.DeadLetters))
	}
	if r.MigrationFailures > 0 {
		p = append(p, fmt.Sprintf("%d failed migrations", r.MigrationFailures))
	}
	stale := 0
	for _, v := range r.Final {
		if v != r.Want {
			stale++
		}
	}
	if stale > 0 {
		p = append(p, fmt.Sprintf("%d processes not on %s", stale, r.Want))
	}
	return strings.Join(p, ", ")
}

// requestTimeout bounds each Call and Info the demo makes, and Shutdown.
const requestTimeout = 5 * time.Second

// demo is one run: its system, its counters and what the goroutines share.
type demo struct {
	o     demoOptions
	w     io.Writer // written by the swapper while the load runs, by runDemo before and after
	log   *zap.Logger
	sys   *actor.System
	pids  []actor.PID
	track *tracker
	start time.Time

	sent     atomic.Int64
	sendErrs atomic.Int64
	// sentPoke is nudged (never blocking) each time sent passes a multiple
	// of SwapEvery.
	sentPoke chan struct{}
	// loaded counts the swaps whose Load is done; with SwapEvery, a sender
	// that reached a swap's count waits on it.
	loaded counterGate
	// loadDone is closed once every sender has returned.
	loadDone chan struct{}
	// interrupted is closed when runDemo's ctx ends (SIGINT, SIGTERM):
	// the swapper makes no further swap, not even one already due.
	interrupted <-chan struct{}
}

// runDemo runs the counter demo: it loads counter v1, spawns the counters,
// runs the load generators and swaps the module's version under load,
// printing to w as it goes; then it stops the load, prints the summary and
// shuts the system down. It returns an error only if the demo could not run
// (bad options, a failed load or call); lost or misordered messages are
// reported in the result.
func runDemo(ctx context.Context, w io.Writer, o demoOptions) (res demoResult, err error) {
	if err := o.validate(); err != nil {
		return res, err
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	d := &demo{
		o: o, w: w, log: log,
		sys:         actor.NewSystem(actor.WithLogger(log)),
		track:       newTracker(),
		sentPoke:    make(chan struct{}, 1),
		loadDone:    make(chan struct{}),
		interrupted: ctx.Done(),
	}
	defer func() {
		// Shutdown gets a deadline of its own: ctx may be what ended the run.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		if serr := d.sys.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()
	defer d.sys.Subscribe(d.track.observe)()

	if err := d.sys.Load(counter.V1); err != nil {
		return res, err
	}
	for i := range o.Actors {
		pid, err := d.sys.Spawn(counter.Module, nil, actor.WithName(name(i)))
		if err != nil {
			return res, err
		}
		d.pids = append(d.pids, pid)
		d.track.add(pid, counter.V1.Name())
	}
	d.printHeader()
	d.start = time.Now()

	// The load runs until ctx ends, the duration is up, or every sender
	// has sent PerSender messages.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		loadCtx, cancel = context.WithTimeout(loadCtx, o.Duration)
		defer cancel()
	}
	swapperDone := make(chan struct{})
	go func() {
		defer close(swapperDone)
		res.Swaps = d.swapper()
	}()
	var senders sync.WaitGroup
	for id := range o.Senders {
		senders.Go(func() { d.sender(loadCtx, id) })
	}
	senders.Wait()
	why := "all messages sent"
	switch {
	case ctx.Err() != nil:
		why = "interrupted"
	case loadCtx.Err() != nil:
		why = "duration reached"
	}
	stopLoad()
	close(d.loadDone)
	<-swapperDone
	log.Info("load stopped", zap.String("why", why), zap.Int64("sent", d.sent.Load()))

	if err := d.summarise(ctx, &res); err != nil {
		return res, err
	}
	d.printSummary(res, why)
	return res, nil
}

func (d *demo) printHeader() {
	o := d.o
	rate := "as fast as possible"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%g msg/s each", o.Rate)
	}
	swaps := fmt.Sprintf("every %v", o.Interval)
	if o.SwapEvery > 0 {
		swaps = fmt.Sprintf("every %d messages sent", o.SwapEvery)
	}
	if o.Swaps > 0 {
		swaps += fmt.Sprintf(", %d times", o.Swaps)
	}
	length := "until interrupted"
	switch {
	case o.PerSender > 0:
		length = fmt.Sprintf("until each sender has sent %d", o.PerSender)
	case o.Duration > 0:
		length = fmt.Sprintf("for %v", o.Duration)
	}
	fmt.Fprintf(d.w, "graft run: module %s %s loaded, %d processes; %d senders, %s; swapping %s; running %s\n",
		counter.Module, counter.V1.Name(), o.Actors, o.Senders, rate, swaps, length)
}

// sender sends Inc messages to the counters in turn until ctx ends or, with
// PerSender, until it has sent that many. Sequence numbers count per
// counter, so each counter can check every sender's order on its own.
func (d *demo) sender(ctx context.Context, id int) {
	seq := make([]uint64, len(d.pids))
	next := id % len(d.pids) // senders start on different counters
	var n int64
	send := func() {
		a := next
		next = (next + 1) % len(d.pids)
		seq[a]++
		if err := d.sys.Send(d.pids[a], counter.Inc{Sender: id, Seq: seq[a]}); err != nil {
			// Also counted as a dead letter by the system.
			if d.sendErrs.Add(1) == 1 {
				d.log.Error("send failed", zap.Int("sender", id), zap.Error(err))
			}
		}
		n++
		if total := d.sent.Add(1); d.o.SwapEvery > 0 && total%d.o.SwapEvery == 0 {
			select {
			case d.sentPoke <- struct{}{}:
			default:
			}
			if swap := total / d.o.SwapEvery; d.o.Swaps == 0 || swap <= int64(d.o.Swaps) {
				d.loaded.wait(ctx, swap)
			}
		}
	}
	limit := d.o.PerSender
	done := ctx.Done()

	if d.o.Rate <= 0 {
		for limit == 0 || n < limit {
			select {
			case <-done:
				return
			default:
			}
			send()
		}
		return
	}

	// Paced: on each tick, catch up with Rate since the start. Ticks of at
	// least 5 ms keep high rates from becoming one wake-up per message.
	period := max(time.Duration(float64(time.Second)/d.o.Rate), 5*time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	start := time.Now()
	for limit == 0 || n < limit {
		select {
		case <-done:
			return
		case now := <-tick.C:
			due := int64(d.o.Rate * now.Sub(start).Seconds())
			if limit > 0 {
				due = min(due, limit)
			}
			for n < due {
				send()
			}
		}
	}
}

// swapper makes the swaps: v2, v1, v2, … every Interval, or every
// SwapEvery messages sent. It returns the number of swaps made once the
// load has stopped (or Swaps were made).
func (d *demo) swapper() int {
	var tick <-chan time.Time
	if d.o.SwapEvery == 0 {
		t := time.NewTicker(d.o.Interval)
		defer t.Stop()
		tick = t.C
	}
	n := 0
	for d.o.Swaps == 0 || n < d.o.Swaps {
		if !d.awaitSwap(n+1, tick) {
			break
		}
		n++
		d.swap(n)
	}
	return n
}

// awaitSwap waits until swap n is due; false means it never will be.
func (d *demo) awaitSwap(n int, tick <-chan time.Time) bool {
	select {
	case <-d.interrupted:
		return false
	default:
	}
	if d.o.SwapEvery == 0 {
		select {
		case <-tick:
			return true
		case <-d.loadDone:
			return false
		}
	}
	due := int64(n) * d.o.SwapEvery
	for d.sent.Load() < due {
		select {
		case <-d.sentPoke:
		case <-d.interrupted:
			return false
		case <-d.loadDone:
			return false
		}
	}
	return true
}

// versionFor returns the version that swap n loads: odd swaps upgrade to
// v2, even ones go back to v1.
func versionFor(n int) *actor.Version {
	if n%2 == 1 {
		return counter.V2
	}
	return counter.V1
}

// swap loads the next version, waits until every counter has migrated (on
// its next message) or the wait is cut short, and prints where each
// counter stands.
func (d *demo) swap(n int) {
	to := versionFor(n)
	from, _ := d.sys.Current(counter.Module)
	kind := "upgrade"
	if to == counter.V1 {
		kind = "downgrade"
	}
	at := time.Since(d.start)
	loaded := time.Now()
	err := d.sys.Load(to)
	d.loaded.set(int64(n))
	if err != nil {
		d.log.Error("load failed", zap.Stringer("version", to), zap.Error(err))
		fmt.Fprintf(d.w, "swap %d (+%.2fs): loading %s failed: %v\n", n, at.Seconds(), to, err)
		return
	}
	// Wait for the migrations, but not past the point where they can no
	// longer come (the load stopped) or the next swap is due: on the clock
	// after half an interval, so that a slow trickle of messages does not
	// delay it; by count when the next count is reached (its sender waits
	// for that swap, so waiting on here could stall the load).
	var limit <-chan time.Time
	next := func() bool { return false }
	if d.o.SwapEvery == 0 {
		t := time.NewTimer(d.o.Interval / 2)
		defer t.Stop()
		limit = t.C
	} else {
		due := int64(n+1) * d.o.SwapEvery
		next = func() bool { return d.sent.Load() >= due }
	}
	moved := d.track.await(to.Name(), len(d.pids), d.loadDone, limit, d.sentPoke, next)
	took := time.Since(loaded)

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	fmt.Fprintf(d.w, "swap %d (+%.2fs): %s %s -> %s (%s); %d/%d processes on %s after %v\n",
		n, at.Seconds(), counter.Module, from.Name(), to.Name(), kind, moved, len(d.pids), to.Name(), took.Round(time.Microsecond))
	d.printVersions(d.versions(ctx))
}

// versions asks each counter which version it runs. The request goes
// through the system lane, so it does not make the counter migrate.
func (d *demo) versions(ctx context.Context) map[actor.PID]string {
	out := make(map[actor.PID]string, len(d.pids))
	for _, pid := range d.pids {
		info, err := d.sys.Info(ctx, pid)
		if err != nil {
			d.log.Warn("process info", zap.Stringer("pid", pid), zap.Error(err))
			out[pid] = "?"
			continue
		}
		out[pid] = info.Version
	}
	return out
}

// printVersions prints the version of each counter (a tally when there are
// many) and the module's activation counts.
func (d *demo) printVersions(versions map[actor.PID]string) {
	const listUpTo, perLine = 16, 4
	if len(d.pids) <= listUpTo {
		var line []string
		for i, pid := range d.pids {
			line = append(line, fmt.Sprintf("%s %v %s", name(i), pid, versions[pid]))
			if len(line) == perLine || i == len(d.pids)-1 {
				fmt.Fprintf(d.w, "  %s\n", strings.Join(line, "   "))
				line = line[:0]
			}
		}
	} else {
		tally := make(map[string]int)
		for _, v := range versions {
			tally[v]++
		}
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(tally)) {
			parts = append(parts, fmt.Sprintf("%d on %s", tally[v], v))
		}
		fmt.Fprintf(d.w, "  processes: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(d.w, "  %s\n", d.activations())
}

// name is the registered name of counter i.
func name(i int) string { return fmt.Sprintf("counter.%d", i+1) }

// activations describes the module's versions and their activation counts.
func (d *demo) activations() string {
	for _, m := range d.sys.Modules() {
		if m.Name != counter.Module {
			continue
		}
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(m.Activations)) {
			parts = append(parts, fmt.Sprintf("%s=%d", v, m.Activations[v]))
		}
		s := fmt.Sprintf("activations %s (current %s", strings.Join(parts, " "), m.Current)
		if m.Previous != "" {
			s += ", old " + m.Previous
		}
		return s + ")"
	}
	return "module " + counter.Module + " not loaded"
}

// summarise collects each counter's Stats. The load has stopped (every
// sender returned), so each Get queues behind everything sent to that
// counter and its answer counts all of it. The Get is also the counter's
// first message since the last swap, if the load stopped before it
// migrated: per-message pickup migrates it now.
func (d *demo) summarise(ctx context.Context, res *demoResult) error {
	res.Elapsed = time.Since(d.start)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	var err error
	if res.Handled, res.OutOfOrder, err = counter.Sum(cctx, d.sys, d.pids); err != nil {
		return err
	}
	res.Sent = d.sent.Load()
	res.DeadLetters = d.sys.DeadLetters()
	res.Lost = res.Sent - res.Handled - int64(res.DeadLetters)
	res.Migrations, res.MigrationFailures = d.track.migrations.Load(), d.track.failures.Load()
	cur, _ := d.sys.Current(counter.Module)
	res.Want = cur.Name()
	res.Final = d.versions(cctx)
	return nil
}

func (d *demo) printSummary(res demoResult, why string) {
	w := d.w
	fmt.Fprintf(w, "stopped (%s) after %.2fs; final versions:\n", why, res.Elapsed.Seconds())
	d.printVersions(res.Final)
	rate := float64(res.Sent) / res.Elapsed.Seconds()
	fmt.Fprintf(w, "summary:\n")
	fmt.Fprintf(w, "  swaps          %d (%d migrations, %d failed)\n", res.Swaps, res.Migrations, res.MigrationFailures)
	fmt.Fprintf(w, "  sent           %d (%d senders, %.0f msg/s)\n", res.Sent, d.o.Senders, rate)
	fmt.Fprintf(w, "  handled        %d\n", res.Handled)
	fmt.Fprintf(w, "  dead letters   %d\n", res.DeadLetters)
	fmt.Fprintf(w, "  out of order   %d\n", res.OutOfOrder)
	switch {
	case res.Lost == 0:
		fmt.Fprintf(w, "  lost           0 lost\n")
	case res.Lost > 0:
		fmt.Fprintf(w, "  lost           %d LOST\n", res.Lost)
	default:
		fmt.Fprintf(w, "  lost           0 lost, %d DUPLICATED\n", -res.Lost)
	}
	if p := res.problems(); p != "" {
		fmt.Fprintf(w, "FAILED: %s\n", p)
	} else {
		fmt.Fprintf(w, "OK: every message handled once, in order, across %d swap(s)\n", res.Swaps)
	}
}

// tracker follows, from the system's events, which version each counter
// runs, so the swapper can wait for the migrations instead of polling.
// observe runs on the migrating process's goroutine: it only updates a map
// and wakes the waiter.
type tracker struct {
	migrations, failures atomic.Int64

	mu      sync.Mutex
	version map[actor.PID]string // guarded by mu
	changed chan struct{}        // guarded by mu: closed and replaced on every migration
}

func newTracker() *tracker {
	return &tracker{version: make(map[actor.PID]string), changed: make(chan struct{})}
}

func (t *tracker) add(pid actor.PID, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.version[pid] = version
}

func (t *tracker) observe(e actor.Event) {
	switch e := e.(type) {
	case actor.Migrated:
		if e.Module != counter.Module {
			return
		}
		t.migrations.Add(1)
		t.mu.Lock()
		if _, ok := t.version[e.PID]; ok {
			t.version[e.PID] = e.To
		}
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
	case actor.MigrationFailed:
		if e.Module == counter.Module {
			t.failures.Add(1) // the runtime logs it
		}
	}
}

// await waits until all n tracked processes run version, or stop or limit
// fires, or poke fires and next reports true, and returns how many run it.
func (t *tracker) await(version string, n int, stop <-chan struct{}, limit <-chan time.Time,
	poke <-chan struct{}, next func() bool) int {
	for {
		t.mu.Lock()
		on := 0
		for _, v := range t.version {
			if v == version {
				on++
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if on >= n {
			return on
		}
		select {
		case <-changed:
		case <-stop:
			return on
		case <-limit:
			return on
		case <-poke:
			if next() {
				return on
			}
		}
	}
}

// counterGate is a number that only grows, with a wait for it to reach a
// value.
type counterGate struct {
	mu      sync.Mutex
	n       int64         // guarded by mu
	changed chan struct{} // guarded by mu: closed and replaced when n grows; nil until a waiter needs it
}

// set raises the number to n.
func (g *counterGate) set(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n > g.n {
		g.n = n
		if g.changed != nil {
			close(g.changed)
			g.changed = nil
		}
	}
}

// wait returns once the number is at least n, or ctx has ended.
func (g *counterGate) wait(ctx context.Context, n int64) {
	for {
		g.mu.Lock()
		if g.n >= n {
			g.mu.Unlock()
			return
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}
