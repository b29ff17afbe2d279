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

type heldWake struct {
	carrier, woken *process
	tick           uint64
}

type wakeShard struct {
	mu   sync.Mutex
	held []heldWake // guarded by mu, in the order of the sends
	_    [32]byte   // a cache line each
}

type wakes struct {
	shards [wakeShards]wakeShard
	count  atomic.Int64  // wakes held in all shards
	tick   atomic.Uint64 // timer ticks so far
	armed  atomic.Bool   // the timer will tick; set by whoever arms it
	mu     sync.Mutex
	timer  *time.Timer // guarded by mu; created by the first arming
}

func (w *wakes) shard(p *process) *wakeShard { return &w.shards[p.pid.id%wakeShards] }

// holdWake holds woken for p's goroutine. Owner only.
func (p *process) holdWake(woken *process) {
	w := &p.sys.wakes
	sh := w.shard(p)
	sh.mu.Lock()
	sh.held = append(sh.held, heldWake{carrier: p, woken: woken, tick: w.tick.Load()})
	sh.mu.Unlock()
	p.starting = true
	w.count.Add(1)
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		p.sys.armWakes(true)
	}
}

// armWakes starts the timer (arm), or stops it; the caller changed armed.
func (s *system) armWakes(arm bool) {
	w := &s.wakes
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !arm:
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
// before, and ticks again while any wake is held.
func (s *system) tickWakes() {
	w := &s.wakes
	now := w.tick.Add(1)
	var buf [8]heldWake
	for i := range w.shards {
		for _, h := range w.shards[i].take(func(h heldWake) bool { return h.tick+2 <= now }, &w.count, buf[:0]) {
			go h.woken.run()
		}
	}
	w.armed.Store(false)
	// A wake held after the count was read finds armed false and arms the
	// timer itself, or this sees its count and arms it (whoever wins).
	if w.count.Load() > 0 && w.armed.CompareAndSwap(false, true) {
		s.armWakes(true)
	}
}

// take removes the wakes that match and appends them to buf, in order.
func (sh *wakeShard) take(match func(heldWake) bool, count *atomic.Int64, buf []heldWake) []heldWake {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := len(buf)
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
	count.Add(-int64(len(buf) - n))
	return buf
}

// takeWakes appends the processes p's goroutine holds to buf, in the
// order of the sends that woke them, and forgets them. Safe from any
// goroutine.
func (p *process) takeWakes(buf []*process) []*process {
	w := &p.sys.wakes
	if w.count.Load() == 0 {
		return buf
	}
	var hb [4]heldWake
	for _, h := range w.shard(p).take(func(h heldWake) bool { return h.carrier == p }, &w.count, hb[:0]) {
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

// idleWakes starts whatever is still held (nothing, once every process
// has exited) and stops the timer: a stopped system leaves none behind.
func (s *system) idleWakes() {
	w := &s.wakes
	for i := range w.shards {
		for _, h := range w.shards[i].take(func(heldWake) bool { return true }, &w.count, nil) {
			go h.woken.run()
		}
	}
	if w.armed.CompareAndSwap(true, false) {
		s.armWakes(false)
	}
}
