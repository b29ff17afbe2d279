package actor

import (
	"fmt"
	"sync"

	"github.com/graftrt/graft/mailbox"
)

// Kept names: a registered name that survives its holder's exit, reserved
// for a replacement together with a queue (WithKeepName, WithReservation).
//
// OTP frees a registered name when its process dies, so a send by name
// between a crash and the restart fails (badarg for Name ! Msg, noproc for
// gen_server:call). A process spawned WithKeepName instead leaves its name
// to its parent when it exits: the name stays bound — to a Reservation
// instead of a process — and whatever is sent by name meanwhile (SendNamed,
// CallNamed) is queued there, in order. The parent, a supervisor, passes
// the reservation to the replacement (WithReservation), which takes the
// name and the queue before anything else can reach it; or it releases the
// reservation (ReleaseReservation), which frees the name and reports every
// queued message as undeliverable with a reason. A process that exits
// holding a reservation, however it exits, releases it (see
// Context.HoldReservation): nothing queued there is lost.
//
// Lock order: namesMu, then a Reservation's mu, then a mailbox's lock.
// Senders append to a reservation holding namesMu for reading and the
// reservation's mu; taking and releasing it hold namesMu for writing, so no
// sender is between finding the reservation and appending to it.

// Reservation is a registered name kept for the replacement of the process
// that held it, with the messages sent to the name since that process
// exited. It is handed to the process's parent in ExitMsg.Reserved (see
// WithKeepName). The parent passes it on to a new process with
// WithReservation, or releases it with System.ReleaseReservation; until
// then the parent is answerable for it (see Context.HoldReservation).
// A Reservation is safe for concurrent use.
type Reservation struct {
	sys  *System
	name string
	from PID // the process that held the name
	// holder is the parent the reservation was left to; awaitRelease
	// waits for a reservation whose holder is gone (its release is under
	// way).
	holder PID
	// bound is the exited process's mailbox bound, which applies to the
	// queue (capacity 0: unbounded).
	bound mailbox.Options

	mu    sync.Mutex
	queue []any            // guarded by mu; appended under namesMu.RLock
	state reservationState // guarded by mu
	done  chan struct{}    // guarded by mu; made on demand, closed when no longer open
	// to is the process taking the name over once it has taken the
	// queue: a send that finds the reservation then goes there (see
	// registerReserved). Guarded by mu.
	to *process
}

type reservationState uint8

const (
	reservationOpen     reservationState = iota // the name is reserved; sends queue
	reservationMoving                           // a new process is taking it (see registerReserved)
	reservationTaken                            // a new process holds the name and the queue
	reservationReleased                         // the name is free; the queue was reported
)

// Name returns the reserved name.
func (r *Reservation) Name() string { return r.name }

// From returns the PID of the process that held the name.
func (r *Reservation) From() PID { return r.from }

// Len returns the number of messages queued in the reservation (0 once it
// has been taken or released).
func (r *Reservation) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// open reports whether the name is still reserved.
func (r *Reservation) open() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == reservationOpen
}

// setLocked moves the reservation to st and wakes awaitRelease. mu is held.
func (r *Reservation) setLocked(st reservationState) {
	r.state = st
	if st != reservationOpen && r.done != nil {
		close(r.done)
		r.done = nil
	}
}

// doneCh returns a channel closed once the reservation is no longer open
// (nil if it is not open now).
func (r *Reservation) doneCh() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != reservationOpen {
		return nil
	}
	if r.done == nil {
		r.done = make(chan struct{})
	}
	return r.done
}

// WithKeepName makes the process leave its registered name to its parent
// when it exits, instead of freeing it: the name is reserved (see
// Reservation) and messages sent to it by name queue for the process that
// takes it over, in order; the parent receives the reservation in the
// ExitMsg's Reserved field. It applies only while the process is linked to
// its parent and exits by itself (not when it is abandoned); otherwise the
// name is freed as usual. Whereis does not find a reserved name (no process
// holds it), Register and WithName fail on it with ErrNameTaken, and sends
// by the old PID fail with NoProc as for any process that has exited.
// Supervisors use it for children whose spec sets KeepName.
func WithKeepName() SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.keepName = true })
}

// WithReservation makes the new process take the name r keeps (r.Name(),
// which WithName may repeat) and its queue: the messages queue in the new
// mailbox after the WithBacklog ones and before anything sent afterwards,
// and the name is registered to the new process at once, before Init runs.
// If Init fails (or returns Ignore), the name and every message the new
// process had been given go back to r, in order, and r stays reserved for
// the next attempt. If r is no longer reserved (released), the name is
// registered as WithName would. Spawn fails if WithName gives another name.
func WithReservation(r *Reservation) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.reservation = r })
}

// SpawnName returns the name opts would register the new process under
// (WithName, or the name of a WithReservation), "" if none. Supervisors
// use it to check child specs.
func SpawnName(opts ...SpawnOption) string {
	var o spawnOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applySpawn(&o)
		}
	}
	if o.name == "" && o.reservation != nil {
		return o.reservation.name
	}
	return o.name
}

// Reserved reports whether name is reserved for a replacement (see
// WithKeepName), which Whereis does not show: the PID of the process that
// held it, and how many messages are queued for the replacement.
func (s *System) Reserved(name string) (from PID, queued int, ok bool) {
	s.namesMu.RLock()
	r := s.reserved[name]
	s.namesMu.RUnlock()
	if r == nil {
		return PID{}, 0, false
	}
	return r.from, r.Len(), true
}

// ReleaseReservation frees the name r keeps and reports every message
// queued in it as undeliverable with reason (a call's caller gets an
// *ExitError with reason, other messages become DeadLetters addressed to
// r.From()). It does nothing if r was taken over or released already.
func (s *System) ReleaseReservation(r *Reservation, reason error) {
	if r == nil {
		return
	}
	if reason == nil {
		reason = Normal
	}
	s.namesMu.Lock()
	r.mu.Lock()
	if r.state != reservationOpen {
		r.mu.Unlock()
		s.namesMu.Unlock()
		return
	}
	if s.reserved[r.name] == r {
		delete(s.reserved, r.name)
	}
	q := r.queue
	r.queue = nil
	r.setLocked(reservationReleased)
	r.mu.Unlock()
	s.namesMu.Unlock()
	for _, m := range q {
		s.undeliverable(r.from, m, reason)
	}
}

// HoldReservation makes the process answerable for r (see Hold): if it
// exits before r is taken over (WithReservation) or released, r is
// released with the exit reason. The runtime holds every reservation it
// hands a process in an ExitMsg; a process that hands one to another of its
// own calls this. It costs nothing once r is taken or released.
func (c *Context) HoldReservation(r *Reservation) {
	if r == nil {
		return
	}
	c.p.holdReservation(r)
}

func (p *process) holdReservation(r *Reservation) {
	x := p.x()
	x.mu.Lock()
	if x.closing { // exiting already (abandoned): nobody would release it later
		reason := x.reason
		x.mu.Unlock()
		p.sys().ReleaseReservation(r, reason)
		return
	}
	x.held = appendHeld(x.held, heldBacklog{r: r})
	x.mu.Unlock()
}

// appendHeld adds h to held, dropping entries that are settled (an empty
// backlog, a reservation taken or released) and any earlier entry for the
// same queue.
func appendHeld(held []heldBacklog, h heldBacklog) []heldBacklog {
	live := held[:0]
	for _, e := range held {
		if e.live() && (h.b == nil || e.b != h.b) && (h.r == nil || e.r != h.r) {
			live = append(live, e)
		}
	}
	clear(held[len(live):])
	return append(live, h)
}

// reserve turns p's registered name, if it has one, into a reservation for
// p's parent. Called at the start of p's exit, before its mailbox closes:
// a sender that finds the mailbox closed finds the reservation when it
// looks the name up again.
func (s *System) reserve(p *process, bound mailbox.Options) *Reservation {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	name, ok := s.nameOf[p.pid()]
	if !ok {
		return nil
	}
	delete(s.names, name)
	delete(s.nameOf, p.pid())
	r := &Reservation{sys: s.root, name: name, from: p.pid(), holder: p.parent(), bound: bound}
	s.reserved[name] = r
	return r
}

// registerReserved registers p under r's name and moves r's queue into p's
// mailbox (p is starting: nothing runs it yet). It reports false if r is
// no longer reserved; the caller then registers the name as usual.
//
// The queue moves while senders go on: they append to it as before
// (reservationMoving), and registerReserved moves what they appended, in
// batches, until it finds it empty; from then on a send that finds the
// reservation goes to p directly (r.to), and finally the name is switched
// to p. Each message is queued in p after everything sent before it. A
// sender is never held up for longer than one append (holding namesMu for
// the whole move would stop every send by name in the system meanwhile).
func (s *System) registerReserved(p *process, r *Reservation) (bool, error) {
	s.namesMu.Lock()
	if s.reserved[r.name] != r {
		s.namesMu.Unlock()
		return false, nil
	}
	if old, has := s.nameOf[p.pid()]; has {
		s.namesMu.Unlock()
		return true, fmt.Errorf("%w: %v is already registered as %q", ErrInvalidName, p.pid(), old)
	}
	r.mu.Lock()
	r.setLocked(reservationMoving) // no release while it moves: the holder is spawning p
	r.mu.Unlock()
	s.namesMu.Unlock()

	// Pushed as the runtime's own (never refused by a bounded mailbox):
	// they were accepted when they were queued in the reservation.
	var lost []any
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		if len(q) == 0 {
			r.to = p
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		for i, m := range q {
			if lost != nil {
				lost = append(lost, m)
			} else if _, err := p.mb.PushUserAlways(m); err != nil { // abandoned meanwhile
				lost = append(lost, q[i])
			}
		}
	}

	s.namesMu.Lock()
	delete(s.reserved, r.name)
	s.names[r.name] = p.pid()
	s.nameOf[p.pid()] = r.name
	p.setNamed()
	r.mu.Lock()
	r.to = nil
	r.setLocked(reservationTaken)
	r.mu.Unlock()
	abandoned := p.isExiting()
	if abandoned { // meanwhile: undone, as register does (what it got is reported as it exits)
		delete(s.names, r.name)
		delete(s.nameOf, p.pid())
	}
	s.namesMu.Unlock()
	for _, m := range lost {
		s.undeliverable(p.pid(), m, Killed)
	}
	if abandoned {
		return true, fmt.Errorf("actor: register %q: %w", r.name, NoProc)
	}
	p.x().took = r
	return true, nil
}

// giveBack undoes registerReserved for a process whose Init failed: the
// name goes back to r, reserved again, and every user message the process
// was given (its backlog, r's queue, anything sent to it during Init) goes
// back to r's queue, in order. It closes p's mailbox and returns the system
// messages left there, for the exit to refuse. If the name is no longer
// p's (Init unregistered it), r is released with reason.
func (s *System) giveBack(p *process, r *Reservation, reason error) (sysLeft []any) {
	s.namesMu.Lock()
	name, held := s.nameOf[p.pid()]
	if held && name == r.name {
		delete(s.names, name)
		delete(s.nameOf, p.pid())
	}
	sysLeft, b := p.mb.CloseBacklog()
	_, taken := s.names[r.name]
	r.mu.Lock()
	r.queue = append(b.Take(), r.queue...)
	r.setLocked(reservationOpen)
	r.mu.Unlock()
	if !taken && s.reserved[r.name] == nil {
		s.reserved[r.name] = r
		s.namesMu.Unlock()
		return sysLeft
	}
	s.namesMu.Unlock()
	s.ReleaseReservation(r, reason)
	return sysLeft
}

// pushLocked queues msg in the reservation, under its mailbox bound. It
// returns the message DropOldest evicted, if any, for the caller to report
// once it has let go of namesMu; a message the Reject policy refuses is
// returned with ErrMailboxFull. When a process is taking the name over and
// has taken the queue (r.to), it returns that process instead, for the
// caller to send msg to. namesMu is held for reading and r is in reserved,
// so r is open or moving.
func (r *Reservation) pushLocked(msg any) (to *process, evicted any, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to != nil {
		return r.to, nil, nil
	}
	if c := r.bound.Capacity; c > 0 && len(r.queue) >= c {
		if r.bound.Overflow != mailbox.DropOldest {
			return nil, nil, fmt.Errorf("actor: send to %q (reserved): %w", r.name, ErrMailboxFull)
		}
		evicted = r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
	}
	r.queue = append(r.queue, msg)
	return nil, evicted, nil
}

// sendNamed delivers msg (a message or a call's envelope) to what name
// stands for when the message is queued: the process registered under it,
// or the reservation keeping it. A send that finds the process's mailbox
// closed, or the process gone, looks the name up again: the process may
// have left its name to a reservation, or to its replacement, meanwhile.
// It returns the PID the message went to (the exited holder's for a
// reservation). A refused message is handled as Send handles it (see
// refuse): the error tells the sender, and it is no dead letter.
func (s *System) sendNamed(name string, msg any) (PID, error) {
	var tried PID
	for {
		s.namesMu.RLock()
		pid, ok := s.names[name]
		if !ok {
			if r := s.reserved[name]; r != nil {
				to, evicted, err := r.pushLocked(msg)
				s.namesMu.RUnlock()
				if evicted != nil {
					s.undeliverable(r.from, evicted, ErrMailboxFull)
				}
				if err != nil {
					s.refuse(r.from, msg, ErrMailboxFull)
				}
				if to == nil {
					return r.from, err
				}
				pid, ok = to.pid(), true // the process taking the name over
			} else {
				s.namesMu.RUnlock()
			}
		} else {
			s.namesMu.RUnlock()
		}
		switch {
		case !ok && tried.IsZero():
			// Not reported (a call's envelope is left unanswered): the
			// sender learns of it from the error, as it always has.
			return PID{}, fmt.Errorf("%w: %q", ErrUnknownName, name)
		case !ok || pid == tried:
			// The process we found has exited and nobody holds the name
			// now: the message was for it, and is refused as a Send by
			// PID would refuse it.
			s.refuse(tried, msg, NoProc)
			return tried, fmt.Errorf("actor: send to %v: %w", tried, NoProc)
		}
		if s.resolvedHook != nil {
			s.resolvedHook(name)
		}
		p := s.lookup(pid)
		if p == nil {
			tried = pid
			continue
		}
		sched, evicted, err := p.mb.PushUser(msg)
		if err == mailbox.ErrClosed {
			tried = pid
			continue
		}
		if err != nil {
			s.refuse(pid, msg, ErrMailboxFull)
			return pid, fmt.Errorf("actor: send to %v: %w", pid, ErrMailboxFull)
		}
		if evicted != nil {
			s.undeliverable(pid, evicted, ErrMailboxFull)
		}
		if sched {
			go p.run()
		}
		return pid, nil
	}
}
