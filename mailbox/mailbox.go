package mailbox

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Errors returned by pushes. Use errors.Is.
var (
	// ErrFull is returned by PushUser on a bounded mailbox with the Reject
	// policy when Capacity user messages are already queued.
	ErrFull = errors.New("mailbox: full")
	// ErrClosed is returned by every push after Close.
	ErrClosed = errors.New("mailbox: closed")
)

// Policy says what a bounded mailbox does with a push when it is full.
type Policy uint8

const (
	// Reject refuses the new message: PushUser returns ErrFull.
	Reject Policy = iota
	// DropOldest evicts the oldest queued user message to make room and
	// returns it from PushUser, so the caller can report it as a dead letter.
	DropOldest
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case Reject:
		return "reject"
	case DropOldest:
		return "drop_oldest"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// Lane tells which lane a message came from.
type Lane uint8

const (
	// User is the lane of ordinary messages.
	User Lane = iota
	// System is the lane of signals, always served first.
	System
)

// Options configures a Mailbox. The zero value is an unbounded mailbox.
type Options struct {
	// Capacity bounds the user lane; 0 (the default) means unbounded.
	// A negative Capacity is treated as 0.
	Capacity int
	// Overflow is the policy of a bounded mailbox when full; the default is
	// Reject. Ignored when Capacity is 0.
	Overflow Policy
}

// Mailbox is a two-lane queue with one consumer (its owner) and any number
// of producers. The zero value is an idle, unbounded mailbox ready for use.
// A Mailbox must not be copied after first use.
type Mailbox struct {
	// Shared with producers, read on every push and (state, sysLen) by
	// the owner on every message; written rarely (state at each
	// idle/running change, sysLen per signal, tail once per segment).
	state  atomic.Uint32 // stRunning | stSuspended | stClosed | stBounded
	sysLen atomic.Int32  // the length of sys, so the owner skips the lock when it is 0
	// tail is the unbounded lane's segment producers reserve in; nil
	// before the first push (see lane.go).
	tail atomic.Pointer[segment]

	mu  sync.Mutex
	sys sysQueue // guarded by mu
	// x holds what few mailboxes need (see extra): nil until one of its
	// fields is. Set by the owner, or before the mailbox is shared.
	x atomic.Pointer[extra]

	// claimed is the position up to which the owner has taken the lane
	// on (claimDone once CloseForeign took the rest). Written by the
	// owner, read by CloseForeign under mu.
	claimed atomic.Uint64
	// head is the segment the owner reads, at or before claimed, which
	// it has not let go of; nil before the first push, which sets it to
	// the inline segment. Written under mu (by the owner, or the first
	// push), read by CloseForeign under mu and by the owner.
	head atomic.Pointer[segment]
	// published is taken as of the owner's last slow-path pass, for Depth
	// and Taken: the owner's fast path does not publish.
	published atomic.Uint64

	// Owner only. slot0 and nslots are head's slots (see setHead, slot),
	// nslots 0 until the owner has taken head on (first); hi is the next
	// of them to read.
	slot0  *slot
	hi     int32
	nslots uint16
	// ownSuspended is the owner's copy of stSuspended; special says the
	// mailbox is bounded or has insertions (the fast path in next is for
	// neither).
	ownSuspended, special bool
	pos                   uint64 // position of the next lane message
	taken                 uint64 // user messages ever taken

	inline      segment
	inlineSlots [inlineSlots]slot
}

// extra is what few mailboxes need, apart so that every other mailbox is
// smaller (an idle process is mostly its mailbox).
type extra struct {
	// b is the bounded lane, nil when the mailbox is unbounded (set by
	// Configure, before the mailbox is shared). Guarded by mu.
	b *boundedLane
	// spares are passed segments, whose slots the next segments a
	// producer links reuse, linked through next (at most maxSpares; one
	// once idle). Written under mu; the owner looks without it.
	spares atomic.Pointer[segment]
	// adopted holds the lane's first position and the one Pushed counts
	// from, when Adopt made them other than 0. Set before the mailbox is
	// shared.
	adopted atomic.Pointer[adoption]
	ins     *overlay // the owner's insertions; nil when empty
}

// more returns the mailbox's extra, allocating it at the first need (the
// owner does, or a caller before the mailbox is shared).
func (m *Mailbox) more() *extra {
	if x := m.x.Load(); x != nil {
		return x
	}
	m.x.CompareAndSwap(nil, new(extra))
	return m.x.Load()
}

// bounded returns the bounded lane, nil when the mailbox is unbounded.
func (m *Mailbox) bounded() *boundedLane {
	if x := m.x.Load(); x != nil {
		return x.b
	}
	return nil
}

// spare returns the first spare segment, nil when there is none.
func (m *Mailbox) spare() *segment {
	if x := m.x.Load(); x != nil {
		return x.spares.Load()
	}
	return nil
}

// adoption returns what Adopt changed in the positions, nil when nothing.
func (m *Mailbox) adoption() *adoption {
	if x := m.x.Load(); x != nil {
		return x.adopted.Load()
	}
	return nil
}

// ins returns the owner's insertions, nil when there are none. Owner only.
func (m *Mailbox) ins() *overlay {
	if x := m.x.Load(); x != nil {
		return x.ins
	}
	return nil
}

// setIns replaces the owner's insertions. Owner only.
func (m *Mailbox) setIns(o *overlay) {
	if o == nil && m.x.Load() == nil {
		return
	}
	x := m.more()
	x.ins = o
	m.special = x.b != nil || o != nil
}

// adoption is what Adopt changed in a mailbox's positions. sealedTo is the
// lane's end when Adopt took a Backlog's lane over: a slot below it that is
// still empty when the owner reaches it was reserved by a producer of the
// closed mailbox, which nobody will schedule us for: it is refused, as in a
// sealed segment (see lane.go).
type adoption struct{ start, origin, sealedTo uint64 }

// overlay is the owner's list of insertions, in position order.
type overlay struct{ q []insertion }

// State bits.
const (
	stRunning   uint32 = 1 << iota // the owner is consuming (or has been told to start)
	stSuspended                    // the user lane is not served
	stClosed
	// stBounded: the user lane is bounded (Configure), so that a push
	// reads it in the word it reads anyway rather than in extra, which
	// may share a cache line with what the owner writes per message.
	stBounded
)

// claimDone marks claimed once CloseForeign has taken the lane beyond it.
const claimDone = uint64(1) << 63

// boundedLane is the user lane of a mailbox with a capacity: a queue under
// the mailbox's lock, so that a push sees the true length and DropOldest
// evicts the true oldest message.
type boundedLane struct {
	in       queue[any]
	pushed   uint64 // user messages ever queued
	evicted  uint64 // user messages ever evicted by DropOldest
	capacity int
	policy   Policy
	// pinned counts the messages in in that the runtime put there for a
	// signal (PushUserAlways, InsertUser): they are held as pinnedMsg, do
	// not count towards the capacity and are never evicted.
	pinned int
}

// Configure sets the mailbox's options. It must be called by the owner
// before the mailbox is shared with producers.
func (m *Mailbox) Configure(o Options) {
	if o.Capacity > 0 {
		m.more().b = &boundedLane{capacity: o.Capacity, policy: o.Overflow}
		m.state.Or(stBounded)
	} else {
		if x := m.x.Load(); x != nil {
			x.b = nil
		}
		m.state.And(^stBounded)
	}
	m.special = m.bounded() != nil || m.ins() != nil
}

// Capacity returns the bound of the user lane, 0 when unbounded.
func (m *Mailbox) Capacity() int {
	if b := m.bounded(); b != nil {
		return b.capacity
	}
	return 0
}

// PushUser appends msg to the user lane. schedule reports whether the caller
// must start the owner. With DropOldest, evicted is the message dropped to
// make room (nil when none was). err is ErrClosed after Close, or ErrFull
// when a Reject mailbox is full; the message was not queued then.
func (m *Mailbox) PushUser(msg any) (schedule bool, evicted any, err error) {
	if s := m.state.Load(); s&(stBounded|stClosed) != 0 {
		if s&stBounded != 0 {
			return m.pushBounded(msg, false)
		}
		return false, nil, ErrClosed
	}
	if err := m.push(msg); err != nil {
		return false, nil, err
	}
	return m.wake(), nil, nil
}

// wake is what a push does once its message is in the lane: it starts the
// owner if the owner is idle and may take user messages (a suspended owner
// is not woken for them: it would find nothing it may take; Resume picks
// them up). The message is visible before state is read, and the owner
// clears stRunning before it looks at the lane a last time (goIdle), so
// at least one of them sees the other.
func (m *Mailbox) wake() bool {
	for {
		s := m.state.Load()
		if s&(stRunning|stSuspended|stClosed) != 0 {
			return false
		}
		if m.state.CompareAndSwap(s, s|stRunning) {
			return true
		}
	}
}

// wakeAny is wake for a system message: a suspended owner is started too.
func (m *Mailbox) wakeAny() bool {
	for {
		s := m.state.Load()
		if s&(stRunning|stClosed) != 0 {
			return false
		}
		if m.state.CompareAndSwap(s, s|stRunning) {
			return true
		}
	}
}

// pushBounded is PushUser (always false) and PushUserAlways (always true)
// for a bounded mailbox.
func (m *Mailbox) pushBounded(msg any, always bool) (schedule bool, evicted any, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Load()&stClosed != 0 {
		return false, nil, ErrClosed
	}
	b := m.bounded()
	if always {
		b.pinned++
		msg = pinnedMsg{msg}
	} else if b.in.len()-b.pinned >= b.capacity {
		if b.policy != DropOldest {
			return false, nil, ErrFull
		}
		evicted = b.evict()
	}
	b.in.push(msg)
	b.pushed++
	return m.wake(), evicted, nil
}

// evict removes the oldest user message that is not pinned: the user
// lane is full, so there is one.
func (b *boundedLane) evict() any {
	b.evicted++
	if b.pinned == 0 {
		return b.in.pop()
	}
	for i := b.in.head; i < len(b.in.buf); i++ {
		if _, ok := b.in.buf[i].(pinnedMsg); !ok {
			return b.in.removeAt(i - b.in.head)
		}
	}
	panic("mailbox: full user lane holds only pinned messages")
}

// pinnedMsg holds, in a bounded mailbox, a message the runtime queued for
// a signal: it never counts towards the capacity and is never evicted.
type pinnedMsg struct{ msg any }

// pop takes the oldest message of a bounded lane; it is not empty.
func (b *boundedLane) pop() any {
	msg := b.in.pop()
	if p, ok := msg.(pinnedMsg); ok {
		b.pinned--
		return p.msg
	}
	return msg
}

// drain returns the queued messages in order and empties the lane.
func (b *boundedLane) drain(dst []any) []any {
	dst = unpin(b.in.drain(dst))
	b.pinned = 0
	return dst
}

// unpin replaces pinned messages by what they hold, in place.
func unpin(msgs []any) []any {
	for i, msg := range msgs {
		if p, ok := msg.(pinnedMsg); ok {
			msgs[i] = p.msg
		}
	}
	return msgs
}

// PushUserAlways appends msg to the user lane even when a bounded mailbox
// is full. The runtime uses it for signals converted to messages (a
// monitor's down notice), which must never be refused: the capacity bounds
// the other user messages only, so msg does not count towards it and a
// DropOldest mailbox never evicts it. schedule and err are as for
// PushUser.
func (m *Mailbox) PushUserAlways(msg any) (schedule bool, err error) {
	if m.state.Load()&stBounded != 0 {
		schedule, _, err = m.pushBounded(msg, true)
		return schedule, err
	}
	schedule, _, err = m.PushUser(msg)
	return schedule, err
}

// PushSystem appends msg to the system lane, which is unbounded. schedule
// reports whether the caller must start the owner. err is ErrClosed after
// Close.
func (m *Mailbox) PushSystem(msg any) (schedule bool, err error) {
	return m.PushSystemMarked(msg, nil)
}

// PushSystemMarked is PushSystem for a message that may take its place in
// the user lane when the owner handles it (InsertUser: a trapped exit).
// Unless at is nil, *at receives the message's mark, the point in the user
// lane at which it arrives, before the owner can take msg: msg usually
// holds at, so that the mark travels with the message (a mailbox does not
// keep one for every process).
func (m *Mailbox) PushSystemMarked(msg any, at *Mark) (schedule bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Load()&stClosed != 0 {
		return false, ErrClosed
	}
	if at != nil {
		*at = Mark(m.pushedMark())
	}
	m.sys.push(msg)
	m.sysLen.Add(1)
	return m.wakeAny(), nil
}

// pushedMark is the mark of a system message arriving now: the position
// of the next user message. mu is held.
func (m *Mailbox) pushedMark() uint64 {
	if b := m.bounded(); b != nil {
		return b.pushed
	}
	return m.laneEnd()
}

// Next returns the next message for the owner: a system message if there is
// one, else (unless suspended) the oldest user message. ok == false means
// there is nothing the owner may take; the mailbox is idle from then on and
// the owner must stop until a push reports schedule again.
func (m *Mailbox) Next() (msg any, lane Lane, ok bool) { return m.next(true) }

// Peek is Next, except that when there is nothing to take it leaves the
// mailbox running (no push will schedule the owner), so the owner may look
// again soon, e.g. after yielding, before calling Next to go idle.
func (m *Mailbox) Peek() (msg any, lane Lane, ok bool) { return m.next(false) }

func (m *Mailbox) next(idle bool) (msg any, lane Lane, ok bool) {
	if !m.ownSuspended && !m.special {
		// Fast path: the next slot of the owner's segment, written and
		// claimed, when no signal waits; no lock, no atomic write. The
		// slot is read before the system lane's length (see takeLane).
		if i := int(m.hi); m.pos < m.claimedTo() && i < int(m.nslots) {
			if s := m.slot(i); s.state.Load() == slotReady && m.sysLen.Load() == 0 {
				msg = s.msg
				if m.slot0 == &m.inlineSlots[0] {
					s.msg = nil
				}
				m.hi++
				m.pos++
				m.taken++
				return msg, User, true
			}
		}
	}
	for retook := false; ; {
		if m.sysLen.Load() != 0 {
			m.mu.Lock()
			if !m.sys.empty() {
				msg = m.sys.pop()
				m.sysLen.Add(-1)
				m.publish()
				m.mu.Unlock()
				return msg, System, true
			}
			m.mu.Unlock()
		}
		if !m.ownSuspended {
			if msg, ok = m.takeUser(); ok {
				return msg, User, true
			}
			if m.sysLen.Load() != 0 {
				continue // a signal came meanwhile: it goes first
			}
		}
		if !idle {
			return nil, User, false
		}
		if retook {
			// The last look saw a push reserved but not yet written:
			// let its producer run before looking again.
			runtime.Gosched()
		}
		m.tidy()
		m.publish()
		if m.goIdle() {
			return nil, User, false
		}
		retook = true
	}
}

// takeUser takes the next user message, through the lock when bounded.
// It takes none while a signal waits, also one that arrived after the
// caller looked at the system lane: a message pushed after a signal never
// overtakes it. Owner only; the user lane is not suspended.
func (m *Mailbox) takeUser() (msg any, ok bool) {
	if b := m.bounded(); b != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if b.in.len() == 0 || m.sysLen.Load() != 0 {
			return nil, false
		}
		m.taken++
		m.publish()
		return b.pop(), true
	}
	if msg, ok = m.takeLane(); ok {
		m.taken++
		m.publish()
	}
	return msg, ok
}

// goIdle clears stRunning, then looks once more for work the owner may
// take: a push that came in between did not schedule the owner (it saw
// stRunning). If there is some, it sets stRunning again unless someone
// else did (that push's caller starts a new owner), and reports false
// when the owner must go on. Owner only.
//
// Once stRunning is clear, a new owner may be running: the last look uses
// only what is shared (the system lane's length, the lane's reserved end,
// the bounded lane under the lock), against what the owner had taken when
// it let go.
func (m *Mailbox) goIdle() bool {
	suspended, pos := m.ownSuspended, m.pos
	for {
		s := m.state.Load()
		if m.state.CompareAndSwap(s, s&^stRunning) {
			break
		}
	}
	if !m.workSince(suspended, pos) {
		return true
	}
	for {
		s := m.state.Load()
		if s&(stRunning|stClosed) != 0 {
			return true // started by a push: that owner takes it
		}
		if m.state.CompareAndSwap(s, s|stRunning) {
			return false
		}
	}
}

// workSince reports whether there is a system message, or (unless
// suspended) a user message reserved at or after position pos. Safe from
// any goroutine.
func (m *Mailbox) workSince(suspended bool, pos uint64) bool {
	b := m.bounded()
	switch {
	case m.sysLen.Load() != 0:
		return true
	case suspended:
		return false
	case b != nil:
		m.mu.Lock()
		defer m.mu.Unlock()
		return b.in.len() > 0
	}
	return m.laneEnd() > pos
}

// hasWork reports whether the owner may take a message now. Owner only.
func (m *Mailbox) hasWork() bool {
	if m.sysLen.Load() != 0 {
		return true
	}
	if m.ownSuspended {
		return false
	}
	if b := m.bounded(); b != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		return b.in.len() > 0
	}
	return m.laneReady()
}

// NextUser returns the next user message, but only when no system message
// is waiting and the user lane is not suspended; ok == false otherwise and
// when the lane is empty. It never marks the mailbox idle. The runtime uses
// it to gather a batch behind a message Next returned, without passing a
// signal that arrived meanwhile. Owner only.
func (m *Mailbox) NextUser() (msg any, ok bool) {
	if m.sysLen.Load() != 0 || m.ownSuspended {
		return nil, false
	}
	return m.takeUser()
}

// Mark identifies a position in the user lane: the point at which a
// system message arrived.
type Mark uint64

// InsertUser queues msg in the user lane at mark: after every user message
// that arrived before the mark and before every one that arrived after it.
// The runtime uses it for a signal that becomes a message (a trapped exit):
// the message takes the place the signal had when it arrived, so that a
// sender's signal and messages stay in the order it sent them. Like
// PushUserAlways it ignores the capacity and is never evicted. Owner only.
func (m *Mailbox) InsertUser(msg any, at Mark) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.publish()
	if m.state.Load()&stClosed != 0 {
		return
	}
	if b := m.bounded(); b != nil {
		// Queued user messages that arrived before the mark.
		ahead := int(max(int64(uint64(at)-m.taken-b.evicted), 0))
		b.pinned++
		b.in.insert(ahead, pinnedMsg{msg})
	} else {
		m.insert(uint64(at), msg)
	}
	// The queue now holds one message more than pushed-taken-evicted, and
	// (bounded) every mark from now on must count it as ahead: one fewer
	// taken does both (it is balanced when the owner takes the message).
	m.taken--
}

// Start marks the owner as running without a push, so that messages pushed
// while the owner is starting up queue without scheduling it. The owner
// later calls Next until it reports ok == false, or Idle.
func (m *Mailbox) Start() { m.state.Or(stRunning) }

// Acquire makes the caller the owner if the mailbox is idle (no owner is
// running or told to start, and it is not closed), and reports whether it
// did. The caller then acts for the owner, which lets a short piece of the
// owner's work run on the caller's goroutine instead of waking one, and
// ends with Idle (consuming on, as an owner does, while Idle reports
// false).
func (m *Mailbox) Acquire() bool {
	for {
		s := m.state.Load()
		if s&(stRunning|stClosed) != 0 {
			return false
		}
		if m.state.CompareAndSwap(s, s|stRunning) {
			return true
		}
	}
}

// Idle marks the mailbox idle unless it holds work the owner may take, and
// reports whether it did. When it returns false the owner must keep
// consuming.
func (m *Mailbox) Idle() bool {
	if m.hasWork() {
		return false
	}
	m.tidy()
	m.publish()
	return m.goIdle()
}

// Suspend stops the owner from taking user messages; the system lane still
// flows. Called by the owner only. Suspending twice is the same as once.
func (m *Mailbox) Suspend() {
	m.state.Or(stSuspended)
	m.ownSuspended = true
}

// Resume lets the owner take user messages again. Called by the owner only,
// while it is running (it is: it handles the resume request).
func (m *Mailbox) Resume() {
	m.state.And(^stSuspended)
	m.ownSuspended = false
}

// UserReady reports whether the owner may take user work now: no system
// message waits and the user lane is not suspended. Owner only.
func (m *Mailbox) UserReady() bool { return m.sysLen.Load() == 0 && !m.ownSuspended }

// Suspended reports whether the user lane is suspended. Owner only.
func (m *Mailbox) Suspended() bool { return m.ownSuspended }

// Len returns the number of queued user messages and system messages.
// Owner only.
func (m *Mailbox) Len() (user, system int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.bounded(); b != nil {
		return b.in.len(), int(m.sysLen.Load())
	}
	return int(m.laneEnd()-m.pos) + m.ins().len(), int(m.sysLen.Load())
}

// Depth returns the number of user messages queued, from any goroutine,
// without disturbing the owner: exact while the owner is idle; while it
// drains what it has taken on without the lock, the part it has handled
// still counts until its next slow-path pass (at most one batch high).
func (m *Mailbox) Depth() int {
	return int(max(int64(m.Pushed()-m.evicted()-m.published.Load()), 0))
}

// evicted is the number of user messages DropOldest evicted.
func (m *Mailbox) evicted() uint64 {
	b := m.bounded()
	if b == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return b.evicted
}

// Taken returns the number of user messages the owner has taken, as of its
// last slow-path pass (see Depth). Safe from any goroutine.
func (m *Mailbox) Taken() uint64 { return m.published.Load() }

// Pushed returns the number of user messages ever queued. Safe from any
// goroutine.
func (m *Mailbox) Pushed() uint64 {
	if b := m.bounded(); b != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		return b.pushed
	}
	var origin uint64
	if a := m.adoption(); a != nil {
		origin = a.origin
	}
	return m.laneEnd() - origin
}

// closeLocked marks the mailbox closed (every later push is refused) and
// returns the system messages. running is the new stRunning. mu is held.
func (m *Mailbox) closeLocked(running bool) (system []any) {
	for {
		s := m.state.Load()
		n := s | stClosed
		if running {
			n |= stRunning
		} else {
			n &^= stRunning
		}
		if m.state.CompareAndSwap(s, n) {
			break
		}
	}
	system = m.sys.drain()
	m.sysLen.Store(0)
	m.sealLane()
	return system
}

// drainOwnedLocked returns the user messages from the owner's position on,
// up to limit, and leaves the lane empty for the owner. mu is held, the
// lane sealed.
func (m *Mailbox) drainOwnedLocked(dst []any, limit uint64) []any {
	if b := m.bounded(); b != nil {
		return b.drain(dst)
	}
	if o := m.ins(); o != nil || m.pos < min(m.laneEnd(), limit) {
		// (Skipped when there is nothing to collect: most mailboxes close
		// empty, and collect's call is the one that would grow a fresh
		// goroutine's stack on the exit path.)
		dst = collect(dst, m.first(), int(m.hi), m.pos, limit, o.list())
	}
	m.setIns(nil)
	if t := m.tail.Load(); t != nil {
		m.setHead(t, int(t.ends()))
		m.pos = t.base.Load() + t.ends()
	}
	return dst
}

// Close refuses every later push with ErrClosed and returns what was
// queued, so the owner can report each message: system messages first, then
// user messages in arrival order. Owner only; closing twice returns nothing
// the second time.
func (m *Mailbox) Close() (system, user []any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	system = m.closeLocked(false)
	return system, m.drainOwnedLocked(nil, ^uint64(0))
}

// CloseForeign is Close for a caller that is not the owner, while the
// owner may be running (busy in code that does not come back). It returns
// the system messages and the user messages the owner has not taken on,
// and idle true if no owner was running: then every user message is
// returned and the caller may act as the owner from now on. With an owner
// running, what it has taken on is left to it (DrainOwned).
func (m *Mailbox) CloseForeign() (system, user []any, idle bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idle = m.state.Load()&stRunning == 0
	system = m.closeLocked(true) // nobody may start consuming any more
	if idle || m.bounded() != nil {
		return system, m.drainOwnedLocked(nil, ^uint64(0)), idle
	}
	// The owner takes on the lane up to claimed, one compare-and-swap per
	// batch (claim); from here on its claims fail, and the rest is ours.
	// head is at or before that position and not let go of: the owner
	// lets go of segments under mu.
	from := m.claimed.Or(claimDone)
	seg := m.head.Load()
	if seg == nil {
		return system, nil, false
	}
	for seg != nil && seg.base.Load()+seg.ends() <= from {
		seg = seg.next.Load()
	}
	if seg == nil {
		return system, nil, false
	}
	i := int(from - seg.base.Load())
	return system, collect(nil, seg, i, from, ^uint64(0), nil), false
}

// DrainOwned returns the user messages a closed mailbox still holds, those
// the owner had taken on included, and empties it. Owner only: the owner of
// a mailbox closed by CloseForeign calls it when it comes back.
func (m *Mailbox) DrainOwned() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := ^uint64(0)
	if c := m.claimed.Load(); c&claimDone != 0 {
		limit = c &^ claimDone // CloseForeign returned what lies beyond
	}
	return m.drainOwnedLocked(nil, limit)
}

// Backlog is the user messages a closed mailbox still held, taken whole
// (CloseBacklog) so that another mailbox can adopt them (Adopt) without
// copying: how a restarted process inherits what its predecessor had not
// handled. The zero Backlog is empty.
type Backlog struct {
	// A bounded mailbox's messages.
	q queue[any]
	// An unbounded mailbox's: its closed lane from position pos (slot i
	// of seg) to the end of last (the sealed tail), and its overlay; n
	// counts both.
	seg, last *segment
	i         int
	pos       uint64
	ins       []insertion
	n         int
}

// Len returns the number of messages. A message whose push was still being
// written when the mailbox closed counts until it is read, when it is
// refused (its sender's push fails with ErrClosed) if it is still not
// written then.
func (b *Backlog) Len() int {
	if b == nil {
		return 0
	}
	return b.q.len() + b.n
}

// Messages returns the messages in order (a copy).
func (b *Backlog) Messages() []any {
	if b == nil {
		return nil
	}
	out := append([]any(nil), b.q.buf[b.q.head:]...)
	if b.seg != nil || len(b.ins) > 0 {
		out = collect(out, b.seg, b.i, b.pos, ^uint64(0), b.ins)
	}
	return out
}

// Take returns the messages in order and empties b, so that they are
// handed on (or reported) once only.
func (b *Backlog) Take() []any {
	if b == nil {
		return nil
	}
	msgs := b.Messages()
	*b = Backlog{}
	return msgs
}

// CloseBacklog is Close, except that the user messages are returned as a
// Backlog, taken without copying them. Owner only.
func (m *Mailbox) CloseBacklog() (system []any, user *Backlog) {
	m.mu.Lock()
	defer m.mu.Unlock()
	system = m.closeLocked(false)
	user = &Backlog{}
	if b := m.bounded(); b != nil {
		if b.pinned > 0 {
			unpin(b.in.buf[b.in.head:])
			b.pinned = 0
		}
		user.q, b.in = b.in, queue[any]{}
		return system, user
	}
	end := m.laneEnd()
	user.n = int(end-m.pos) + m.ins().len()
	if user.n == 0 {
		return system, user
	}
	// Only the tail is sealed (by closeLocked): whoever adopts the lane
	// takes every slot before its end as sealed (adoption.sealedTo), and
	// collect refuses an empty one wherever it is.
	user.seg, user.i, user.pos, user.ins = m.first(), int(m.hi), m.pos, m.ins().list()
	user.last = m.tail.Load()
	// The owner is left with an empty lane, as after Close.
	m.setIns(nil)
	if t := m.tail.Load(); t != nil {
		m.setHead(t, int(t.ends()))
		m.pos = end
	}
	return system, user
}

// Adopt queues the messages of b ahead of every other user message, in
// their order: in constant time when the mailbox holds no user message
// yet and is unbounded, else one by one. The capacity of a bounded mailbox
// does not refuse them. Owner only, before the mailbox is shared (while
// its owner is starting).
func (m *Mailbox) Adopt(b *Backlog) {
	n := b.Len()
	if n == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if bl := m.bounded(); bl != nil {
		msgs := b.Take()
		bl.in.buf = append(msgs, bl.in.buf[bl.in.head:]...)
		bl.in.head = 0
		bl.pushed += uint64(n)
		return
	}
	if m.tail.Load() == nil && m.ins() == nil && b.q.len() == 0 {
		// Take over the lane itself: its positions, its segments (the
		// sealed last one is followed by a new one at the first push)
		// and its overlay.
		m.pos = b.pos
		m.claimed.Store(b.pos)
		a := &adoption{start: b.pos}
		m.more().adopted.Store(a)
		if b.seg != nil {
			m.setHead(b.seg, b.i)
			m.tail.Store(b.last)
		}
		if len(b.ins) > 0 {
			m.setIns(&overlay{q: b.ins})
		}
		a.sealedTo = m.laneEnd()
		a.origin = a.sealedTo - uint64(n)
		*b = Backlog{}
		return
	}
	// Before everything queued, in order: position 0 is due at once.
	msgs := b.Take()
	o := m.ins()
	ins := make([]insertion, 0, len(msgs)+o.len())
	for _, msg := range msgs {
		ins = append(ins, insertion{msg: msg})
	}
	m.setIns(&overlay{q: append(ins, o.list()...)})
	a := adoption{}
	if old := m.adoption(); old != nil {
		a = *old
	}
	a.origin -= uint64(n)
	m.more().adopted.Store(&a)
}

// Closed reports whether Close was called.
func (m *Mailbox) Closed() bool { return m.state.Load()&stClosed != 0 }

// Running reports whether an owner runs the mailbox, or is due to (a push
// scheduled it): false once the owner has gone idle, until the next push
// that schedules it. Safe from any goroutine; a snapshot.
func (m *Mailbox) Running() bool { return m.state.Load()&stRunning != 0 }

// sysQueue is the system lane: a circular list known by its last node,
// whose next is the first (one word in every mailbox; it is short and
// often empty, and an empty one holds no memory). Its length is the
// mailbox's sysLen.
type sysQueue struct{ last *sysNode }

type sysNode struct {
	msg  any
	next *sysNode
}

func (q *sysQueue) empty() bool { return q.last == nil }

func (q *sysQueue) push(msg any) {
	n := &sysNode{msg: msg}
	if q.last == nil {
		n.next = n
	} else {
		n.next, q.last.next = q.last.next, n
	}
	q.last = n
}

func (q *sysQueue) pop() any {
	first := q.last.next
	if first == q.last {
		q.last = nil
	} else {
		q.last.next = first.next
	}
	return first.msg
}

func (q *sysQueue) drain() []any {
	var out []any
	for !q.empty() {
		out = append(out, q.pop())
	}
	return out
}

// queue is a FIFO over a slice with a moving head. It reuses its buffer:
// when the head catches up with the tail both reset, and when more than half
// of the buffer is dead space in front of the head it compacts, so a queue
// that never empties still takes amortised O(1) per operation and bounded
// memory.
type queue[T any] struct {
	buf  []T
	head int
}

func (q *queue[T]) len() int { return len(q.buf) - q.head }

func (q *queue[T]) push(v T) {
	if q.head > 0 && q.head >= len(q.buf)/2 && len(q.buf) == cap(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf = q.buf[:n]
		q.head = 0
	}
	q.buf = append(q.buf, v)
}

// pop removes the oldest element; the queue must not be empty.
func (q *queue[T]) pop() T {
	v := q.buf[q.head]
	var zero T
	q.buf[q.head] = zero // let the message be collected
	q.head++
	if q.head == len(q.buf) {
		q.reset()
	}
	return v
}

// reset empties the queue, keeping its buffer for the next messages.
func (q *queue[T]) reset() {
	q.buf = q.buf[:0]
	q.head = 0
}

// shrink lets go of a buffer that grew large during a burst, so that an
// idle process stays small. Called when the owner goes idle, never while
// messages flow (that would allocate in steady state).
func (q *queue[T]) shrink() {
	const keep = 256
	if q.len() == 0 && cap(q.buf) > keep {
		q.buf = nil
		q.head = 0
	}
}

// insert puts v at index i of the queued elements (0 is the head).
func (q *queue[T]) insert(i int, v T) {
	i = min(i, q.len()) + q.head
	var zero T
	q.buf = append(q.buf, zero)
	copy(q.buf[i+1:], q.buf[i:])
	q.buf[i] = v
}

// removeAt removes and returns the element at index i of the queued
// elements (0 is the head).
func (q *queue[T]) removeAt(i int) T {
	i += q.head
	v := q.buf[i]
	copy(q.buf[i:], q.buf[i+1:])
	var zero T
	q.buf[len(q.buf)-1] = zero
	q.buf = q.buf[:len(q.buf)-1]
	if q.head == len(q.buf) {
		q.reset()
	}
	return v
}

// drain appends the queued elements to dst and empties the queue.
func (q *queue[T]) drain(dst []T) []T {
	dst = append(dst, q.buf[q.head:]...)
	clear(q.buf)
	q.buf = nil
	q.head = 0
	return dst
}

// publish makes taken visible to Depth and Taken. Owner only.
func (m *Mailbox) publish() { m.published.Store(m.taken) }
