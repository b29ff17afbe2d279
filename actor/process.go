package actor

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/graftrt/graft/mailbox"
)

// process is one actor. Every field below mb is owned by the process: only
// its receive loop touches it (or, before the loop first runs, the goroutine
// running Spawn). Other goroutines reach a process only through its mailbox,
// and read what it publishes: ver, up's pinPub, flags, ext. An idle process
// is this struct alone (288 bytes, its mailbox's inline segment included):
// what fewer processes need lives behind up and ext.
type process struct {
	id uint64 // its PID's: a local process's PID has node 0 (see pid)
	mb mailbox.Mailbox
	// ver is the version that built state, which holds one activation
	// while active: written by the owner at each change (setCode), read
	// by anyone (VersionOf).
	ver atomic.Pointer[code]
	// up is what few processes need beside procExt (see aside): nil for a
	// process no upgrade has pinned, prepared or failed to migrate, whose
	// callbacks handed nothing back beside their results.
	up atomic.Pointer[aside]

	state any
	// call is the call being handled, until answered or deferred.
	call *callEnv
	// reason is set when the process must exit after the current message;
	// bitTerminate says whether Terminate runs first.
	reason error

	// The flags, together in one word (a process is allocated per spawn:
	// padding between scattered flags cost a size class). flags holds
	// what other goroutines read (flagNamed, flagExiting); bits what only
	// the owner does (bitActive...).
	flags atomic.Uint32
	bits  uint8
	// streak counts the messages taken since the mailbox was last empty,
	// up to 2 (see next).
	streak uint8
	// looping: the receive loop is running Handle on this goroutine, so a
	// process this one spawns can wait for the goroutine (starting, and
	// procExt.starts): see WithDeferredStart and handOff.
	looping, starting bool

	ext atomic.Pointer[procExt] // links, monitors and pending calls; most processes have none
}

// aside is what an upgrade sets for a process, and what its callbacks
// hand back beside their results, kept apart: most processes never need
// it. A process allocates it once, at its first need (aside), and keeps
// it. Owner only, but pinPub.
type aside struct {
	// skip is the release whose migration failed for this process; it is
	// not retried while it stays current (the same version made current
	// again is another release, which is tried).
	skip *release
	// pending is a code change prepared while suspended (Prepare), to be
	// committed or aborted by the upgrade runner.
	pending *pending
	// pin is the release this process runs instead of the module's
	// current one, while the current one is still pinBase: a rolling
	// upgrade's finished waves run the new version before it is current.
	// The pin lapses by itself once the module's current release changes.
	pin, pinBase *release
	// pinPub publishes pinBase for VersionOf: written by the owner at
	// each change, read by anyone.
	pinPub atomic.Pointer[release]
	out    *ctxOut // see ctxOut
	// parent is the id of the process that spawned this one when it is
	// not linked to it from the start (see setParent). Set before the
	// process is shared.
	parent uint64
}

// The bits of process.flags, which other goroutines read.
const (
	// flagNamed is set by register; it saves a names lookup at exit.
	flagNamed uint32 = 1 << iota
	// flagExiting is set by whoever takes the exit on (takeExit): the
	// process itself, after its Terminate, or System.Abandon for a
	// process whose goroutine is stuck in user code. Only that one
	// finishes the exit (finish).
	flagExiting
)

// The bits of process.bits. Owner only.
const (
	bitActive    uint8 = 1 << iota // the process holds an activation of code
	bitTrapExit                    // exit signals become ExitMsg (Context.TrapExit)
	bitHandoff                     // hand queued messages to the parent at exit (WithHandoff)
	bitKeepName                    // leave the name to the parent at exit (WithKeepName)
	bitTerminate                   // Terminate runs before the exit (see reason)
	bitAnswered                    // a call was handled since the mailbox was last empty
)

func (p *process) is(b uint8) bool { return p.bits&b != 0 }

func (p *process) set(b uint8, on bool) {
	if on {
		p.bits |= b
	} else {
		p.bits &^= b
	}
}

func (p *process) isNamed() bool   { return p.flags.Load()&flagNamed != 0 }
func (p *process) setNamed()       { p.flags.Or(flagNamed) }
func (p *process) isExiting() bool { return p.flags.Load()&flagExiting != 0 }

// takeExit sets flagExiting and reports whether this call set it.
func (p *process) takeExit() bool { return p.flags.Or(flagExiting)&flagExiting == 0 }

// pid returns the process's PID.
func (p *process) pid() PID { return PID{id: p.id} }

// cur returns the version that built the process's state.
func (p *process) cur() *code { return p.ver.Load() }

// context returns the process as its callbacks see it: a Context is the
// process under another type, whose only field it is.
func (p *process) context() *Context { return (*Context)(unsafe.Pointer(p)) }

// parent returns the PID of the process that spawned this one, zero for
// none: a local process, whose PID is kept as its id alone. It is kept
// where setParent put it.
func (p *process) parent() PID {
	if x := p.ext.Load(); x != nil && x.parent != 0 {
		return PID{id: x.parent}
	}
	if u := p.up.Load(); u != nil {
		return PID{id: u.parent}
	}
	return PID{}
}

// setParent records the process that spawned this one, before this one is
// shared: in the procExt of a child linked to it, which has one anyway
// (the link), else aside (most processes are spawned from outside any
// process, and keep neither).
func (p *process) setParent(parent *process, link bool) {
	if link {
		p.x().parent = parent.id
	} else {
		p.aside().parent = parent.id
	}
}

// sys returns the process's System, the one NewSystem returned: its
// version's (a process is allocated per spawn, and keeps no pointer of
// its own).
func (p *process) sys() *System { return p.ver.Load().sys }

// module returns the process's module: its version's.
func (p *process) module() *module { return p.ver.Load().mod }

// aside returns the process's aside, allocating it at the first need.
// Owner only.
func (p *process) aside() *aside {
	if u := p.up.Load(); u != nil {
		return u
	}
	u := new(aside)
	p.up.Store(u)
	return u
}

// out returns what a callback handed back (see ctxOut), nil when none.
// Owner only.
func (p *process) out() *ctxOut {
	if u := p.up.Load(); u != nil {
		return u.out
	}
	return nil
}

// pinnedBase reports the base release of the process's pin, as published, or
// nil. Safe from any goroutine.
func (p *process) pinnedBase() *release {
	if u := p.up.Load(); u != nil {
		return u.pinPub.Load()
	}
	return nil
}

// procExt holds what few processes need, so that an idle process without
// links stays small. The fields up to finished are guarded by mu: besides
// the owner, System.Abandon reads them when it finishes the exit of a
// process whose goroutine is stuck in user code.
type procExt struct {
	mu sync.Mutex
	// closing: the exit has taken the links and monitors; finished: it
	// has told them and the waiters. reason is the exit reason from
	// closing on.
	closing, finished bool
	reason            error
	links             linkSet
	monitors          map[Ref]PID // monitors this process holds, by ref
	watchers          map[Ref]PID // processes monitoring this one
	deferred          []*callEnv  // calls to answer later through a ReplyTo
	// waiters wait for the exit: Stop callers (*stopReq) and Watch
	// handles (*Exited), in one list since few processes have either.
	waiters []any
	held    []heldBacklog // see Context.Hold, Context.HoldReservation
	// parent is the id of the process that spawned this one, when linked
	// to it from the start (see setParent). Set before the process is
	// shared.
	parent uint64
	// Set while the process starts (see spawn), read by its exit: the
	// reservation whose name it took (WithReservation), given back if
	// Init fails; nil once Init succeeded. Then keepBound, the mailbox
	// bound that applies to the queue of the reservation it leaves at
	// exit (WithKeepName).
	took      *Reservation
	keepBound mailbox.Options
	// starts are processes this one spawned from its receive loop whose
	// own loops wait for this goroutine (see handOff). Owner only.
	starts []*process
	// Owner only. cont is the step Context.Continue asked for, handled
	// before the next user message (see runContinue); nil when none.
	cont  any
	log   *zap.Logger
	batch *Batch  // reused by receiveBatch
	view  *System // handed out by Context.System
}

// exitedExt is the procExt of every process that exited without needing
// one of its own (see finish): closing and finished, never written. Only
// System.Watch and the like, from other goroutines, can still find it:
// the process's own code has stopped running.
var exitedExt = &procExt{closing: true, finished: true}

// continuing reports whether Context.Continue left a step to run. Owner
// only.
func (p *process) continuing() bool {
	x := p.ext.Load()
	return x != nil && x.cont != nil
}

// x returns the process's procExt, creating it if needed. Safe from any
// goroutine.
func (p *process) x() *procExt {
	if x := p.ext.Load(); x != nil {
		return x
	}
	p.ext.CompareAndSwap(nil, &procExt{})
	return p.ext.Load()
}

// ExitMsg is what a process trapping exits receives instead of dying:
// OTP's {'EXIT', From, Reason}. From is zero for System.Exit.
type ExitMsg struct {
	From   PID
	Reason error
	// Queued holds the user messages the exited process had not handled,
	// in order, when it was spawned WithHandoff and this process is its
	// parent: a supervisor passes them to the replacement (WithBacklog).
	// Whoever receives them and does not pass them on must report them
	// (System.Undeliverable); the runtime does so when they would be
	// dropped with a mailbox.
	Queued *mailbox.Backlog
	// Reserved is the exited process's registered name, kept with the
	// messages sent to it since, when it was spawned WithKeepName and this
	// process is its parent. The receiver passes it to the replacement
	// (WithReservation) or releases it (System.ReleaseReservation); the
	// runtime holds it for the receiver meanwhile, and releases it with the
	// receiver's exit reason if the receiver exits first.
	Reserved *Reservation
}

// Down is what a monitoring process receives when the monitored one exits:
// OTP's {'DOWN', Ref, process, PID, Reason}. Reason is NoProc if it was
// already dead when the monitor was set.
type Down struct {
	Ref    Ref
	PID    PID
	Reason error
}

// run is the body of a goroutine started for a process whose mailbox went
// from idle to having work: it runs the process's receive loop, then the
// loop of whichever process that one hands the goroutine to (see loop),
// until none does.
func (p *process) run() {
	for q := p; q != nil; {
		q = q.loop()
	}
}

// growStack makes the goroutine's stack at least stackPad deep (see loop,
// and receive for a request).
//
//go:noinline
func growStack() {
	var pad [stackPad]byte
	touch(pad[:])
}

// touch keeps growStack's frame from being optimized away.
//
//go:noinline
func touch(b []byte) { b[len(b)-1] = 1 }

const stackPad = 12 << 10

// loop is the receive loop, the only long-lived code of a process. It
// runs while the mailbox has work and returns when it is idle again, so an
// idle process holds no goroutine. Each turn takes the system lane first
// (exit signals, links, monitors, suspend/resume, stop, info); then one
// user message, handled by the version that is current right now
// (receive). After any message that decided the process must exit, it
// exits.
//
// Instead of ending, the goroutine may go on with another process's loop,
// which loop returns: the parent an exit woke (see finish), or a process
// this one spawned (see handOff). A restart then runs on one goroutine
// from the crash to the replacement's first message: the child's exit
// wakes its supervisor, whose restart spawns the replacement. Starting a
// goroutine for each costs more than the restart itself, mostly in
// growing a fresh goroutine's stack, which this one has grown already.
// (Each woken process would otherwise get a goroutine of its own; the
// other choice, a pool of worker goroutines, would add a hand-over
// between goroutines to every wake-up, where this adds none.)
func (p *process) loop() *process {
	for {
		if p.isExiting() { // abandoned while it ran user code
			p.startAll()
			p.zombie()
			return nil
		}
		if p.continuing() && p.mb.UserReady() {
			p.runContinue()
		} else if !p.next() {
			return nil // idle; the next push starts a new run
		}
		if p.reason != nil {
			return p.exitNow()
		}
		if p.starting {
			if q := p.handOff(); q != nil {
				return q
			}
		}
	}
}

// exitNow exits after a message that decided the process must exit (its
// reason is set), as the receive loop does; it returns what exit returns.
func (p *process) exitNow() *process {
	p.startAll()
	if p.is(bitHandoff) {
		// Its exit hands its queue to its supervisor, whose restart runs
		// next on this goroutine (see finish): the stack it needs is grown
		// now, while it holds two frames, rather than deep in the restart,
		// which would copy every frame.
		growStack()
	}
	return p.exit(p.reason, p.is(bitTerminate))
}

// handOff starts the processes this one spawned while handling its last
// message. If it has nothing else to do now (its mailbox goes idle), the
// first of them gets this goroutine: handOff returns it, and loop returns
// it to run. The others get goroutines of their own.
func (p *process) handOff() *process {
	// Taken before the mailbox may go idle: from then on another
	// goroutine may run this process.
	var buf [4]*process
	starts := p.takeStarts(buf[:0])
	if len(starts) == 0 {
		return nil
	}
	if !p.continuing() && p.mb.Idle() {
		for _, q := range starts[1:] {
			go q.run()
		}
		return starts[0]
	}
	for _, q := range starts {
		go q.run()
	}
	return nil
}

// startAll starts a goroutine for each process that waits for this one's
// (see handOff).
func (p *process) startAll() {
	var buf [4]*process
	for _, q := range p.takeStarts(buf[:0]) {
		go q.run()
	}
}

// takeStarts appends to buf the processes waiting for this one's
// goroutine, those it spawned first, then those its sends woke (see
// holdWake), and forgets them.
func (p *process) takeStarts(buf []*process) []*process {
	if !p.starting {
		return buf
	}
	p.starting = false
	if x := p.ext.Load(); x != nil {
		buf = append(buf, x.starts...)
		clear(x.starts)
		x.starts = x.starts[:0] // kept: a supervisor defers a start per restart
	}
	return p.takeWakes(buf)
}

// next handles the next message: a signal first, else a user message. It
// reports false when there is none and the mailbox went idle.
func (p *process) next() bool {
	msg, lane, ok := p.mb.Peek()
	if !ok {
		// A process that just answered a call, or that has taken a
		// stream of messages in this run, yields once before going
		// idle: the caller's next request, or the sender's next
		// message, often arrives within a scheduler turn, and taking it
		// on this goroutine saves starting a new one (a sender that
		// outpaces a restarting owner also makes its queue, and so its
		// memory, grow). Other processes go idle at once; with many
		// runnable processes a yield only adds a turn.
		if p.is(bitAnswered) || p.streak > 1 {
			p.set(bitAnswered, false)
			runtime.Gosched()
		}
		p.streak = 0
		if msg, lane, ok = p.mb.Next(); !ok {
			return false
		}
	}
	if p.streak < 2 {
		p.streak++
	}
	if lane == mailbox.System {
		p.handleSignal(msg)
	} else {
		p.receive(msg)
	}
	return true
}

// receive handles one user message. It first picks up the module's current
// version: one atomic load, and when that version is not the one that built
// the state, the state migrates before the message is handled. A failed
// migration leaves the process on its version with its state untouched.
func (p *process) receive(msg any) {
	p.pickupCurrent()
	if bh := p.cur().v.batch; bh != nil {
		p.receiveBatch(bh, msg, true)
		return
	}
	if p.stale(msg) {
		return
	}
	if m, ok := msg.(*callEnv); ok {
		if m.then != nil {
			// A request's answer function runs on this goroutine, deep in
			// the handler; a cluster node's encodes the answer and writes
			// it to the network, which takes more stack than a goroutine
			// started for one message has. Grown here, the stack copies
			// the loop's few frames, not the handler's and the encoder's
			// (a remote call's median: 45.5 µs without, 35 with, in one
			// alternated comparison; see docs/cluster.md).
			growStack()
		}
		req := m.req // the envelope may be reused once answered
		p.set(bitAnswered, true)
		p.call = m
		p.handle(req)
		if p.call != nil && p.reason == nil && !p.isExiting() {
			// Neither answered nor deferred. (If the process is exiting,
			// exit, or zombie, answers with the reason instead.)
			p.call = nil
			m.finish(nil, ErrNoReply)
		}
		msg = req
	} else {
		p.handle(msg)
	}
	if h := p.sys().onHandled.Load(); h != nil {
		p.sys().handled(h, p.pid(), msg)
	}
}

// pickupCurrent moves the process to the module's current version (or its
// pin) if it is not on it: one atomic load when it is. A migration runs
// user code and may take long (a plugin's round trip, a plugin process
// starting), and another version may be made current meanwhile: then its
// result is dropped and the process migrates to the version current now
// (see pickup), so that it only ever moves to what it should run when it
// moves. (Publishing the older result and leaving the next message to move
// on was the other choice: the process would run, in between, a version
// that is neither current nor pinned, which a plan that read its version
// before the move would report wrongly.)
func (p *process) pickupCurrent() {
	if !p.sys().pickup {
		return
	}
	for rel := p.wanted(); rel.code != p.cur() && !p.skips(rel); rel = p.wanted() {
		if !p.pickup(rel) {
			return
		}
	}
}

// wanted returns the release the process should run now: the module's
// current one, or its pin while the pin holds.
func (p *process) wanted() *release {
	rel := p.module().current.Load()
	if u := p.up.Load(); u != nil && u.pin != nil {
		rel = p.pinned(u, rel)
	}
	return rel
}

// skips reports whether rel is the release whose migration failed for
// the process (see aside.skip).
func (p *process) skips(rel *release) bool {
	u := p.up.Load()
	return u != nil && u.skip == rel
}

// Continued is the message Handle receives for a step a callback asked
// for with Context.Continue: OTP's handle_continue(Continue, State).
type Continued struct {
	Step any
}

// runContinue handles the step Context.Continue left, before any user
// message, on the version that is current now (a long job made of steps
// moves to new code between two of them).
func (p *process) runContinue() {
	x := p.ext.Load()
	msg := Continued{Step: x.cont}
	x.cont = nil
	p.pickupCurrent()
	if bh := p.cur().v.batch; bh != nil {
		p.receiveBatch(bh, msg, false)
		return
	}
	p.handle(msg)
}

// stale reports a Down of a monitor removed meanwhile: it is flushed, as by
// demonitor(Ref, [flush]). A Down that is not stale ends its monitor.
func (p *process) stale(msg any) bool {
	m, ok := msg.(Down)
	if !ok {
		return false
	}
	x := p.ext.Load()
	if x == nil {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.monitors[m.Ref] != m.PID {
		return true
	}
	delete(x.monitors, m.Ref)
	return false
}

// temporary reports an error that says it may not happen again
// (Temporary() true, as a plugin that is restarting reports): the
// migration is tried again at the next message instead of being skipped
// until another version is made current.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// pinned applies the pin to the module's current release.
func (p *process) pinned(u *aside, cur *release) *release {
	if cur == u.pinBase {
		return u.pin
	}
	p.setPin(nil, nil)
	return cur
}

// handle calls the version's Handle. An error or a panic becomes the exit
// reason; the state the handler returned is what Terminate sees.
func (p *process) handle(msg any) {
	p.looping = true
	returned := false
	defer func() {
		p.looping = false
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			p.stop(newPanicError(r), true)
		}
	}()
	state, err := p.cur().v.handle(p.context(), p.state, msg)
	returned = true
	p.state = state
	if err != nil {
		p.stop(SafeError(err), true)
	}
}

// pickup migrates the process to rel, the release it should run. It
// reports whether pickupCurrent must look again: after a move (one atomic
// load shows it is done), and when rel stopped being what the process
// should run while the migration ran, whose result is then dropped
// (migrations do not modify the state they are given, so the process's
// own is intact).
func (p *process) pickup(rel *release) (again bool) {
	from := p.cur()
	steps, err := rel.routeFrom(from)
	state := p.state
	if err == nil {
		state, err = migrate(from.v, rel.code.v, steps, p.state, rel.extra)
	}
	if err != nil {
		if !temporary(err) {
			p.aside().skip = rel
		}
		p.sys().log.Error("code_change failed; process stays on its version",
			zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
			zap.String("from", from.v.name), zap.String("to", rel.code.v.name), zap.Error(err))
		if p.sys().watched() {
			p.sys().emit(MigrationFailed{PID: p.pid(), Module: p.module().name, From: from.v.name, To: rel.code.v.name, Err: err})
		}
		return p.wanted() != rel // another version was made current meanwhile: that one is tried
	}
	if p.wanted() != rel {
		if ce := p.sys().log.Check(zap.DebugLevel, "code_change dropped: another version was made current while it ran"); ce != nil {
			ce.Write(zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
				zap.String("from", from.v.name), zap.String("to", rel.code.v.name))
		}
		return true
	}
	if !rel.code.acquire(p.sys()) {
		// rel is retired already, so no longer current: its successor is
		// tried now (a pin to it, while the pin holds, at the next message).
		return p.wanted() != rel
	}
	// Nothing can fail from here: the event goes out before the new
	// version is published (VersionOf), so whoever sees the process on it
	// has heard of the migration (a lazy upgrade that lists the tree after
	// its commit counts on it). A version made current since the check
	// above is picked up right after, before the message: the caller looks
	// again.
	if ce := p.sys().log.Check(zap.DebugLevel, "code_change"); ce != nil {
		ce.Write(zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
			zap.String("from", from.v.name), zap.String("to", rel.code.v.name))
	}
	if p.sys().watched() {
		p.sys().emit(Migrated{PID: p.pid(), Module: p.module().name, From: from.v.name, To: rel.code.v.name})
	}
	p.setCode(rel.code, state)
	from.drop(p.sys())
	return true
}

// stop records that the process must exit once the current message is done.
// The first reason wins.
func (p *process) stop(reason error, terminate bool) {
	if p.reason == nil {
		p.reason = reason
		p.set(bitTerminate, terminate)
	}
}

func (p *process) callInit(args any) (state any, err error) {
	returned := false
	defer func() {
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	state, err = p.cur().v.init(p.context(), args)
	returned = true
	return state, SafeError(err)
}

func (p *process) callTerminate(reason error) {
	defer func() {
		if r := recover(); r != nil {
			// As in OTP, a crash in terminate is the exit reason.
			p.context().chooseExit(newPanicError(r))
			p.sys().log.Error("terminate panicked", zap.Stringer("pid", p.pid()),
				zap.Stringer("version", p.cur().v), zap.Any("panic", r))
		}
	}()
	p.cur().v.terminate(p.context(), p.state, reason)
}

// Signals: the system lane.

type exitSig struct {
	from     PID
	reason   error
	link     bool             // sent because a linked process exited
	queued   *mailbox.Backlog // handed over to the parent (WithHandoff)
	reserved *Reservation     // the name left to the parent (WithKeepName)
	// at is where the signal arrived in the user lane, for the ExitMsg a
	// trapping process makes of it (see signalLater).
	at mailbox.Mark
}

// drop reports what an exit signal carried for its receiver when it will
// not be passed on: the handed-over messages and the kept name.
func (s exitSig) drop(sys *System) {
	sys.undeliverableAll(s.from, s.queued, s.reason)
	sys.ReleaseReservation(s.reserved, s.reason)
}

type linkSig struct{ from PID }
type unlinkSig struct{ from PID }
type monitorSig struct {
	ref  Ref
	from PID
}
type demonitorSig struct{ ref Ref }

// sysRequest is a synchronous request answered on the system lane.
type sysRequest interface {
	doneCh() <-chan struct{}
	result() error
}

type stopReq struct {
	reason error
	done   chan struct{} // nil when nobody waits (Shutdown)
}

type suspendReq struct {
	suspend   bool
	exclusive bool // fail with ErrAlreadySuspended if suspended already
	// taken: 0 queued, 1 served, 2 given up by its sender (TrySuspend):
	// then it is never served.
	taken atomic.Int32
	done  chan struct{}
	err   error
}

// inspectReq runs f on the owner's goroutine with the plain state. If
// exited is set, it is closed once a process that f made exit (Evict) has
// finished exiting, or at once if f did not.
type inspectReq struct {
	f      func(state any)
	done   chan struct{}
	exited chan struct{}
	err    error
}

type watchReq struct{ w *Exited }

type infoReq struct {
	info ProcessInfo
	done chan struct{}
	err  error
}

func (r *stopReq) doneCh() <-chan struct{}    { return r.done }
func (r *stopReq) result() error              { return nil }
func (r *suspendReq) doneCh() <-chan struct{} { return r.done }
func (r *suspendReq) result() error           { return r.err }
func (r *infoReq) doneCh() <-chan struct{}    { return r.done }
func (r *infoReq) result() error              { return r.err }
func (r *inspectReq) doneCh() <-chan struct{} { return r.done }
func (r *inspectReq) result() error           { return r.err }

func (p *process) handleSignal(msg any) {
	switch s := msg.(type) {
	case *exitSig:
		p.onExitSignal(*s)
	case linkSig:
		if !p.addLink(s.from) {
			p.refuseSignal(s, Killed)
		}
	case unlinkSig:
		p.removeLink(s.from)
	case monitorSig:
		x := p.x()
		x.mu.Lock()
		if !x.closing {
			if x.watchers == nil {
				x.watchers = make(map[Ref]PID)
			}
			x.watchers[s.ref] = s.from
		}
		done := x.closing
		x.mu.Unlock()
		if done {
			p.refuseSignal(s, Killed)
		}
	case demonitorSig:
		if x := p.ext.Load(); x != nil {
			x.mu.Lock()
			delete(x.watchers, s.ref)
			x.mu.Unlock()
		}
	case *stopReq:
		if s.done != nil {
			x := p.x()
			x.mu.Lock()
			if x.finished {
				close(s.done)
			} else {
				x.waiters = append(x.waiters, s)
			}
			x.mu.Unlock()
		}
		p.stop(s.reason, true)
	case *suspendReq:
		switch {
		case !s.taken.CompareAndSwap(0, 1):
			return // its sender gave up on it
		case s.exclusive && p.mb.Suspended():
			s.err = fmt.Errorf("%w: %v", ErrAlreadySuspended, p.pid())
		case s.suspend:
			p.mb.Suspend()
		default:
			p.mb.Resume()
		}
		close(s.done)
	case *infoReq:
		s.info = p.info()
		close(s.done)
	case *inspectReq:
		s.err = p.inspect(s.f)
		if s.exited != nil {
			if s.err == nil && p.reason != nil {
				x := p.x()
				x.mu.Lock()
				x.waiters = append(x.waiters, &stopReq{done: s.exited})
				x.mu.Unlock()
			} else {
				close(s.exited)
			}
		}
		close(s.done)
	case *watchReq:
		p.addWatch(s.w)
	case *batchItem:
		p.serveBatch(s)
	case holdsReq:
		p.onHolds(s)
	}
}

// inspect runs f with the plain state, recovering a panic as an error.
func (p *process) inspect(f func(state any)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	f(p.cur().v.plain(p.state))
	return nil
}

// onExitSignal applies OTP's rules for an incoming exit signal.
func (p *process) onExitSignal(s exitSig) {
	if s.link {
		if !p.hasLink(s.from) {
			s.drop(p.sys())
			return // unlinked meanwhile: the signal is stale
		}
		p.removeLink(s.from)
	}
	switch {
	case s.reason == Kill && !s.link:
		p.stop(Killed, false) // untrappable
	case p.is(bitTrapExit) && s.from == p.parent() && !s.from.IsZero():
		// gen_server: an exit signal from the parent (its exit through the
		// link, or exit/2 as a supervisor's shutdown sends) ends a trapping
		// process, Terminate included.
		p.stop(s.reason, true)
	case p.is(bitTrapExit):
		// The message takes the place the signal had when it arrived, so
		// it comes after what the sender sent before it and before what it
		// sent after (OTP's signal order between two processes).
		p.mb.InsertUser(ExitMsg{From: s.from, Reason: s.reason, Queued: s.queued, Reserved: s.reserved}, s.at)
		if s.reserved != nil {
			// Held from now: if this process exits before it has passed the
			// reservation on, the exit releases it (see ExitMsg.Reserved).
			p.holdReservation(s.reserved)
		}
		return
	case s.reason == Normal:
		// ignored by a process that does not trap exits
	default:
		p.stop(s.reason, false)
	}
	s.drop(p.sys())
}

func (p *process) hasLink(pid PID) bool {
	x := p.ext.Load()
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.links.has(pid)
}

// addLink records a link; false if the process has exited meanwhile
// (abandoned: see System.Abandon), when nobody would signal the link.
func (p *process) addLink(pid PID) bool {
	x := p.x()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closing {
		return false
	}
	x.links.add(pid)
	return true
}

func (p *process) removeLink(pid PID) {
	if x := p.ext.Load(); x != nil {
		x.mu.Lock()
		x.links.remove(pid)
		x.mu.Unlock()
	}
}

// heldBacklog is a queue another process handed over that this one keeps
// (Context.Hold), or a reservation it holds (Context.HoldReservation).
type heldBacklog struct {
	from PID
	b    *mailbox.Backlog
	r    *Reservation
}

// live reports whether h still holds anything to answer for.
func (h heldBacklog) live() bool {
	if h.r != nil {
		return h.r.open()
	}
	return h.b.Len() > 0
}

// drop reports what h holds as undeliverable with reason.
func (h heldBacklog) drop(s *System, reason error) {
	if h.r != nil {
		s.ReleaseReservation(h.r, reason)
		return
	}
	s.undeliverableAll(h.from, h.b, reason) // a no-op once passed on
}

// addWatch adds w to the process's Watch handles, or closes it at once
// with the exit reason if the exit has finished. Safe from any goroutine.
func (p *process) addWatch(w *Exited) {
	x := p.x()
	if x == exitedExt {
		w.reason = p.reason // written before exitedExt was stored (see finish)
		close(w.done)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.finished {
		w.reason = x.reason
		close(w.done)
		return
	}
	x.waiters = append(x.waiters, w)
}

func (p *process) info() ProcessInfo {
	user, _ := p.mb.Len()
	in := ProcessInfo{
		PID: p.pid(), Module: p.module().name, Version: p.cur().v.name, Parent: p.parent(),
		TrapExit: p.is(bitTrapExit), Suspended: p.mb.Suspended(), Queued: user,
	}
	if x := p.ext.Load(); x != nil {
		x.mu.Lock()
		in.Links = x.links.appendTo(in.Links)
		x.mu.Unlock()
	}
	return in
}

// exit ends the process: Terminate (when the exit is the process's own
// decision), then the rest of the exit (finish), unless System.Abandon
// took the exit over while Terminate ran. It returns the process the exit
// woke for the caller's goroutine to run (see finish), or nil.
func (p *process) exit(reason error, terminate bool) *process {
	if p.isExiting() { // abandoned: Terminate is not for a killed process
		p.zombie()
		return nil
	}
	if terminate && p.is(bitActive) && p.cur().v.terminate != nil {
		p.callTerminate(reason)
		reason = p.context().exitReason(reason) // a ReasonTerminator may choose another
	}
	p.startAll() // spawned by Terminate
	if !p.takeExit() {
		p.zombie()
		return nil
	}
	return p.finish(reason, true)
}

// exitAndRun is exit for a caller whose goroutine goes on with its own
// work: the process the exit woke gets a goroutine of its own.
func (p *process) exitAndRun(reason error, terminate bool) {
	if q := p.exit(reason, terminate); q != nil {
		go q.run()
	}
}

// finish does an exit taken on (see exiting): the process leaves its name
// first, so that whoever learns of the exit in any way finds the name
// free; then the table; then it answers every pending call, reports queued
// messages as dead letters, and signals links and monitors; waiters last.
// The owner calls it (owner true), or System.Abandon for a process whose
// goroutine is in user code: then what only the owner may touch (its
// current call, its batch of messages, its activation) is left to that
// goroutine for when it returns (zombie), unless the mailbox shows no
// goroutine at all.
//
// If the exit signal to the parent wakes the parent (its mailbox was
// idle), finish does not start a goroutine for it when the owner exits:
// it returns the parent, whose loop the owner's goroutine runs next (see
// loop). Otherwise it returns nil.
func (p *process) finish(reason error, owner bool) (wake *process) {
	s := p.sys()
	// A process that never needed its procExt exits without one: it has no
	// links, monitors or waiters to tell, and a late Watch finds exitedExt
	// (below). An abandoned process gets one, for its zombie goroutine and
	// the user code it is stuck in to find the exit in.
	x := p.ext.Load()
	if x == nil && !owner {
		x = p.x()
	}
	linked := false
	if x != nil {
		x.mu.Lock()
		linked = x.links.has(p.parent())
		x.mu.Unlock()
	}
	// The name, first. A process whose Init failed gives back the
	// reservation it took (and every message it was given, which closes
	// its mailbox: given back). One spawned WithKeepName leaves its name
	// to its parent, reserved before its mailbox closes, so that a send by
	// name that finds the mailbox closed finds the reservation instead.
	var kept *Reservation
	var sysLeft, userLeft []any
	closed := false
	switch {
	case owner && x != nil && x.took != nil:
		sysLeft, closed = s.giveBack(p, x.took, reason), true
		x.took = nil
	case owner && p.is(bitKeepName) && linked && p.isNamed():
		kept = s.reserve(p, x.keepBound)
	case p.isNamed():
		s.unregisterPID(p.pid())
	}
	// With handoff, what is still queued goes to the parent whole, with the
	// exit signal, for a supervisor to pass to the replacement (notices
	// such as ExitMsg and Down go along; the replacement drops a Down it
	// did not ask for). Otherwise each message is reported.
	handoff := p.is(bitHandoff) && linked
	var handed *mailbox.Backlog
	switch {
	case closed:
	case !owner:
		var idle bool
		sysLeft, userLeft, idle = p.mb.CloseForeign()
		if idle { // no goroutine will come back: do its part too
			owner = true
			s.abandoned.Add(-1)
		} else {
			p.reportAbandoned()
		}
	case handoff:
		sysLeft, handed = p.mb.CloseBacklog()
	default:
		sysLeft, userLeft = p.mb.Close()
	}
	p.logExit(reason) // the crash report comes before anyone hears of the exit
	if owner {
		p.release(reason)
	}

	var (
		links              linkSet
		watchers, monitors map[Ref]PID
		deferred           []*callEnv
		held               []heldBacklog
	)
	if x != nil {
		x.mu.Lock()
		x.closing, x.reason = true, reason
		links, watchers, monitors, deferred, held = x.links, x.watchers, x.monitors, x.deferred, x.held
		x.links, x.watchers, x.monitors, x.deferred, x.held = linkSet{}, nil, nil, nil, nil
		x.mu.Unlock()
	}

	if len(deferred) > 0 {
		gone := &ExitError{PID: p.pid(), Reason: reason}
		for _, c := range deferred {
			c.finish(nil, gone)
		}
	}
	for _, m := range sysLeft {
		p.refuseSignal(m, reason)
	}
	for _, m := range userLeft {
		p.dropLeft(m, reason)
	}
	for _, h := range held {
		h.drop(s, reason)
	}
	s.procs.remove(p.id) // before the links and monitors hear of it
	s.takenByExited.Add(p.mb.Taken())
	wake = p.tellExit(reason, owner, links, watchers, monitors, handed, kept)
	if s.watched() {
		p.emitExited(reason)
	}
	s.exited()
	// Waiters last: when they wake, the process is gone in every respect.
	if x == nil {
		p.reason = reason // for a late Watch, which reads it once it sees exitedExt
		if p.ext.CompareAndSwap(nil, exitedExt) {
			return wake
		}
		x = p.ext.Load() // a Watch came meanwhile: it waits in a procExt of its own
		x.mu.Lock()
		x.closing, x.reason = true, reason
		x.mu.Unlock()
	}
	x.mu.Lock()
	x.finished = true
	waiters := x.waiters
	x.waiters = nil
	x.mu.Unlock()
	for _, w := range waiters { // the stops are answered first (see StopWith)
		if r, ok := w.(*stopReq); ok {
			close(r.done)
		}
	}
	for _, w := range waiters {
		if e, ok := w.(*Exited); ok {
			e.reason = reason
			close(e.done)
		}
	}
	return wake
}

// tellExit sends the exit to the links (the parent's signal carries what
// is handed over to it), Down to the watchers, and drops the monitors
// this process held. It returns the parent when the signal woke it and
// owner is set (see finish). A function of its own, as is emitExited:
// their frames then come and go instead of adding to finish's, on a
// goroutine whose stack is often still the smallest.
//
//go:noinline
func (p *process) tellExit(reason error, owner bool, links linkSet, watchers, monitors map[Ref]PID, handed *mailbox.Backlog, kept *Reservation) (wake *process) {
	s := p.sys()
	// A slice, not a range-over-func iterator: the loop's body as a
	// function would move what it writes (handed, kept, wake) to the heap
	// at every exit.
	var one [1]PID
	for _, l := range links.appendTo(one[:0]) {
		if r := s.remoteFor(l); r != nil {
			// A lost connection tells l itself; a parent elsewhere gets
			// no backlog (reported below).
			_ = r.Exit(p.pid(), l, reason, true)
			continue
		}
		sig := exitSig{from: p.pid(), reason: reason, link: true}
		t := s.lookup(l)
		if l == p.parent() {
			sig.queued, handed = handed, nil
			sig.reserved, kept = kept, nil
			if t != nil && owner {
				sched, ok := t.signalLater(sig)
				if !ok {
					sig.drop(s)
				} else if sched {
					wake = t
				}
				continue
			}
		}
		if t == nil || !t.signal(sig) {
			sig.drop(s)
		}
	}
	// Not linked to the parent any more: nobody else will pass these on.
	s.undeliverableAll(p.pid(), handed, reason)
	s.ReleaseReservation(kept, reason)
	for ref, w := range watchers {
		if r := s.remoteFor(w); r != nil {
			r.Down(p.pid(), w, ref, reason)
		} else if t := s.lookup(w); t != nil {
			t.notify(Down{Ref: ref, PID: p.pid(), Reason: reason})
		}
	}
	for ref, target := range monitors {
		if r := s.remoteFor(target); r != nil {
			r.Demonitor(p.pid(), target, ref)
		} else if t := s.lookup(target); t != nil {
			t.signal(demonitorSig{ref: ref})
		}
	}

	return wake
}

// emitExited tells the subscribers of the exit (see tellExit).
//
//go:noinline
func (p *process) emitExited(reason error) {
	p.sys().emit(ProcessExited{PID: p.pid(), Module: p.module().name, Version: p.ver.Load().v.name, Reason: reason})
}

// reportAbandoned reports a process whose goroutine Abandon leaves behind.
func (p *process) reportAbandoned() {
	v := p.ver.Load().v.name
	p.sys().log.Error("process abandoned: declared killed while its goroutine was running; the goroutine is left to finish",
		zap.Stringer("pid", p.pid()), zap.String("module", p.module().name), zap.String("version", v))
	if p.sys().watched() {
		p.sys().emit(ProcessAbandoned{PID: p.pid(), Module: p.module().name, Version: v})
	}
}

// release lets go of what only the process's own goroutine may touch: the
// call it was handling and its activation of its version.
func (p *process) release(reason error) {
	if p.call != nil {
		p.call.finish(nil, &ExitError{PID: p.pid(), Reason: reason})
		p.call = nil
	}
	if u := p.up.Load(); u != nil && u.pending != nil && u.pending.leaving {
		p.cur().leaving.Add(-1)
	}
	if p.is(bitActive) {
		p.set(bitActive, false)
		p.cur().drop(p.sys())
	}
}

// dropLeft reports a user message left in the mailbox of an exited
// process.
func (p *process) dropLeft(m any, reason error) {
	switch m := m.(type) {
	case ExitMsg:
		// handed to us, not passed on
		p.sys().undeliverableAll(m.From, m.Queued, m.Reason)
		p.sys().ReleaseReservation(m.Reserved, m.Reason)
	case Down:
		// a notice addressed to this process; nobody else wants it
	default:
		p.sys().undeliverable(p.pid(), m, reason)
	}
}

// zombie is what the process's goroutine does when it comes back from user
// code to find that System.Abandon finished its exit meanwhile: it lets go
// of what Abandon left to it (see finish), reports the messages it had
// taken and not handled, and stops. Nothing it does changes the process,
// which is gone.
func (p *process) zombie() {
	reason := Killed
	if x := p.ext.Load(); x != nil {
		x.mu.Lock()
		reason = x.reason
		x.mu.Unlock()
	}
	for _, m := range p.mb.DrainOwned() {
		p.dropLeft(m, reason)
	}
	p.release(reason)
	p.sys().log.Warn("abandoned process's goroutine returned", zap.Stringer("pid", p.pid()),
		zap.String("module", p.module().name), zap.String("version", p.cur().v.name))
	p.sys().abandoned.Add(-1)
}

// refuseSignal answers a signal that arrived too late: the process has
// exited (with reason), so a link or monitor sees noproc, as in OTP.
func (p *process) refuseSignal(m any, reason error) {
	s := p.sys()
	switch r := m.(type) {
	case *exitSig:
		// A handoff child's queue (or kept name) that reached us too
		// late: nobody will pass it on.
		r.drop(s)
	case linkSig:
		if rm := s.remoteFor(r.from); rm != nil {
			_ = rm.Exit(p.pid(), r.from, NoProc, true)
		} else if t := s.lookup(r.from); t != nil {
			t.signal(exitSig{from: p.pid(), reason: NoProc, link: true})
		}
	case monitorSig:
		if rm := s.remoteFor(r.from); rm != nil {
			rm.Down(p.pid(), r.from, r.ref, NoProc)
		} else if t := s.lookup(r.from); t != nil {
			t.notify(Down{Ref: r.ref, PID: p.pid(), Reason: NoProc})
		}
	case *stopReq:
		if r.done != nil {
			close(r.done) // it is stopped, which is what was asked
		}
	case *suspendReq:
		r.err = &ExitError{PID: p.pid(), Reason: NoProc}
		close(r.done)
	case *infoReq:
		r.err = &ExitError{PID: p.pid(), Reason: NoProc}
		close(r.done)
	case *inspectReq:
		r.err = &ExitError{PID: p.pid(), Reason: NoProc}
		close(r.done)
	case *watchReq:
		// It was alive when the watch was asked for: done with the exit
		// reason once the exit is complete, as a Watch that came earlier
		// (an exit refuses queued signals before it tells the links).
		p.addWatch(r.w)
	case *batchItem:
		refuseBatch(r, p.pid(), reason)
	case holdsReq:
		r.done <- struct{}{} // gone: it holds nothing now
	}
}

func (p *process) logExit(reason error) {
	log := p.sys().log
	if isQuiet(reason) {
		// Enabled first: Check takes a frame that would grow a fresh
		// goroutine's stack on the exit path, for an entry seldom written.
		if !log.Core().Enabled(zap.DebugLevel) {
			return
		}
		if ce := log.Check(zap.DebugLevel, "process exited"); ce != nil {
			p.writeExit(ce, reason)
		}
		return
	}
	if ce := log.Check(zap.ErrorLevel, "process crashed"); ce != nil {
		p.writeExit(ce, reason) // fields, and a panic's stack, are built only for a logger that writes them
	}
}

// writeExit writes logExit's entry. Its fields take a frame of their own,
// off the exit path's stack when nothing is logged.
//
//go:noinline
func (p *process) writeExit(ce *zapcore.CheckedEntry, reason error) {
	fields := []zap.Field{
		zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
		zap.String("version", p.ver.Load().v.name), zap.String("reason", reason.Error()),
	}
	if pe, ok := reason.(*PanicError); ok {
		fields = append(fields, zap.ByteString("stack", pe.Stack()))
	}
	ce.Write(fields...)
}
