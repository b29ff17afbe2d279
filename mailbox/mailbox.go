package mailbox

import (
	"errors"
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
	// Producer side: written on every push, guarded by mu.
	mu        sync.Mutex
	in        queue[any]      // user lane
	sys       queue[sysEntry] // system lane
	pushed    uint64          // user messages ever queued
	evicted   uint64          // user messages ever evicted by DropOldest
	running   bool            // the owner is consuming (or has been told to start)
	suspended bool            // user lane is not served; written by the owner only
	closed    bool
	// pinned counts the messages in in that the runtime put there for a
	// signal (PushUserAlways, InsertUser) in a bounded mailbox: they are
	// held as pinnedMsg, do not count towards the capacity and are never
	// evicted.
	pinned   int
	capacity int // read-only after Configure
	policy   Policy

	// The owner reads its fields below on every message. Sharing a cache
	// line with the fields above, which a producer writes on every push,
	// would make each of those reads a miss while messages stream in.
	_ [64]byte

	// sysLen mirrors sys.len() so the owner can skip the lock when the
	// system lane is empty (the common case) while still checking it before
	// every user message. Producers write it only on PushSystem.
	sysLen atomic.Int32
	// Owner-only copies of suspended and capacity > 0, for the lock-free
	// fast path.
	ownSuspended bool
	bounded      bool
	// Owner-only: the batch taken from in by an unbounded mailbox. Producers
	// never touch it, which is why the owner reads it without the lock.
	out queue[any]
	// Owner-only: user messages ever taken, and the mark of the last
	// system message Next returned (see Mark).
	taken uint64
	sysAt uint64
	// published is taken as of the owner's last pass through the lock, for
	// Depth and Taken: the owner's lock-free fast path does not publish.
	published atomic.Uint64
}

// Configure sets the mailbox's options. It must be called by the owner
// before the mailbox is shared with producers.
func (m *Mailbox) Configure(o Options) {
	m.capacity = max(o.Capacity, 0)
	m.policy = o.Overflow
	m.bounded = m.capacity > 0
}

// Capacity returns the bound of the user lane, 0 when unbounded.
func (m *Mailbox) Capacity() int { return m.capacity }

// PushUser appends msg to the user lane. schedule reports whether the caller
// must start the owner. With DropOldest, evicted is the message dropped to
// make room (nil when none was). err is ErrClosed after Close, or ErrFull
// when a Reject mailbox is full; the message was not queued then.
func (m *Mailbox) PushUser(msg any) (schedule bool, evicted any, err error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, nil, ErrClosed
	}
	if m.capacity > 0 && m.in.len()-m.pinned >= m.capacity {
		if m.policy != DropOldest {
			m.mu.Unlock()
			return false, nil, ErrFull
		}
		evicted = m.evictLocked()
	}
	schedule = m.appendUserLocked(msg)
	m.mu.Unlock()
	return schedule, evicted, nil
}

// evictLocked removes the oldest user message that is not pinned: the
// user lane is full, so there is one.
func (m *Mailbox) evictLocked() any {
	m.evicted++
	if m.pinned == 0 {
		return m.in.pop()
	}
	for i := m.in.head; i < len(m.in.buf); i++ {
		if _, ok := m.in.buf[i].(pinnedMsg); !ok {
			return m.in.removeAt(i - m.in.head)
		}
	}
	panic("mailbox: full user lane holds only pinned messages")
}

// pinnedMsg holds, in a bounded mailbox, a message the runtime queued for
// a signal: it never counts towards the capacity and is never evicted.
type pinnedMsg struct{ msg any }

// pin wraps msg for a bounded mailbox's user lane. mu is held.
func (m *Mailbox) pin(msg any) any {
	if m.capacity == 0 {
		return msg
	}
	m.pinned++
	return pinnedMsg{msg}
}

// popBoundedLocked takes the oldest message of a bounded mailbox. mu is
// held; in is not empty.
func (m *Mailbox) popBoundedLocked() any {
	msg := m.in.pop()
	if p, ok := msg.(pinnedMsg); ok {
		m.pinned--
		return p.msg
	}
	return msg
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

// appendUserLocked queues msg on the user lane and reports whether the
// owner must be started. A suspended owner is not woken for user messages:
// it would find nothing it may take; Resume picks them up.
func (m *Mailbox) appendUserLocked(msg any) (schedule bool) {
	m.in.push(msg)
	m.pushed++
	if !m.running && !m.suspended {
		m.running = true
		return true
	}
	return false
}

// PushUserAlways appends msg to the user lane even when a bounded mailbox
// is full. The runtime uses it for signals converted to messages (a
// monitor's down notice), which must never be refused: the capacity bounds
// the other user messages only, so msg does not count towards it and a
// DropOldest mailbox never evicts it. schedule and err are as for
// PushUser.
func (m *Mailbox) PushUserAlways(msg any) (schedule bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	return m.appendUserLocked(m.pin(msg)), nil
}

// PushSystem appends msg to the system lane, which is unbounded. schedule
// reports whether the caller must start the owner. err is ErrClosed after
// Close.
func (m *Mailbox) PushSystem(msg any) (schedule bool, err error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, ErrClosed
	}
	m.sys.push(sysEntry{msg: msg, at: m.pushed})
	m.sysLen.Add(1)
	if !m.running {
		m.running = true
		schedule = true
	}
	m.mu.Unlock()
	return schedule, nil
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
	if m.out.len() > 0 && m.sysLen.Load() == 0 && !m.ownSuspended && !m.bounded {
		// Fast path: the owner's own batch, no lock.
		m.taken++
		return m.out.pop(), User, true
	}
	m.mu.Lock()
	if m.sys.len() > 0 {
		e := m.sys.pop()
		m.sysLen.Add(-1)
		m.unlock()
		m.sysAt = e.at
		return e.msg, System, true
	}
	if !m.suspended && (m.in.len() > 0 || m.out.len() > 0) {
		m.taken++
		switch {
		case m.capacity > 0:
			msg = m.popBoundedLocked()
			m.unlock()
			return msg, User, true
		case m.capacity == 0 && m.out.len() > 0:
			// Left over from before a suspension or a system message.
			m.unlock()
			return m.out.pop(), User, true
		default:
			// Take the whole batch: the owner drains it without the lock.
			m.in, m.out = m.out, m.in
			m.unlock()
			return m.out.pop(), User, true
		}
	}
	if idle {
		m.running = false
		m.in.shrink()
		m.out.shrink()
	}
	m.unlock()
	return nil, User, false
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
	if m.out.len() > 0 && !m.bounded {
		m.taken++
		return m.out.pop(), true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.publish()
	if m.sys.len() > 0 || m.suspended {
		return nil, false
	}
	switch {
	case m.out.len() > 0:
		msg = m.out.pop()
	case m.in.len() == 0:
		return nil, false
	case m.bounded:
		msg = m.popBoundedLocked()
	default:
		m.in, m.out = m.out, m.in
		msg = m.out.pop()
	}
	m.taken++
	return msg, true
}

// Mark identifies a position in the user lane: the point at which a
// system message arrived.
type Mark uint64

// Mark returns the position the last system message returned by Next
// arrived at. Owner only.
func (m *Mailbox) Mark() Mark { return Mark(m.sysAt) }

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
	if m.closed {
		return
	}
	// Queued user messages that arrived before the mark.
	ahead := int(max(int64(uint64(at)-m.taken-m.evicted), 0))
	msg = m.pin(msg)
	if ahead < m.out.len() {
		m.out.insert(ahead, msg)
	} else {
		m.in.insert(ahead-m.out.len(), msg)
	}
	// The queue now holds one message more than pushed-taken-evicted, and
	// every mark from now on must count it as ahead: one fewer taken does
	// both (it is balanced when the owner takes the message).
	m.taken--
}

// Start marks the owner as running without a push, so that messages pushed
// while the owner is starting up queue without scheduling it. The owner
// later calls Next until it reports ok == false, or Idle.
func (m *Mailbox) Start() {
	m.mu.Lock()
	m.running = true
	m.mu.Unlock()
}

// Acquire makes the caller the owner if the mailbox is idle (no owner is
// running or told to start, and it is not closed), and reports whether it
// did. The caller then acts for the owner, which lets a short piece of the
// owner's work run on the caller's goroutine instead of waking one, and
// ends with Idle (consuming on, as an owner does, while Idle reports
// false).
func (m *Mailbox) Acquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running || m.closed {
		return false
	}
	m.running = true
	return true
}

// Idle marks the mailbox idle unless it holds work the owner may take, and
// reports whether it did. When it returns false the owner must keep
// consuming.
func (m *Mailbox) Idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sys.len() > 0 || (!m.suspended && (m.in.len() > 0 || m.out.len() > 0)) {
		return false
	}
	m.running = false
	return true
}

// Suspend stops the owner from taking user messages; the system lane still
// flows. Called by the owner only. Suspending twice is the same as once.
func (m *Mailbox) Suspend() {
	m.mu.Lock()
	m.suspended, m.ownSuspended = true, true
	m.mu.Unlock()
}

// Resume lets the owner take user messages again. Called by the owner only,
// while it is running (it is: it handles the resume request).
func (m *Mailbox) Resume() {
	m.mu.Lock()
	m.suspended, m.ownSuspended = false, false
	m.mu.Unlock()
}

// UserReady reports whether the owner may take user work now: no system
// message waits and the user lane is not suspended. Owner only.
func (m *Mailbox) UserReady() bool { return m.sysLen.Load() == 0 && !m.ownSuspended }

// Suspended reports whether the user lane is suspended. Owner only.
func (m *Mailbox) Suspended() bool { return m.ownSuspended }

// Len returns the number of queued user messages and system messages.
// Owner only (the owner's batch is not visible to others).
func (m *Mailbox) Len() (user, system int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.in.len() + m.out.len(), m.sys.len()
}

// Depth returns the number of user messages queued, from any goroutine,
// without disturbing the owner beyond one lock: exact while the owner is
// idle; while it drains a batch without the lock, the part of the batch it
// has handled still counts until its next pass through the lock (at most
// one batch high).
func (m *Mailbox) Depth() int {
	m.mu.Lock()
	n := m.pushed - m.evicted
	m.mu.Unlock()
	return int(max(int64(n-m.published.Load()), 0))
}

// Taken returns the number of user messages the owner has taken, as of its
// last pass through the lock (see Depth). Safe from any goroutine.
func (m *Mailbox) Taken() uint64 { return m.published.Load() }

// Pushed returns the number of user messages ever queued. Safe from any
// goroutine.
func (m *Mailbox) Pushed() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pushed
}

// Close refuses every later push with ErrClosed and returns what was
// queued, so the owner can report each message: system messages first, then
// user messages in arrival order. Owner only; closing twice returns nothing
// the second time.
func (m *Mailbox) Close() (system, user []any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.running = false
	for _, e := range m.sys.drain(nil) {
		system = append(system, e.msg)
	}
	m.sysLen.Store(0)
	user = m.out.drain(nil)
	user = unpin(m.in.drain(user))
	m.pinned = 0
	return system, user
}

// CloseForeign is Close for a caller that is not the owner, while the
// owner may be running (busy in code that does not come back). It returns
// the system messages and the user messages producers queued, and idle
// true if no owner was running: then the owner's own batch is returned
// too and the caller may act as the owner from now on. With an owner
// running, its batch is left to it (DrainOwned).
func (m *Mailbox) CloseForeign() (system, user []any, idle bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idle = !m.running
	m.closed = true
	m.running = true // nobody may start consuming any more
	for _, e := range m.sys.drain(nil) {
		system = append(system, e.msg)
	}
	m.sysLen.Store(0)
	if idle {
		user = m.out.drain(nil)
	}
	user = unpin(m.in.drain(user))
	m.pinned = 0
	return system, user, idle
}

// DrainOwned returns the user messages a closed mailbox still holds, the
// owner's batch included, and empties it. Owner only: the owner of a
// mailbox closed by CloseForeign calls it when it comes back.
func (m *Mailbox) DrainOwned() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	user := unpin(m.in.drain(m.out.drain(nil)))
	m.pinned = 0
	return user
}

// Backlog is the user messages a closed mailbox still held, taken whole
// (CloseBacklog) so that another mailbox can adopt them (Adopt) without
// copying: how a restarted process inherits what its predecessor had not
// handled. The zero Backlog is empty.
type Backlog struct {
	out, in queue[any]
}

// Len returns the number of messages.
func (b *Backlog) Len() int {
	if b == nil {
		return 0
	}
	return b.out.len() + b.in.len()
}

// Messages returns the messages in order (a copy).
func (b *Backlog) Messages() []any {
	if b == nil {
		return nil
	}
	out := append([]any(nil), b.out.buf[b.out.head:]...)
	return append(out, b.in.buf[b.in.head:]...)
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
	m.closed = true
	m.running = false
	for _, e := range m.sys.drain(nil) {
		system = append(system, e.msg)
	}
	m.sysLen.Store(0)
	if m.pinned > 0 {
		unpin(m.in.buf[m.in.head:])
		m.pinned = 0
	}
	user = &Backlog{out: m.out, in: m.in}
	m.out, m.in = queue[any]{}, queue[any]{}
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
	if m.capacity == 0 && m.out.len() == 0 && m.in.len() == 0 {
		m.out, m.in = b.out, b.in
	} else {
		msgs := b.Messages()
		m.in.buf = append(msgs, m.in.buf[m.in.head:]...)
		m.in.head = 0
	}
	m.pushed += uint64(n)
	*b = Backlog{}
}

// Closed reports whether Close was called.
func (m *Mailbox) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

type sysEntry struct {
	msg any
	at  uint64 // user messages pushed before this one arrived
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

// publish makes taken visible to Depth and Taken. Owner only, under mu
// (another goroutine may own the mailbox once mu is released idle).
func (m *Mailbox) publish() { m.published.Store(m.taken) }

// unlock publishes taken and releases mu. Owner only.
func (m *Mailbox) unlock() {
	m.published.Store(m.taken)
	m.mu.Unlock()
}
