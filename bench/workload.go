package bench

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Sizes of the workloads as the benchmarks run them (see the package doc).
// Tests run the same code with small sizes.
const (
	FanInMessages   = 2_000_000
	PingPongPairs   = 1_000
	PingPongPerPair = 1_000 // deliveries per pair: 1,000 pairs × 1,000 = 1,000,000
	CallRoundTrips  = 200_000
	SpawnActors     = 100_000
	RestartMessages = 100_000
	// RestartEvery: the W5 worker panics on every RestartEvery-th message
	// (messages RestartEvery-1, 2·RestartEvery-1, ...), 10,000 of 100,000.
	RestartEvery = 10
	// PacedRestartMessages is W5p's count: W5 sent one message at a time
	// (see Run.Paced), 2,000 restarts.
	PacedRestartMessages = 20_000
	// pacedWait is how long W5p's sender waits for a message to be handled
	// or reported before it sends the next one anyway: a framework that
	// loses a message would otherwise stop the run.
	pacedWait = time.Millisecond
	// restartIntensity is the restart limit given to every framework that
	// has one, far above the 10,000 crashes of a run: W5 measures restarts,
	// not a supervisor giving up.
	restartIntensity = 1_000_000
	waitLimit        = 5 * time.Minute // a run that takes longer than this is broken, not slow
	channelInboxSize = 256             // mailbox capacity of the goroutine-and-channel baseline
)

// Framework is one system under test, implementing the five workloads.
//
// Every function builds its own system, runs the workload once, tears the
// system down and leaves in *Run what was measured. Each marks its timed part
// with Run.Begin and Run.End, so that building and tearing down are not
// measured and every framework is timed over the same span.
type Framework struct {
	Name string
	// FanIn sends n messages of the given shape from one goroutine to one
	// actor (W1, W1s).
	FanIn func(r *Run, n int, shape FanInShape) error
	// PingPong bounces a ball perPair times within each of pairs pairs (W2).
	PingPong func(r *Run, pairs, perPair int) error
	// Call makes n sequential request/reply round trips, timing each with
	// Run.Record (W3).
	Call func(r *Run, n int) error
	// Spawn spawns n actors, sends one message to each, calls Run.Idle once
	// all n have handled it, then stops them all and waits until they have
	// stopped (W4).
	Spawn func(r *Run, n int) error
	// Restart sends n messages from one goroutine to one supervised worker,
	// registered under a name, that panics on every RestartEvery-th message
	// sent (see RestartEvery) that reaches it (W5; one at a time when
	// r.Paced, W5p); it fills in the W5 fields of Run through a
	// restartProbe.
	Restart func(r *Run, n int) error
}

// Frameworks returns every framework under test, the baseline first.
func Frameworks() []Framework {
	return []Framework{
		channelFramework(),
		graftFramework(),
		hollywoodFramework(),
		protoactorFramework(),
		ergoFramework(),
	}
}

// FanInShape is what the fan-in sender sends (W1 or W1s). Either way it
// sends as fast as each send returns, so with an unbounded mailbox it runs
// far ahead of the receiver.
type FanInShape uint8

const (
	// FanInInts is W1: the ints 0, 1, ..., n-1. Boxing an int of 256 or
	// more allocates 8 bytes, which the runtime's tiny allocator packs two
	// to a 16-byte block.
	FanInInts FanInShape = iota
	// FanInStructs is W1s: a small struct (fanInMsg, 16 bytes) per message,
	// as a service would send; boxing it allocates one 16-byte object.
	FanInStructs
)

// fanInMsg is W1s's message.
type fanInMsg struct {
	Seq  uint64
	From uint32
	Kind uint16
}

// Run is what one execution of a workload measured.
type Run struct {
	// Elapsed is the time spent between Begin and End, less the memory
	// measurement in Idle.
	Elapsed time.Duration
	// RoundTrips holds each W3 round trip, in order.
	RoundTrips []time.Duration
	// Before and IdleMem are memory in use after a full GC: when Begin was
	// called, and when Idle was called (W4 only).
	Before, IdleMem MemInUse

	// W5 (Restart): restarts done, each restart's latency (crash → the
	// next incarnation handling its first message), and what became of the
	// n messages sent: handled, reported (the send failed with an error, or
	// the framework reported the message as a dead letter with a reason),
	// lost (neither: sent, accepted, and never seen again).
	Restarts                int
	RestartLatencies        []time.Duration
	Handled, Reported, Lost int
	// Paced is set by the caller for W5p: the sender sends each message
	// once the one before it is handled or reported (or after pacedWait),
	// so that a restart's latency is the restart's alone, not time spent
	// behind a backlog.
	Paced bool

	started time.Time
}

// Begin starts the clock: the system under test is built and nothing of the
// workload has happened yet. It also records the memory in use, which is what
// W4 subtracts; the GC that needs runs before the clock starts.
//
// First, Begin returns the free heap to the operating system, so that every
// run starts from the same state whatever ran before it. Touching fresh
// memory is slow on these VMs (12–35 µs per 4 KiB page), and without this a
// run that follows one that grew the heap (hollywood's W4 allocates 2.8 GB)
// reuses those pages and comes out several times faster: W4 actors/s then
// depended more on the order of the runs than on the framework.
func (r *Run) Begin() {
	debug.FreeOSMemory()
	r.Before = readMemInUse()
	r.started = time.Now()
}

// Idle pauses the clock while it records the memory in use (W4: every actor
// spawned, each has handled its message and waits for the next).
func (r *Run) Idle() {
	r.Elapsed += time.Since(r.started)
	r.IdleMem = readMemInUse()
	r.started = time.Now()
}

// End stops the clock.
func (r *Run) End() {
	r.Elapsed += time.Since(r.started)
}

// EndAt stops the clock at t, a time taken after Begin (W5: when the worker
// handled the end marker, rather than when the sender noticed).
func (r *Run) EndAt(t time.Time) {
	r.Elapsed += t.Sub(r.started)
}

// Record appends one timed round trip (W3).
func (r *Run) Record(d time.Duration) {
	r.RoundTrips = append(r.RoundTrips, d)
}

// MemInUse is the memory held by live heap objects and by goroutine stacks.
type MemInUse struct {
	Heap, Stack uint64
}

// readMemInUse runs a full GC first, so that only memory still reachable counts.
func readMemInUse() MemInUse {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemInUse{Heap: ms.HeapAlloc, Stack: ms.StackInuse}
}

// PerActor is the growth in memory between Begin and Idle, divided by n:
// heap plus stacks, and heap alone. A framework that frees memory it held
// before Begin can come out below zero; that is reported as it is.
func (r *Run) PerActor(n int) (total, heap float64) {
	dh := float64(r.IdleMem.Heap) - float64(r.Before.Heap)
	ds := float64(r.IdleMem.Stack) - float64(r.Before.Stack)
	return (dh + ds) / float64(n), dh / float64(n)
}

// ball is the W2 message: the number of deliveries left in this pair,
// counting this one, and the actor to send it back to. P is the framework's
// address type.
type ball[P any] struct {
	left int
	from P
}

// latch lets one goroutine wait until count events have happened on any
// goroutines. It is a WaitGroup with a deadline, which the benchmarks need so
// that a lost message fails the run instead of hanging it.
type latch struct {
	left atomic.Int64
	done chan struct{}
}

func newLatch(count int) *latch {
	l := &latch{done: make(chan struct{})}
	l.left.Store(int64(count))
	if count == 0 {
		close(l.done)
	}
	return l
}

// arrive records one event; the one that brings the count to zero releases
// the waiter.
func (l *latch) arrive() {
	if l.left.Add(-1) == 0 {
		close(l.done)
	}
}

// wait returns nil once every event has arrived, or an error naming what
// after waitLimit.
func (l *latch) wait(what string) error {
	t := time.NewTimer(waitLimit)
	defer t.Stop()
	select {
	case <-l.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: %d still missing after %v", what, l.left.Load(), waitLimit)
	}
}

// W5: restarts under a supervisor.
//
// restartProbe is shared by every incarnation of the W5 worker and by the
// sender. It keeps a ledger of the n messages (handled by the worker,
// reported by the framework, or neither), counts incarnations, and times
// each restart from the crash (a timestamp taken in the handler just before
// it panics) to the next incarnation handling its first message. The worker
// is one goroutine at a time, but its incarnations run on different
// goroutines and the ledger is also written by the sender and by dead-letter
// hooks, so everything here is atomic or under mu.
type restartProbe struct {
	n      int
	ledger []atomic.Uint32 // per message: handledBit | reportedBit

	incarnations atomic.Int64
	base         time.Time    // monotonic origin of crashAt
	crashAt      atomic.Int64 // ns since base of a crash not yet followed by a first message; 0: none
	anomalies    atomic.Int64 // a message handled twice, or both handled and reported

	mu        sync.Mutex
	latencies []time.Duration // guarded by mu

	done     chan struct{} // closed when the worker handles restartDone
	doneOnce sync.Once
	doneAt   time.Time // set before done is closed
}

const (
	handledBit  = 1
	reportedBit = 2
)

// restartDone is the end marker: sent after the n messages, again and again
// until a worker handles it (a worker that is down may drop it).
type restartDone struct{}

// restartCrash is what the worker panics with.
type restartCrash struct{ msg int }

func (c restartCrash) String() string { return fmt.Sprintf("W5 crash on message %d", c.msg) }

func newRestartProbe(n int) *restartProbe {
	return &restartProbe{n: n, ledger: make([]atomic.Uint32, n), base: time.Now(), done: make(chan struct{})}
}

// restartWorker is one incarnation of the W5 worker.
type restartWorker struct {
	p    *restartProbe
	seen bool // has handled a message
}

// incarnate is called by each framework wherever it builds a new incarnation
// (Init, a producer or factory, a new goroutine).
func (p *restartProbe) incarnate() *restartWorker {
	p.incarnations.Add(1)
	return &restartWorker{p: p}
}

// handle is the W5 handler: it records the message and panics on every
// RestartEvery-th one. The panicking message counts as handled.
func (w *restartWorker) handle(msg any) {
	if !w.seen {
		w.seen = true
		w.p.firstMessage()
	}
	switch m := msg.(type) {
	case int:
		w.p.mark(m, handledBit)
		if m%RestartEvery == RestartEvery-1 {
			w.p.crashAt.Store(int64(time.Since(w.p.base)) | 1) // never 0
			panic(restartCrash{msg: m})
		}
	case restartDone:
		w.p.doneOnce.Do(func() {
			w.p.doneAt = time.Now()
			close(w.p.done)
		})
	}
}

// firstMessage closes the restart that a crash opened, if one is open.
func (p *restartProbe) firstMessage() {
	if c := p.crashAt.Swap(0); c != 0 {
		d := time.Since(p.base) - time.Duration(c)
		p.mu.Lock()
		p.latencies = append(p.latencies, d)
		p.mu.Unlock()
	}
}

// mark sets bit for message i. A message handled twice, or both handled and
// reported, is an anomaly that fails the run.
func (p *restartProbe) mark(i int, bit uint32) {
	if i < 0 || i >= p.n {
		return
	}
	old := p.ledger[i].Or(bit)
	if (bit == handledBit && old != 0) || (bit == reportedBit && old&handledBit != 0) {
		p.anomalies.Add(1)
	}
}

// reported records that message i (if msg is one of the n) was reported as
// not delivered: a send that returned an error, or a dead letter.
func (p *restartProbe) reported(msg any) {
	if i, ok := msg.(int); ok {
		p.mark(i, reportedBit)
	}
}

// drive is W5's timed part, the same for every framework: Begin, send the n
// messages through send as fast as it returns (an error marks the message
// reported; nothing is retried), then send the end marker until a worker
// has handled it, and stop the clock at that moment. Everything sent before
// the marker was handled by then or dropped with its incarnation. It fills
// in the W5 fields of r. With r.Paced (W5p), each message is sent once the
// one before it has been handled or reported (see awaitMessage).
func (p *restartProbe) drive(r *Run, send func(msg any) error) error {
	r.Begin()
	for i := range p.n {
		if send(i) != nil {
			p.mark(i, reportedBit)
		} else if r.Paced {
			p.awaitMessage(i)
		}
	}
	if err := p.awaitDone(send); err != nil {
		r.End()
		return err
	}
	r.EndAt(p.doneAt)
	return p.settle(r)
}

// awaitMessage waits until message i is handled or reported, or for
// pacedWait. It spins (yielding) rather than blocks: W5p measures
// restarts of a few µs, which a sleeping sender would dwarf. The crash
// message itself is marked handled just before the worker panics, so the
// next message is sent while the restart is under way: it lands in the
// crashed worker's mailbox, in the gap, or at the replacement, and the
// replacement's first message closes the restart's latency.
func (p *restartProbe) awaitMessage(i int) {
	deadline := time.Now().Add(pacedWait)
	for p.ledger[i].Load() == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
}

// awaitDone sends the end marker until it is handled: again after 20 µs,
// then after twice as long each time, up to every millisecond. A failed send
// is ignored: the worker is down, and a later try finds the next
// incarnation. Resending soon keeps the wait for the marker out of the last
// restart's latency when the sender has nothing else left to send; backing
// off keeps a slow worker from being flooded with markers.
func (p *restartProbe) awaitDone(send func(msg any) error) error {
	deadline := time.Now().Add(waitLimit)
	wait := 20 * time.Microsecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		_ = send(restartDone{})
		select {
		case <-p.done:
			return nil
		case <-t.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restart: end marker not handled after %v", waitLimit)
		}
		wait = min(2*wait, time.Millisecond)
		t.Reset(wait)
	}
}

// settle counts the ledger into r. Called once the end marker was handled.
func (p *restartProbe) settle(r *Run) error {
	r.Restarts = int(p.incarnations.Load()) - 1
	r.Handled, r.Reported, r.Lost = 0, 0, 0
	for i := range p.ledger {
		switch v := p.ledger[i].Load(); {
		case v&handledBit != 0:
			r.Handled++
		case v&reportedBit != 0:
			r.Reported++
		default:
			r.Lost++
		}
	}
	p.mu.Lock()
	r.RestartLatencies = append(r.RestartLatencies, p.latencies...)
	p.mu.Unlock()
	if a := p.anomalies.Load(); a > 0 {
		return fmt.Errorf("restart: %d messages handled twice or both handled and reported", a)
	}
	if r.Restarts < 0 {
		return errors.New("restart: no incarnation counted")
	}
	return nil
}
