package bench

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Sizes of the workloads as the benchmarks run them (see the package doc).
// Tests run the same code with small sizes.
const (
	FanInMessages    = 2_000_000
	PingPongPairs    = 1_000
	PingPongPerPair  = 1_000 // deliveries per pair: 1,000 pairs × 1,000 = 1,000,000
	CallRoundTrips   = 200_000
	SpawnActors      = 100_000
	waitLimit        = 5 * time.Minute // a run that takes longer than this is broken, not slow
	channelInboxSize = 256             // mailbox capacity of the goroutine-and-channel baseline
)

// Framework is one system under test, implementing the four workloads.
//
// Every function builds its own system, runs the workload once, tears the
// system down and leaves in *Run what was measured. Each marks its timed part
// with Run.Begin and Run.End, so that building and tearing down are not
// measured and every framework is timed over the same span.
type Framework struct {
	Name string
	// FanIn sends n messages from one goroutine to one actor (W1).
	FanIn func(r *Run, n int) error
	// PingPong bounces a ball perPair times within each of pairs pairs (W2).
	PingPong func(r *Run, pairs, perPair int) error
	// Call makes n sequential request/reply round trips, timing each with
	// Run.Record (W3).
	Call func(r *Run, n int) error
	// Spawn spawns n actors, sends one message to each, calls Run.Idle once
	// all n have handled it, then stops them all and waits until they have
	// stopped (W4).
	Spawn func(r *Run, n int) error
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
