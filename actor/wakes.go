package actor

import (
	"sync"
	"sync/atomic"
	"time"
)

// A process woken by a send from a handler (Context.Send to an idle
// process) does not get a goroutine of its own at once: it is held for
// the sender's goroutine, which runs it once the handler has returned, if
// the sender has nothing else to do then, or starts it otherwise (see
// process.handOff). A conversation between processes then runs on the
// goroutines it already has, as a channel's receiver is readied rather
// than created; starting and ending a goroutine per message cost more
// than the rest of a message's handling.
//
// A hold is bounded. The sender's handler may go on for long after the
// send, or wait for the woken process (a Go channel it closes, a
// WaitGroup): a timer on the real clock starts every wake held for at
// least wakeTick, so a woken process waits for its goroutine at most
// 2·wakeTick. A handler that waits through its System (Call, Stop, any
// request) starts what it holds before it waits.
const (
	wakeTick   = 250 * time.Microsecond
	wakeShards = 16
)

// wakeIdleTicks is how many ticks the timer goes on with nothing held
// before it stops: a conversation holds and lets go of wakes thousands of
// times a tick, and arming the timer again each time would cost more than
// the ticks.
const wakeIdleTicks = 4

type heldWake struct {
	carrier, woken *process
	tick           uint64
}

// wakeShard holds the wakes of the carriers whose PIDs fall in it. Each
// is a cache line: a carrier holds and takes in its own shard.
type wakeShard struct {
	mu   sync.Mutex
	n    atomic.Int32 // len(held), read without mu
	held []heldWake   // guarded by mu, in the order of the sends
	_    [24]byte
}

type wakes struct {
	shards [wakeShards]wakeShard
	// Written at most once per tick, read by every hold.
	tick   atomic.Uint64 // timer ticks so far
	armed  atomic.Bool   // the timer will tick; set by whoever arms it
	_      [52]byte
	mu     sync.Mutex
	timer  *time.Timer // guarded by mu; created by the first arming
	idle   int         // ticks in a row with nothing held; the timer's own
	closed bool        // guarded by mu; the system has stopped (idleWakes)
}

func (w *wakes) shard(p *process) *wakeShard { return &w.shards[p.id%wakeShards] }

// holdWake holds woken for p's goroutine. Owner only.
func (p *process) holdWake(woken *process) {
	w := &p.sys().wakes
	sh := w.shard(p)
	sh.mu.Lock()
	sh.held = append(sh.held, heldWake{carrier: p, woken: woken, tick: w.tick.Load()})
	sh.n.Store(int32(len(sh.held)))
	sh.mu.Unlock()
	p.starting = true
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		p.sys().armWakes(true)
	}
}

// armWakes starts the timer (arm), or stops it; the caller changed armed.
func (s *system) armWakes(arm bool) {
	w := &s.wakes
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !arm || w.closed:
		if w.timer != nil {
			w.timer.Stop()
		}
	case w.timer == nil:
		w.timer = time.AfterFunc(s.wakeTick, s.tickWakes)
	default:
		w.timer.Reset(s.wakeTick)
	}
}

// tickWakes runs on the timer: it starts every wake held since the tick
// before, and ticks again while wakes are held, and for a few ticks after.
func (s *system) tickWakes() {
	w := &s.wakes
	now := w.tick.Add(1)
	var buf [8]heldWake
	held := false
	for i := range w.shards {
		sh := &w.shards[i]
		if sh.n.Load() == 0 {
			continue
		}
		for _, h := range sh.take(func(h heldWake) bool { return h.tick+2 <= now }, buf[:0]) {
			go h.woken.run()
		}
		held = held || sh.n.Load() > 0
	}
	w.mu.Lock()
	if held {
		w.idle = 0
	} else {
		w.idle++
	}
	stop := w.idle >= wakeIdleTicks || w.closed
	if !stop {
		w.timer.Reset(s.wakeTick)
	}
	w.mu.Unlock()
	if stop {
		w.armed.Store(false)
		// A wake held after the shards were read finds armed false and
		// arms the timer itself, or this sees it and arms it (whoever
		// wins).
		if w.anyHeld() && w.armed.CompareAndSwap(false, true) {
			s.armWakes(true)
		}
	}
}

func (w *wakes) anyHeld() bool {
	for i := range w.shards {
		if w.shards[i].n.Load() > 0 {
			return true
		}
	}
	return false
}

// take removes the wakes that match and appends them to buf, in order.
func (sh *wakeShard) take(match func(heldWake) bool, buf []heldWake) []heldWake {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	kept := sh.held[:0]
	for _, h := range sh.held {
		if match(h) {
			buf = append(buf, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(sh.held[len(kept):])
	sh.held = kept
	sh.n.Store(int32(len(kept)))
	return buf
}

// takeWakes appends the processes p's goroutine holds to buf, in the
// order of the sends that woke them, and forgets them. Safe from any
// goroutine.
func (p *process) takeWakes(buf []*process) []*process {
	sh := p.sys().wakes.shard(p)
	if sh.n.Load() == 0 {
		return buf
	}
	var hb [4]heldWake
	for _, h := range sh.take(func(h heldWake) bool { return h.carrier == p }, hb[:0]) {
		buf = append(buf, h.woken)
	}
	return buf
}

// startHeld starts a goroutine for each wake p's goroutine holds: p is
// about to wait. Safe from any goroutine.
func (p *process) startHeld() {
	var buf [4]*process
	for _, q := range p.takeWakes(buf[:0]) {
		go q.run()
	}
}

// heldCount returns how many wakes are held.
func (w *wakes) heldCount() int {
	n := 0
	for i := range w.shards {
		n += int(w.shards[i].n.Load())
	}
	return n
}

// idleWakes starts whatever is still held (nothing, once every process
// has exited) and stops the timer: a stopped system leaves none behind.
func (s *system) idleWakes() {
	w := &s.wakes
	for i := range w.shards {
		for _, h := range w.shards[i].take(func(heldWake) bool { return true }, nil) {
			go h.woken.run()
		}
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	if w.armed.CompareAndSwap(true, false) {
		s.armWakes(false)
	}
}
