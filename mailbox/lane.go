package mailbox

import (
	"sync/atomic"
	"unsafe"
)

// The unbounded user lane: a segmented multi-producer, single-consumer
// queue that producers append to without the mailbox's lock. See doc.go
// ("The unbounded lane") for the design and its guarantees; the comments
// here say what each step relies on.
//
// Positions. Every user message pushed gets a position, one more than the
// message before it: a ticket from the tail segment's counter. A segment
// holds the positions base, base+1, ..., base+len(slots)-1. Positions are
// what marks (Mark, InsertUser), Depth and Pushed count in; they never go
// back, also when a segment starts again from its first slot.

const (
	// inlineSlots is the size of the segment every mailbox carries inside
	// itself: a process that gets a few messages at a time never needs
	// another one, and an idle process holds no segment of its own.
	inlineSlots = 1
	// segmentSlots is the size of every other segment: 256 slots of 24
	// bytes, one 6 KiB allocation (a size class of its own) per 256
	// messages when the sender runs ahead, none when the owner keeps up
	// (a passed segment is reused).
	segmentSlots = 256
	// sealed, set in a segment's reserve, refuses every later
	// reservation in it: the lane was closed (its tail), the segment is
	// starting again from its first slot, or it is the last of a Backlog.
	// The other segments of an adopted Backlog count as sealed by their
	// positions (below adoption.sealedTo) rather than by the bit: setting it
	// in each at CloseBacklog cost a cache miss per segment, at every
	// restart of a Handoff child, however far behind it was.
	sealed = uint64(1) << 63
	// maxSpares bounds the passed segments a running mailbox keeps for
	// reuse: enough for a sender a few segments ahead, as when the owner
	// is rescheduled; an idle mailbox keeps one.
	maxSpares = 8
)

// Slot states.
const (
	slotEmpty   uint32 = iota // reserved or not, not written yet
	slotReady                 // holds a message
	slotSkipped               // refused: the lane was closed before the message was written
)

// slot holds one message. A producer writes msg, then moves state from
// empty to ready; the owner reads msg once it sees ready. The one writer
// per slot is the producer whose reservation it is.
type slot struct {
	state atomic.Uint32
	msg   any
}

// segment is a block of slots.
type segment struct {
	// reserve is the next position a producer takes here (an atomic add),
	// with the sealed bit. It runs past the segment's last position when
	// the segment is full: each producer that finds it full adds one more
	// and goes on to the next segment.
	reserve atomic.Uint64
	// base is the position of slots[0]. It changes only when the owner
	// starts a segment again from its first slot (restart), under the
	// mailbox's lock with the segment sealed.
	base atomic.Uint64
	next atomic.Pointer[segment]
	// slot0 and n are the segment's slots (see slots): a pointer and a
	// count instead of a slice, and end next to n, which makes the header
	// 16 bytes smaller (every mailbox holds one, inline). The slots never
	// change once the segment is published. A segment header is never
	// reused (a producer that was descheduled may still hold it); only its
	// slots are, through the mailbox's spare, and only after every
	// reservation in them was taken.
	slot0 *slot
	// end is how many slots hold (or will hold) messages: n, fewer for a
	// segment sealed before it filled.
	end atomic.Uint32
	n   uint32
}

// slots returns the segment's slots.
func (s *segment) slots() []slot { return unsafe.Slice(s.slot0, s.n) }

// ends returns end, as a count of positions.
func (s *segment) ends() uint64 { return uint64(s.end.Load()) }

// newSegment returns a header for slots, which must not be empty.
func newSegment(slots []slot) *segment {
	s := new(segment)
	s.setSlots(slots)
	return s
}

func (s *segment) setSlots(slots []slot) { s.slot0, s.n = &slots[0], uint32(len(slots)) }

// reset prepares s, new or taken from a spare, to follow a segment that
// ends at position base.
func (s *segment) reset(base uint64) {
	s.base.Store(base)
	s.end.Store(s.n)
	s.reserve.Store(base)
}

// laneEnd returns the position after the last reserved one: the number
// of user messages ever pushed, counted from the lane's first position.
// Safe from any goroutine. It reads two words, but each is consistent
// with any order of the operations that change them: a reservation adds
// to reserve, a restart moves base to reserve's value, a link adds a
// segment whose reserve and base both start at the old end.
func (m *Mailbox) laneEnd() uint64 {
	t := m.tail.Load()
	if t == nil {
		if a := m.adoption(); a != nil {
			return a.start
		}
		return 0
	}
	r := t.reserve.Load() &^ sealed
	return min(r, t.base.Load()+t.ends())
}

// sealedTo is the lane's end when Adopt took a Backlog's lane over (see
// adoption), 0 otherwise.
func (m *Mailbox) sealedTo() uint64 {
	if a := m.adoption(); a != nil {
		return a.sealedTo
	}
	return 0
}

// push appends msg to the unbounded lane. It fails only with ErrClosed.
func (m *Mailbox) push(msg any) error {
	for {
		t := m.tail.Load()
		if t != nil {
			// The fast path: one atomic add on the tail segment, the
			// message, one compare-and-swap on its slot.
			p := t.reserve.Add(1) - 1
			if i, ss := p-t.base.Load(), t.slots(); i < uint64(len(ss)) {
				// (A sealed reserve makes p, and so i, huge.)
				s := &ss[i]
				s.msg = msg
				if s.state.CompareAndSwap(slotEmpty, slotReady) {
					return nil
				}
				// A closer skipped the slot: the lane was closed
				// after the reservation and before the write.
				return ErrClosed
			}
		}
		if err := m.extend(t); err != nil {
			return err
		}
	}
}

// extend is push's slow path: the tail t is full, sealed or missing. Under
// the lock, so that producers that all find t full link one segment, and
// so that a segment the owner seals to start it again (restart) is not
// mistaken for a full one.
func (m *Mailbox) extend(t *segment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Load()&stClosed != 0 {
		return ErrClosed
	}
	if m.tail.Load() != t {
		return nil // moved on meanwhile: try again
	}
	if t == nil {
		// The first push: the lane starts in the mailbox's own segment.
		m.inline.setSlots(m.inlineSlots[:])
		var start uint64
		if a := m.adoption(); a != nil {
			start = a.start
		}
		m.inline.reset(start)
		m.head.Store(&m.inline)
		m.tail.Store(&m.inline)
		return nil
	}
	r := t.reserve.Load()
	if r&sealed == 0 && r-t.base.Load() < t.ends() {
		return nil // started again from its first slot meanwhile: try again
	}
	// Full, or sealed with the Backlog it came with (a closed mailbox
	// returned above).
	var s *segment
	if sp := m.spare(); sp != nil {
		m.more().spares.Store(sp.next.Load())
		s = newSegment(sp.slots()) // a new header: see segment.slot0
	} else {
		// Sizes double from the inline segment's up to segmentSlots: a
		// short burst needs no 6 KiB segment.
		s = newSegment(make([]slot, min(2*int(t.n), segmentSlots)))
	}

	s.reset(t.base.Load() + t.ends())
	t.next.Store(s)
	m.tail.Store(s)
	return nil
}

// Owner side.

// first returns the segment the owner reads from, nil before any push.
func (m *Mailbox) first() *segment {
	seg := m.head.Load()
	if seg != nil && m.nslots == 0 {
		m.own(seg, 0) // the first push set it
	}
	return seg
}

// takeLane returns the next message of the lane the owner may take: the
// overlay's (InsertUser, Adopt) when it is due, else the lane's next
// message once it is written. It returns none while a signal waits: the
// system lane's length is read after the message is found, so that a
// signal pushed before the message is seen (a push that happens after a
// signal's happens after its count), however late the owner looked at the
// system lane before. Owner only.
func (m *Mailbox) takeLane() (msg any, ok bool) {
	if o := m.ins(); o != nil && o.q[0].at <= m.pos {
		if m.sysLen.Load() != 0 {
			return nil, false
		}
		msg = o.q[0].msg
		o.q[0] = insertion{}
		o.q = o.q[1:]
		if len(o.q) == 0 {
			m.setIns(nil)
		}
		return msg, true
	}
	seg := m.first()
	for seg != nil {
		if m.pos == m.claimedTo() && !m.claim() {
			return nil, false
		}
		if int(m.hi) < int(m.nslots) {
			s := m.slot(int(m.hi))
			switch s.state.Load() {
			case slotReady:
				if m.sysLen.Load() != 0 {
					return nil, false
				}
				msg = s.msg
				if seg == &m.inline {
					s.msg = nil // so that an idle process holds no message
				}
				m.hi++
				m.pos++
				return msg, true
			case slotSkipped:
				m.hi++
				m.pos++
				continue
			}
			if uint64(m.hi) < seg.ends() {
				if (seg.reserve.Load()&sealed == 0 && m.pos >= m.sealedTo()) || !s.state.CompareAndSwap(slotEmpty, slotSkipped) {
					// Reserved and being written (or not reserved
					// yet): its producer schedules the owner if it
					// went idle meanwhile. In a sealed segment, or a
					// slot that came with a Backlog, nobody will
					// schedule us: the slot is refused instead, and its
					// producer's push fails.
					return nil, false
				}
				continue
			}
		}
		next := seg.next.Load()
		if next == nil {
			return nil, false
		}
		m.advance(seg, next)
		seg = next
	}
	return nil, false
}

// claim extends the part of the lane the owner has taken on, up to what
// producers have reserved so far, and reports whether there is any.
// CloseForeign takes the rest (see there). Owner only.
func (m *Mailbox) claim() bool {
	c, end := m.claimed.Load(), m.laneEnd()
	// False when nothing is new, or CloseForeign took the rest.
	return end > m.pos && c&claimDone == 0 && m.claimed.CompareAndSwap(c, end)
}

// claimedTo returns the position up to which the owner has taken the lane
// on. The owner reads claimed rather than a copy of its own: a mailbox is
// allocated per process, and the owner reads the cache line claimed is on
// at every message anyway. Owner only.
func (m *Mailbox) claimedTo() uint64 { return m.claimed.Load() &^ claimDone }

// advance moves the owner from seg, all taken, to next. A full segment of
// the usual size becomes a spare, for the next segment a producer links.
// Under the lock: CloseForeign walks the lane from head, which must
// never be a reused segment.
func (m *Mailbox) advance(seg, next *segment) {
	m.mu.Lock()
	m.setHead(next, 0)
	if int(seg.n) == segmentSlots && seg.reserve.Load()&sealed == 0 && seg.base.Load() >= m.sealedTo() && m.countSpares() < maxSpares {
		// Every reservation in seg was taken (a sealed one, or one that
		// came with a Backlog, may hold a late producer's write to a
		// refused slot: it is left to the collector). Its header, which
		// only a descheduled producer may still look at (and find full),
		// becomes the spare list's node.
		clear(seg.slots())
		seg.next.Store(m.spare())
		m.more().spares.Store(seg)
	}
	m.publish()
	m.mu.Unlock()
}

// countSpares returns the length of the spare list. mu is held.
func (m *Mailbox) countSpares() (n int) {
	for s := m.spare(); s != nil; s = s.next.Load() {
		n++
	}
	return n
}

// setHead makes seg the segment the owner reads, from slot hi. The owner
// keeps its own copy of where seg's slots are: reading the segment's header
// on every message would share a cache line with the counter producers add
// to. (A pointer and a count rather than a copy of the slice: 16 bytes
// less in every mailbox, a size class of the process that holds it.)
func (m *Mailbox) setHead(seg *segment, hi int) {
	m.head.Store(seg)
	m.own(seg, hi)
}

// own sets the owner's copy of where head's slots are, seg's, from slot
// hi.
func (m *Mailbox) own(seg *segment, hi int) {
	m.slot0, m.nslots, m.hi = seg.slot0, uint16(seg.n), int32(hi)
}

// slot returns the owner's slot i of head; i < nslots.
func (m *Mailbox) slot(i int) *slot {
	return (*slot)(unsafe.Add(unsafe.Pointer(m.slot0), uintptr(i)*unsafe.Sizeof(slot{})))
}

// laneReady reports whether takeLane would return a message now, without
// taking it. Owner only.
func (m *Mailbox) laneReady() bool {
	if o := m.ins(); o != nil && o.q[0].at <= m.pos {
		return true
	}
	seg, i := m.first(), int(m.hi)
	for seg != nil {
		if i < int(seg.n) {
			switch seg.slots()[i].state.Load() {
			case slotReady:
				return true
			case slotSkipped:
				i++
				continue
			}
			if uint64(i) < seg.ends() {
				// Empty; in a sealed segment, or in one that came with
				// a Backlog, takeLane refuses it and goes on, so there
				// may be something behind it.
				return seg.reserve.Load()&sealed != 0 || seg.base.Load()+uint64(i) < m.sealedTo()
			}
		}
		seg, i = seg.next.Load(), 0
	}
	return false
}

// tidy runs as the owner goes idle with nothing to take. It lets go of the
// messages it took from its segment (an idle process holds none) and, once
// half of the segment is used, starts it again from its first slot: a
// process woken for a message or two at a time keeps using the same slots
// and never links a segment. Owner only.
func (m *Mailbox) tidy() {
	if m.nslots == 0 || m.ins() != nil {
		return
	}
	seg := m.head.Load()
	for i := range m.hi {
		if s := &seg.slots()[i]; s.state.Load() == slotReady && s.msg != nil {
			s.msg = nil
		}
	}
	sp := m.spare()
	if int(m.hi) < int(seg.n)/2 && (sp == nil || sp.next.Load() == nil) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sp := m.spare(); sp != nil { // an idle mailbox keeps one
		sp.next.Store(nil)
	}
	if int(m.hi) < int(seg.n)/2 {
		return
	}
	// Only if every reservation in seg was taken: then no producer holds
	// one, and sealing refuses new ones until base has moved.
	if !seg.reserve.CompareAndSwap(m.pos, m.pos|sealed) {
		return
	}
	for i := range m.hi {
		seg.slots()[i].state.Store(slotEmpty)
	}
	seg.base.Store(m.pos)
	seg.reserve.Store(m.pos)
	m.hi = 0
}

// sealLane refuses every later reservation (Close, CloseForeign,
// CloseBacklog): it seals the tail, and records how many of its slots
// were reserved. Under the lock, with the mailbox closed, so no producer
// links a segment after it.
func (m *Mailbox) sealLane() {
	t := m.tail.Load()
	if t == nil {
		return
	}
	if r := t.reserve.Or(sealed); r&sealed == 0 {
		t.end.Store(uint32(min(r-t.base.Load(), uint64(t.n))))
	}
}

// collect appends to dst the messages of a sealed lane from position pos
// (slot i of seg) up to position limit, with the overlay's messages in
// their places, and returns it. An empty slot is refused on the way (its
// producer's push fails), so that every slot is either returned here or
// refused, once. The caller has exclusive access to that part of the
// lane.
func collect(dst []any, seg *segment, i int, pos, limit uint64, ins []insertion) []any {
	for seg != nil && pos < limit {
		end := int(seg.ends())
		for ; i < end && pos < limit; i++ {
			for len(ins) > 0 && ins[0].at <= pos {
				dst = append(dst, ins[0].msg)
				ins = ins[1:]
			}
			s := &seg.slots()[i]
			if s.state.Load() == slotReady || !s.state.CompareAndSwap(slotEmpty, slotSkipped) {
				if s.state.Load() == slotReady {
					dst = append(dst, s.msg)
				}
			}
			pos++
		}
		if i < end {
			break // at limit
		}
		seg, i = seg.next.Load(), 0
	}
	for _, in := range ins {
		dst = append(dst, in.msg)
	}
	return dst
}

// insertion is a message the owner put into the lane at a position
// (InsertUser, or Adopt into a mailbox that already had messages): it
// comes after every lane message before position at and before the others.
type insertion struct {
	at  uint64
	msg any
}

// insert adds msg to the overlay at position at, after the overlay's
// messages at the same position.
func (m *Mailbox) insert(at uint64, msg any) {
	o := m.ins()
	if o == nil {
		o = &overlay{}
		m.setIns(o)
	}
	q := o.q
	i := len(q)
	for i > 0 && q[i-1].at > at {
		i--
	}
	q = append(q, insertion{})
	copy(q[i+1:], q[i:])
	q[i] = insertion{at: at, msg: msg}
	o.q = q
}

func (o *overlay) len() int {
	if o == nil {
		return 0
	}
	return len(o.q)
}

func (o *overlay) list() []insertion {
	if o == nil {
		return nil
	}
	return o.q
}
