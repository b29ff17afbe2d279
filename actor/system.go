package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/mailbox"
)

// System owns processes, registered names and loaded modules. Everything
// hangs off a System; two Systems in one program never see each other. The
// zero System is not usable: call NewSystem. A System is safe for concurrent
// use. Shutdown stops it.
//
// The System a process's Context hands out (Context.System) is the same
// system seen from that process: a request the process would have to
// answer itself while it waits for the answer (a Call, CallNamed, Stop,
// Suspend, Resume, Info or Inspect addressed to itself) fails at once with
// ErrCallSelf instead of hanging until its deadline.
type System struct {
	*system
	// self is the process whose Context handed this System out; nil for
	// the System NewSystem returns.
	self *process
}

type system struct {
	// root is the System NewSystem returned, which processes keep.
	root *System

	log   *zap.Logger
	clock Clock
	// callTimeout applies to calls whose context has no deadline (OTP's
	// default gen_server:call timeout is 5 s).
	callTimeout time.Duration
	hookTimeout time.Duration // see WithHookTimeout
	wakeTick    time.Duration // see wakes; only tests change it
	// pickup is false only in the benchmark that measures what per-message
	// version pickup costs.
	pickup bool

	procs procTable
	// live counts processes from Spawn until the very end of their exit
	// (after links, monitors and waiters were told), so that Shutdown
	// returns only when every exit has finished.
	live   atomic.Int64
	refs   atomic.Uint64
	events events

	namesMu  sync.RWMutex
	names    map[string]PID          // guarded by namesMu
	nameOf   map[PID]string          // guarded by namesMu
	reserved map[string]*Reservation // guarded by namesMu; see WithKeepName
	// resolvedHook, set only by tests (export_test.go) before any send,
	// runs in sendNamed between finding a name's process and queueing the
	// message there: a test holds a send in that window.
	resolvedHook func(name string)
	// deadlineHook, set only by tests, runs when a call has joined the
	// deadlines.
	deadlineHook func()

	modMu sync.RWMutex
	mods  map[string]*module // guarded by modMu

	calls     sync.Pool // *callEnv
	deadlines deadlines // of calls under the default timeout
	wakes     wakes     // processes held for their wakers' goroutines (wakes.go)

	deadLetters atomic.Uint64
	// takenByExited is what exited processes' mailboxes had taken (Taken).
	takenByExited atomic.Uint64
	abandoned     atomic.Int64                   // goroutines of abandoned processes still in user code
	onHandled     atomic.Pointer[func(PID, any)] // see OnHandled

	extMu sync.Mutex
	ext   map[any]any // guarded by extMu; see Extension

	remote atomic.Pointer[remoteBox] // see AttachRemote
	timers timerTable                // pending SendAfter timers (timers.go)

	// Shutdown: stopping refuses new spawns; drained closes when the last
	// process has exited after stopping was set.
	stopping  atomic.Bool
	drained   chan struct{}
	drainOnce sync.Once

	hooksMu   sync.Mutex
	hooks     []func(context.Context) // guarded by hooksMu; see OnShutdown
	hooksDone bool                    // guarded by hooksMu
}

// Option configures a System.
type Option interface{ apply(*System) }

type optionFunc func(*System)

func (f optionFunc) apply(s *System) { f(s) }

// WithLogger sets the zap logger. The default is zap.NewNop().
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(s *System) {
		if l != nil {
			s.log = l
		}
	})
}

// WithClock sets the clock (default RealClock).
func WithClock(c Clock) Option {
	return optionFunc(func(s *System) {
		if c != nil {
			s.clock = c
		}
	})
}

// WithCallTimeout sets the timeout of calls whose context has no deadline.
// The default is 5 s, OTP's default; d <= 0 means no default timeout. One
// timer keeps it for every waiting call, ticking every d/16: a call times
// out between d and d·17/16 after it started (exactly at d when no other
// call was waiting).
func WithCallTimeout(d time.Duration) Option {
	return optionFunc(func(s *System) { s.callTimeout = d })
}

// WithHookTimeout bounds how long the runtime waits for a hook it calls:
// a version's retire and release hooks (OnRetire, OnRelease, a Releaser)
// and shutdown hooks (OnShutdown). A hook still running after d is logged
// and left to finish on its own goroutine. The bound is wall-clock time,
// not the system's Clock. The default is 5 s; d <= 0 waits without limit.
func WithHookTimeout(d time.Duration) Option {
	return optionFunc(func(s *System) { s.hookTimeout = d })
}

// withoutPickup turns per-message version pickup off; only the benchmark
// that measures its cost uses it.
func withoutPickup() Option { return optionFunc(func(s *System) { s.pickup = false }) }

// NewSystem returns a running System.
func NewSystem(opts ...Option) *System {
	s := &System{system: &system{
		log:         zap.NewNop(),
		clock:       RealClock{},
		callTimeout: 5 * time.Second,
		hookTimeout: 5 * time.Second,
		wakeTick:    wakeTick,
		pickup:      true,
		names:       make(map[string]PID),
		nameOf:      make(map[PID]string),
		reserved:    make(map[string]*Reservation),
		mods:        make(map[string]*module),
		drained:     make(chan struct{}),
	}}
	s.root = s
	for _, o := range opts {
		o.apply(s)
	}
	s.calls.New = func() any { return &callEnv{reply: make(chan callResult, 1)} }
	return s
}

// Clock returns the system's clock.
func (s *System) Clock() Clock { return s.clock }

// Logger returns the system's logger.
func (s *System) Logger() *zap.Logger { return s.log }

// ProcessCount returns the number of live processes.
func (s *System) ProcessCount() int { return int(s.live.Load()) }

// DeadLetters returns how many messages were dead-lettered so far.
func (s *System) DeadLetters() uint64 { return s.deadLetters.Load() }

// Processes returns the PIDs of the live processes, newest first.
func (s *System) Processes() []PID {
	var out []PID
	s.procs.each(func(p *process) { out = append(out, p.pid()) })
	return out
}

func (s *System) lookup(pid PID) *process {
	if pid.node != 0 {
		return nil
	}
	return s.procs.lookup(pid.id)
}

// SpawnOption configures Spawn.
type SpawnOption interface{ applySpawn(*spawnOptions) }

type spawnOptions struct {
	name     string
	mailbox  mailbox.Options
	trapExit bool
	link     bool // set by Context.SpawnLink
	handoff  bool
	backlog  *mailbox.Backlog
	// keepName and reservation: see WithKeepName and WithReservation.
	keepName    bool
	reservation *Reservation
	deferStart  bool // see WithDeferredStart
	// startInfo receives what Init passed to SetStartInfo (WithStartInfo).
	startInfo *any
	// restore builds the state instead of Init (WithRestore).
	restore *Restore
}

type spawnOptionFunc func(*spawnOptions)

func (f spawnOptionFunc) applySpawn(o *spawnOptions) { f(o) }

// WithName registers the process under name (erlang:register/2); Spawn
// fails with ErrNameTaken if the name is in use. Before it fails, it lets
// the holder serve the signals it has queued (for up to 100 ms): a holder
// that is on its way out (killed through a link an instant ago, say)
// releases the name, which the new process then takes.
func WithName(name string) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.name = name })
}

// WithMailbox bounds the process's user lane to capacity messages with the
// given overflow policy. The default mailbox is unbounded.
func WithMailbox(capacity int, overflow mailbox.Policy) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) {
		o.mailbox = mailbox.Options{Capacity: capacity, Overflow: overflow}
	})
}

// WithTrapExit starts the process trapping exits
// (process_flag(trap_exit, true)) before its Init runs.
func WithTrapExit() SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.trapExit = true })
}

// WithHandoff makes the process hand the user messages it has not handled
// to its parent when it exits, in the ExitMsg's Queued field, instead of
// reporting them as dead letters (only while it is linked to its parent;
// otherwise they are dead letters as usual). The queue moves whole, in
// constant time. Supervisors use it for children whose spec sets Handoff,
// and pass the queue to the replacement with WithBacklog: a crash then
// loses no queued message.
func WithHandoff() SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.handoff = true })
}

// WithDeferredStart, for a spawn from a process's handler (Context.Spawn,
// Context.SpawnLink) of a process that has work as soon as its Init has
// returned (a backlog handed over with WithBacklog or WithReservation,
// messages sent to it during Init), lets the new process's receive loop
// wait until that handler has returned, and then run on the spawner's
// goroutine if the spawner has nothing else to do, instead of starting a
// goroutine of its own at once: the spawner's goroutine, whose stack has
// grown, goes on with the new process. Messages sent to it meanwhile
// queue, as during its Init.
// Supervisors use it for a one_for_one restart, after which their handler
// only reports the restart. The spawner must not wait on the new process
// in the rest of that handler (a Call, a Stop, a shutdown): it would wait
// for its own handler's end, until its deadline. Anywhere else (Init,
// outside any process) it has no effect.
func WithDeferredStart() SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.deferStart = true })
}

// WithBacklog queues b's messages in the new process's mailbox, in order,
// before anything else can reach it (before its name is registered), so
// they come before every message sent to it. b is emptied.
func WithBacklog(b *mailbox.Backlog) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.backlog = b })
}

// Spawn starts a process running the current version of module. Init runs
// on the caller's goroutine, in the new process's context, before Spawn
// returns (like OTP's start_link: the caller learns of an Init failure as an
// error); messages sent to the new PID meanwhile are queued. After Init the
// process holds no goroutine until a message arrives.
func (s *System) Spawn(module string, args any, opts ...SpawnOption) (PID, error) {
	return s.spawn(nil, module, args, opts, false)
}

func (s *System) spawn(parent *process, module string, args any, opts []SpawnOption, link bool) (PID, error) {
	o := spawnOptions{link: link}
	if len(opts) > 0 {
		// Options apply to a copy of their own: passed to applySpawn, o
		// itself would move to the heap at every spawn, options or not.
		po := new(spawnOptions)
		*po = o
		for _, opt := range opts {
			opt.applySpawn(po)
		}
		o = *po
	}
	if o.mailbox.Capacity < 0 {
		return PID{}, fmt.Errorf("actor: spawn %q: negative mailbox capacity %d", module, o.mailbox.Capacity)
	}
	if r := o.reservation; r != nil {
		if o.name != "" && o.name != r.name {
			return PID{}, fmt.Errorf("%w: spawn %q: name %q with a reservation of %q", ErrInvalidName, module, o.name, r.name)
		}
		o.name = r.name
	}
	if o.name != "" && !s.reservedFor(o.name, o.reservation) {
		if err := s.checkNameFree(o.name); err != nil && !s.awaitRelease(o.name) {
			return PID{}, err
		}
	}
	mod := s.moduleFor(module, false)
	var rel *release
	for mod != nil {
		if rel = mod.current.Load(); rel == nil || rel.code.acquire(s) {
			break // the activation is held from before Init: no retirement under it
		}
	}
	if rel == nil { // unknown, or its first Load is still under way
		return PID{}, fmt.Errorf("%w: %q", ErrUnknownModule, module)
	}
	p := &process{bits: bitActive}
	p.set(bitTrapExit, o.trapExit)
	p.set(bitHandoff, o.handoff)
	p.set(bitKeepName, o.keepName)
	if o.keepName {
		p.x().keepBound = o.mailbox // the bound of the queue its reservation will have
	}
	p.ver.Store(rel.code)
	p.mb.Configure(o.mailbox)
	p.mb.Start() // pushes during Init queue without scheduling
	if o.backlog != nil {
		p.mb.Adopt(o.backlog) // inherited messages are never refused
	}
	if parent != nil {
		p.setParent(parent, o.link)
	}
	s.live.Add(1)
	p.id = s.procs.reserve() // a local process: node 0 (see pid)
	s.procs.publish(p.id, p)
	// Checked after insert so Shutdown either sees this process or this
	// spawn sees stopping.
	if s.stopping.Load() {
		p.exitAndRun(ErrStopping, false)
		return PID{}, ErrStopping
	}
	if o.name != "" {
		took, err := false, error(nil)
		if o.reservation != nil {
			took, err = s.registerReserved(p, o.reservation)
		}
		if !took && err == nil {
			err = s.register(o.name, p)
		}
		if err != nil {
			p.exitAndRun(Normal, false)
			return PID{}, err
		}
	}

	p.context().beginInit(o.startInfo != nil)
	var state any
	var err error
	if o.restore != nil {
		state, err = p.restore(o.restore)
	} else {
		state, err = p.callInit(args)
	}
	info := p.context().endInit()
	if o.reservation != nil && err == nil {
		p.x().took = nil // from now on an exit reserves the name anew (WithKeepName)
	}
	if p.isExiting() { // abandoned during Init
		p.zombie()
		return PID{}, fmt.Errorf("actor: init of %s: %w", rel.code.v, &ExitError{PID: p.pid(), Reason: Killed})
	}
	if err != nil {
		// The process never ran: its exit reason goes to the links and
		// monitors Init made, and the spawner gets it as an error instead
		// of an exit signal (it is not linked yet).
		p.exitAndRun(initExit(err), false)
		return PID{}, fmt.Errorf("actor: init of %s: %w", rel.code.v, err)
	}
	p.state = state
	if o.startInfo != nil {
		*o.startInfo = info
	}
	if o.link && parent != nil {
		parent.addLink(p.pid())
		p.addLink(parent.pid())
	}
	if p.continuing() || !p.mb.Idle() { // a step Init asked for runs first
		if o.deferStart && parent != nil && parent.looping {
			// Spawned from the parent's receive loop, on its goroutine: the
			// new process runs once the parent's handler returns, on this
			// goroutine if the parent is idle then (see process.handOff).
			x := parent.x()
			x.starts = append(x.starts, p)
			parent.starting = true
		} else {
			go p.run()
		}
	}
	return p.pid(), nil
}

// Send delivers msg to pid's user lane, asynchronously. It fails with NoProc
// if pid is not alive and with ErrMailboxFull if a bounded mailbox refused
// the message; either way the message is also reported as a DeadLetter.
func (s *System) Send(pid PID, msg any) error {
	if msg == nil {
		return ErrNilMessage
	}
	if s.self != nil && s.self.isExiting() {
		return ErrAbandoned
	}
	p := s.lookup(pid)
	if p == nil {
		if r := s.remoteFor(pid); r != nil {
			return r.Send(pid, msg)
		}
		return fmt.Errorf("actor: send to %v: %w", pid, NoProc)
	}
	return p.deliver(msg)
}

// SendNamed delivers msg to the process registered under name; it fails
// with ErrUnknownName if there is none. A name kept for a replacement
// (WithKeepName) queues msg for the process that takes it over. A message
// goes to what the name stands for when it is queued: a send that finds
// the process exiting looks the name up again.
func (s *System) SendNamed(name string, msg any) error {
	if msg == nil {
		return ErrNilMessage
	}
	if s.self != nil && s.self.isExiting() {
		return ErrAbandoned
	}
	_, err := s.sendNamed(name, msg)
	return err
}

// deliver pushes msg into the user lane and starts the receive loop if the
// process was idle.
func (p *process) deliver(msg any) error {
	sched, evicted, err := p.mb.PushUser(msg)
	if err != nil || evicted != nil {
		if err = p.pushFailed(msg, evicted, err); err != nil {
			return err
		}
	}
	if sched {
		go p.run()
	}
	return nil
}

// push is deliver, except that when the process must be started (sched)
// it is left to the caller to run it.
func (p *process) push(msg any) (sched bool, err error) {
	sched, evicted, err := p.mb.PushUser(msg)
	if err != nil || evicted != nil {
		err = p.pushFailed(msg, evicted, err)
	}
	return sched && err == nil, err
}

// pushFailed reports what PushUser refused (err) or evicted to make room
// (a bounded mailbox that drops its oldest), off the send's common path.
func (p *process) pushFailed(msg, evicted any, err error) error {
	if err != nil {
		reason := NoProc
		if errors.Is(err, mailbox.ErrFull) {
			reason = ErrMailboxFull
		}
		p.sys().refuse(p.pid(), msg, reason)
		return fmt.Errorf("actor: send to %v: %w", p.pid(), reason)
	}
	p.sys().undeliverable(p.pid(), evicted, ErrMailboxFull)
	return nil
}

// refuse reports a message refused at send. The sender is told, so it is
// no dead letter (see DeadLetter): a call's caller gets the error, and a
// queue the message carried is reported.
func (s *System) refuse(to PID, msg any, reason error) {
	if _, isCall := msg.(*callEnv); isCall {
		s.undeliverable(to, msg, reason)
	} else if m, ok := msg.(ExitMsg); ok && m.Queued.Len() > 0 {
		s.undeliverableAll(m.From, m.Queued, m.Reason)
	}
}

// signal pushes a system message; false means the process is gone.
func (p *process) signal(sig any) bool {
	sched, ok := p.signalLater(sig)
	if sched {
		go p.run()
	}
	return ok
}

// signalLater is signal, except that when the process must be started
// (sched) it is left to the caller to run it.
func (p *process) signalLater(sig any) (sched, ok bool) {
	var err error
	if s, isExit := sig.(exitSig); isExit {
		// Queued with its mark, which it carries: the mailbox keeps none.
		e := &s
		sched, err = p.mb.PushSystemMarked(e, &e.at)
	} else {
		sched, err = p.mb.PushSystem(sig)
	}
	return sched, err == nil
}

// notify delivers a converted signal (ExitMsg, Down) to the user lane. It
// is never refused by a bounded mailbox: signals are not lost.
func (p *process) notify(msg any) {
	sched, err := p.mb.PushUserAlways(msg)
	if err == nil && sched {
		go p.run()
	}
}

// undeliverable reports a message that will not be handled: a call's
// caller gets the error at once, anything else becomes a dead letter.
func (s *System) undeliverable(to PID, msg any, reason error) {
	if m, ok := msg.(ExitMsg); ok && m.Queued.Len() > 0 {
		// A notice that carried another process's queue: that queue's
		// messages are what will not be handled.
		s.undeliverableAll(m.From, m.Queued, m.Reason)
	}
	if c, ok := msg.(*callEnv); ok {
		if reason == ErrMailboxFull {
			c.finish(nil, fmt.Errorf("actor: call to %v: %w", to, ErrMailboxFull))
		} else {
			c.finish(nil, &ExitError{PID: to, Reason: reason})
		}
		return
	}
	s.deadLetter(to, msg, reason)
}

// Undeliverable reports a message that will not be handled, as the runtime
// does for its own: a call's caller gets an error at once, anything else
// becomes a DeadLetter. For code that receives messages to pass on (the
// Queued of an ExitMsg) and cannot.
func (s *System) Undeliverable(to PID, msg any, reason error) { s.undeliverable(to, msg, reason) }

func (s *System) undeliverableAll(to PID, b *mailbox.Backlog, reason error) {
	for _, m := range b.Take() {
		s.undeliverable(to, m, reason)
	}
}

// UndeliverableBacklog reports every message of b as Undeliverable and
// empties b.
func (s *System) UndeliverableBacklog(to PID, b *mailbox.Backlog, reason error) {
	s.undeliverableAll(to, b, reason)
}

func (s *System) deadLetter(to PID, msg any, reason error) {
	s.deadLetters.Add(1)
	if s.log.Core().Enabled(zap.DebugLevel) {
		s.log.Debug("dead letter", zap.Stringer("to", to), zap.Any("message", msg), zap.Error(reason))
	}
	if s.watched() {
		s.emit(DeadLetter{To: to, Message: msg, Reason: reason})
	}
}

// Exit sends an exit signal with reason to pid, as erlang:exit/2 from
// outside any process: Kill stops it unconditionally; Normal is ignored
// unless it traps exits; a process trapping exits receives an ExitMsg with
// a zero From; any other reason stops a process that does not trap exits.
func (s *System) Exit(pid PID, reason error) error {
	return s.exitSignal(PID{}, pid, reason)
}

func (s *System) exitSignal(from, to PID, reason error) error {
	if reason == nil {
		reason = Normal
	}
	reason = SafeError(reason)
	p := s.lookup(to)
	if p == nil {
		if r := s.remoteFor(to); r != nil {
			return r.Exit(from, to, reason, false)
		}
	}
	if p != nil && p.exitIdle(from, reason) {
		return nil
	}
	if p == nil || !p.signal(exitSig{from: from, reason: reason}) {
		return fmt.Errorf("actor: exit %v: %w", to, NoProc)
	}
	return nil
}

// endsIdle reports whether an exit signal with reason ends p, idle,
// without running any of its code: Kill, or a reason other than Normal to
// a process that does not trap exits and has no step of Context.Continue
// to run. Owner only (or a goroutine acting for the owner of an idle
// process: see exitIdle).
func (p *process) endsIdle(reason error) bool {
	return (reason == Kill || !p.is(bitTrapExit) && reason != Normal) && !p.continuing()
}

// exitIdle serves an exit signal (System.Exit, Context.Exit) to p when p
// is idle and the signal ends it without running any of its code: p exits
// on this goroutine, so that ending an idle process costs no goroutine,
// and the signal is never queued (the system lane of an idle mailbox is
// empty, so it would have been taken first; nothing is allocated for it).
// It reports false, having changed nothing, when p is busy, exiting, or
// would run code (a trapping process, say): the signal then goes through
// the mailbox, and p's goroutine serves it.
func (p *process) exitIdle(from PID, reason error) bool {
	if !p.mb.Acquire() {
		return false
	}
	if !p.endsIdle(reason) {
		if !p.mb.Idle() { // given back; work that came meanwhile is served
			go p.run()
		}
		return false
	}
	p.onExitSignal(exitSig{from: from, reason: reason})
	if q := p.exitNow(); q != nil {
		go q.run() // the parent its exit woke
	}
	return true
}

// Kill stops pid unconditionally; it exits with Killed. Like every signal it
// takes effect between two messages: a handler that never returns cannot be
// killed (Go cannot stop a goroutine from outside).
func (s *System) Kill(pid PID) error { return s.Exit(pid, Kill) }

// Abandon ends pid at once with reason Killed, even when its goroutine is
// inside user code that does not return (a Terminate or a handler that
// blocks): Go cannot stop a goroutine, but the runtime can stop waiting
// for it. The process is declared killed: it leaves its name and the
// process table, its mailbox closes (queued messages become dead letters,
// pending calls get an *ExitError), and its links and monitors are told,
// all before Abandon returns. If a goroutine was running the process, it
// is reported (an error log line and a ProcessAbandoned event) and left to
// finish; whatever it does when it returns changes nothing (it answers the
// call it was handling with the exit error and lets go of its version);
// Abandoned counts such goroutines until they return. A process that was
// idle simply exits, as Kill would make it.
//
// Supervisors abandon a child that outlives its shutdown timeout (after
// the kill OTP would send) and a brutal_kill child; System.Shutdown
// abandons what is left when its context ends. Abandon fails with NoProc
// if pid is not alive; a process already exiting is left to finish.
func (s *System) Abandon(pid PID) error {
	p := s.lookup(pid)
	if p == nil {
		return fmt.Errorf("actor: abandon %v: %w", pid, NoProc)
	}
	// Counted before the process is marked, so that its goroutine, coming
	// back at once, never counts below zero; uncounted below when there
	// is no goroutine after all.
	s.abandoned.Add(1)
	if !p.takeExit() {
		s.abandoned.Add(-1)
		return nil // its own exit is under way and runs no user code
	}
	if q := p.finish(Killed, false); q != nil {
		go q.run()
	}
	return nil
}

// Abandoned returns how many goroutines of abandoned processes (see
// Abandon) are still running user code.
func (s *System) Abandoned() int { return int(s.abandoned.Load()) }

// Stop asks pid to stop with reason Normal and waits until it has exited,
// its Terminate included (gen_server:stop/1). It fails with NoProc if pid is
// not alive, or with ctx's error.
func (s *System) Stop(ctx context.Context, pid PID) error {
	return s.request(ctx, pid, &stopReq{reason: Normal, done: make(chan struct{})})
}

// Suspend stops pid from taking user messages (sys:suspend/1): messages
// stay queued in order, system messages (exit signals, resume, info) are
// still served. It waits until the process has acknowledged.
func (s *System) Suspend(ctx context.Context, pid PID) error {
	return s.request(ctx, pid, &suspendReq{suspend: true, done: make(chan struct{})})
}

// TrySuspend is Suspend for a process that must not be suspended already:
// it fails with ErrAlreadySuspended if it is (suspended by someone else,
// whom a Resume of ours would override).
//
// If ctx ends first, the request is withdrawn: the process is not suspended
// later (unless it was being served already; then TrySuspend waits for it
// and reports its outcome). A caller that gives up leaves nothing behind.
func (s *System) TrySuspend(ctx context.Context, pid PID) error {
	r := &suspendReq{suspend: true, exclusive: true, done: make(chan struct{})}
	err := s.request(ctx, pid, r)
	if err != nil && ctx.Err() != nil && !r.taken.CompareAndSwap(0, 2) {
		<-r.done // served, or being served: its outcome stands
		return r.err
	}
	return err
}

// Inspect runs f on pid's goroutine with its state as migrations see it
// (for a typed version, its S), between two messages; a suspended process
// serves it too (OTP's sys:get_state). f must not keep the state or block;
// a panic in it is returned as a *PanicError. If ctx ends first, f may
// still run later: let it hand its result over a buffered channel.
func (s *System) Inspect(ctx context.Context, pid PID, f func(state any)) error {
	return s.request(ctx, pid, &inspectReq{f: f, done: make(chan struct{})})
}

// Resume undoes Suspend (sys:resume/1).
func (s *System) Resume(ctx context.Context, pid PID) error {
	return s.request(ctx, pid, &suspendReq{done: make(chan struct{})})
}

// Exited is a handle on the exit of one process (see Watch).
type Exited struct {
	done   chan struct{}
	reason error
}

// Done is closed once the process has exited and its exit is complete
// (links and monitors told, queued messages reported).
func (e *Exited) Done() <-chan struct{} { return e.done }

// Reason returns the exit reason; valid once Done is closed.
func (e *Exited) Reason() error { return e.reason }

// Watch returns a handle that reports when pid exits, without linking or
// monitoring (nothing is delivered to a mailbox). If pid is not alive, Done
// is already closed and Reason is NoProc. Signals sent to pid after Watch
// returns reach it after the watch is registered, so Watch followed by Exit
// always sees that exit: supervisors shut children down this way, waiting
// on Done and the system clock. A process whose exit is already under way
// may count as not alive (it leaves the process table before its links,
// monitors and subscribers are told): to wait for an exit to be complete,
// Watch before the action that causes it.
func (s *System) Watch(pid PID) *Exited {
	w := &Exited{done: make(chan struct{})}
	p := s.lookup(pid)
	switch {
	case p == nil:
		w.reason = NoProc
		close(w.done)
	case !p.signal(&watchReq{w: w}):
		p.addWatch(w) // mid-exit: done when the exit is
	}
	return w
}

// ProcessInfo describes a live process (erlang:process_info/1).
type ProcessInfo struct {
	PID       PID
	Name      string // registered name, "" if none
	Module    string
	Version   string // the version that built its state
	Parent    PID
	Links     []PID
	TrapExit  bool
	Suspended bool
	Queued    int // user messages waiting
}

// Info asks pid for its ProcessInfo through the system lane, so it is
// answered even while the process is suspended.
func (s *System) Info(ctx context.Context, pid PID) (ProcessInfo, error) {
	r := &infoReq{done: make(chan struct{})}
	if err := s.request(ctx, pid, r); err != nil {
		return ProcessInfo{}, err
	}
	r.info.Name = s.nameOfPID(pid)
	return r.info, nil
}

// request sends a synchronous system request and waits for it.
func (s *System) request(ctx context.Context, pid PID, r sysRequest) error {
	if s.isSelf(pid) {
		return ErrCallSelf
	}
	if s.self != nil {
		s.self.startHeld() // it waits: what it woke must not wait for it
	}
	p := s.lookup(pid)
	if p == nil || !p.signal(r) {
		return &ExitError{PID: pid, Reason: NoProc}
	}
	select {
	case <-r.doneCh():
		return r.result()
	case <-ctx.Done():
		return fmt.Errorf("actor: request to %v: %w", pid, ctx.Err())
	}
}

// isSelf reports whether pid is the process this System was handed out to
// (see System): a request it would have to answer while it waits.
func (s *System) isSelf(pid PID) bool { return s.self != nil && s.self.pid() == pid }

// SendAfter sends msg to pid after d on the system clock
// (erlang:send_after/3). Stop the returned timer to cancel.
func (s *System) SendAfter(pid PID, d time.Duration, msg any) Timer {
	return s.sendAfter(pid, d, msg)
}

// Shutdown stops every process, roots first: each process spawned from
// outside any process (a top-level supervisor, say) gets a stop request
// with reason Shutdown, newest first, and Shutdown waits for them, so a
// supervisor shuts its children down in its own order; then every process
// still alive gets one, and Shutdown waits until all have finished exiting
// (links, monitors and waiters told, logs written). Terminate runs for each
// process stopped this way. If ctx ends first, Shutdown abandons the
// processes still alive (see Abandon: they are declared killed at once,
// even those stuck in user code, whose goroutines are left to finish) and
// returns ctx's error. New spawns fail with ErrStopping from the start.
func (s *System) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	var roots []*Exited
	s.procs.each(func(p *process) {
		if p.parent().IsZero() {
			roots = append(roots, s.Watch(p.pid()))
			p.signal(&stopReq{reason: Shutdown})
		}
	})
	for _, w := range roots {
		select {
		case <-w.Done():
		case <-ctx.Done():
			return s.killAll(ctx)
		}
	}
	s.procs.each(func(p *process) { p.signal(&stopReq{reason: Shutdown}) })
	if s.live.Load() == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
	select {
	case <-s.drained:
		s.runHooks(ctx)
		s.idleDeadlines()
		s.idleWakes()
		s.log.Info("system stopped")
		return nil
	case <-ctx.Done():
		return s.killAll(ctx)
	}
}

func (s *System) killAll(ctx context.Context) error {
	remaining := s.ProcessCount()
	var left []PID
	s.procs.each(func(p *process) { left = append(left, p.pid()) })
	for _, pid := range left {
		_ = s.Abandon(pid) // gone already is fine
	}
	s.log.Warn("shutdown deadline passed; remaining processes declared killed", zap.Int("remaining", remaining))
	// The hooks run even so, with the ended context: what they free
	// (plugin processes) must not outlive the system, and a goroutine
	// still waiting on one is let go.
	s.runHooks(ctx)
	return fmt.Errorf("actor: shutdown: %w", ctx.Err())
}

// OnShutdown registers f to run when the system stops: once Shutdown has
// seen the last process exit, or when its context ends first. Hooks run
// once, in reverse order of registration, on Shutdown's goroutine, with
// Shutdown's context: a hook must return promptly once ctx is done (a
// loader then kills what it would otherwise stop gracefully), since
// Shutdown waits for it; when the context ended before the last process
// exited, the hooks get it already done. A hook registered after they ran
// runs at once, with a context that is never done. Loaders free what they
// hold there (plugin processes). A panic in a hook is logged, not raised.
func (s *System) OnShutdown(f func(ctx context.Context)) {
	s.hooksMu.Lock()
	if !s.hooksDone {
		s.hooks = append(s.hooks, f)
		s.hooksMu.Unlock()
		return
	}
	s.hooksMu.Unlock()
	s.runHook("shutdown hook", func() { f(context.Background()) })
}

func (s *System) runHooks(ctx context.Context) {
	s.hooksMu.Lock()
	hooks := s.hooks
	s.hooks, s.hooksDone = nil, true
	s.hooksMu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		s.runHook("shutdown hook", func() { hooks[i](ctx) })
	}
}

// runHook runs a hook of user code; a panic is logged as "<what>
// panicked", not raised.
//
// A hook that has not returned after the system's hook timeout (see
// WithHookTimeout) is logged and left running: whoever ran it (a process
// letting go of a version, Shutdown) goes on.
func (s *System) runHook(what string, f func(), fields ...zap.Field) {
	if s.hookTimeout <= 0 {
		s.callHook(what, f, fields)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.callHook(what, f, fields)
	}()
	// Wall-clock time: a bound on stuck code, not something a test steps
	// through (a fake clock's timers are the test's own).
	timer := time.NewTimer(s.hookTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Error(what+" did not return in time; left running", append(fields, zap.Duration("timeout", s.hookTimeout))...)
	}
}

// callHook runs f, recovering and logging a panic. Like every function
// here that calls user code on a hot path (Handle, Init, event
// subscribers, observers), it calls recover only when f did not return:
// recover grows the goroutine's stack (runtime.gorecover needs more than a
// goroutine started for one message has), and calling it after every
// handler cost a copy of the stack at each exit of a process woken for
// one signal (19% of W4's CPU in a profile). A runtime.Goexit in f finds
// returned false too, and recover returns nil, as before.
func (s *System) callHook(what string, f func(), fields []zap.Field) {
	returned := false
	defer func() {
		if returned { // the user code returned: no recover (see callHook)
			return
		}
		if r := recover(); r != nil {
			s.log.Error(what+" panicked", append(fields, zap.Any("panic", r))...)
		}
	}()
	f()
	returned = true
}

// exited is called once per process, as the last step of its exit.
func (s *System) exited() {
	if s.live.Add(-1) == 0 && s.stopping.Load() {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// Names.

func (s *System) checkNameFree(name string) error {
	s.namesMu.RLock()
	defer s.namesMu.RUnlock()
	return s.checkNameFreeLocked(name)
}

// checkNameFreeLocked: namesMu is held.
func (s *System) checkNameFreeLocked(name string) error {
	if _, taken := s.names[name]; taken {
		return fmt.Errorf("%w: %q", ErrNameTaken, name)
	}
	if r := s.reserved[name]; r != nil {
		return fmt.Errorf("%w: %q is reserved for the replacement of %v", ErrNameTaken, name, r.from)
	}
	return nil
}

// reservedFor reports whether name is reserved by r.
func (s *System) reservedFor(name string, r *Reservation) bool {
	if r == nil {
		return false
	}
	s.namesMu.RLock()
	defer s.namesMu.RUnlock()
	return s.reserved[name] == r
}

// releaseWait bounds awaitRelease.
const releaseWait = 100 * time.Millisecond

// awaitRelease handles a name taken by a process that may be on its way
// out: a child killed through the link with a supervisor that was killed
// has not taken (or not finished taking) that signal when the restarted
// supervisor starts the child again under its name. It waits (up to
// releaseWait, wall-clock) until the holder has served the signals queued
// now, or finished exiting, and reports whether the name is free then.
//
// A name reserved for a replacement (WithKeepName) whose holder has exited
// is released by that exit, or by the exit signal that failed to reach the
// holder: it waits for that too. A reservation whose holder is alive is
// its holder's to pass on: the name is taken.
func (s *System) awaitRelease(name string) bool {
	s.namesMu.RLock()
	pid, ok := s.names[name]
	r := s.reserved[name]
	s.namesMu.RUnlock()
	if r != nil && !ok {
		if s.lookup(r.holder) != nil {
			return false
		}
		if done := r.doneCh(); done != nil {
			timer := time.NewTimer(releaseWait)
			defer timer.Stop()
			select {
			case <-done:
			case <-timer.C:
			}
		}
		return s.checkNameFree(name) == nil
	}
	p := s.lookup(pid)
	if !ok || p == nil {
		return s.checkNameFree(name) == nil
	}
	timer := time.NewTimer(releaseWait)
	defer timer.Stop()
	req := &infoReq{done: make(chan struct{})} // answered after what is queued
	done := req.done
	if !p.signal(req) { // exiting: its name goes first, but wait for the end
		w := &Exited{done: make(chan struct{})}
		p.addWatch(w)
		done = w.done
	}
	select {
	case <-done:
	case <-timer.C:
	}
	return s.checkNameFree(name) == nil
}

// Register registers pid under name (erlang:register/2). The name is
// released when the process exits (or kept for a replacement: see
// WithKeepName). A process has at most one name. A name reserved for a
// replacement is taken (ErrNameTaken).
func (s *System) Register(name string, pid PID) error {
	p := s.lookup(pid)
	if p == nil {
		return fmt.Errorf("actor: register %q: %w", name, NoProc)
	}
	return s.register(name, p)
}

func (s *System) register(name string, p *process) error {
	pid := p.pid()
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	if err := s.checkNameFreeLocked(name); err != nil {
		return err
	}
	if old, has := s.nameOf[pid]; has {
		return fmt.Errorf("%w: %v is already registered as %q", ErrInvalidName, pid, old)
	}
	s.names[name] = pid
	s.nameOf[pid] = name
	p.setNamed()
	// An exit that began meanwhile may have missed the name (it reads
	// named after marking itself exiting, as this reads exiting after
	// setting named): undone here, as registering a dead process fails.
	if p.isExiting() {
		delete(s.names, name)
		delete(s.nameOf, pid)
		return fmt.Errorf("actor: register %q: %w", name, NoProc)
	}
	return nil
}

// Unregister removes a registered name (erlang:unregister/1). A name
// reserved for a replacement is held by no process: Unregister fails on it
// with ErrUnknownName (its holder releases it: ReleaseReservation).
func (s *System) Unregister(name string) error {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	pid, ok := s.names[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	delete(s.names, name)
	delete(s.nameOf, pid)
	return nil
}

// Whereis returns the PID registered under name (erlang:whereis/1). A name
// reserved for a replacement (WithKeepName) is held by no process until
// the replacement takes it: Whereis reports false meanwhile, although
// SendNamed and CallNamed queue for the replacement and Register refuses
// the name.
func (s *System) Whereis(name string) (PID, bool) {
	s.namesMu.RLock()
	defer s.namesMu.RUnlock()
	pid, ok := s.names[name]
	return pid, ok
}

func (s *System) nameOfPID(pid PID) string {
	s.namesMu.RLock()
	defer s.namesMu.RUnlock()
	return s.nameOf[pid]
}

func (s *System) unregisterPID(pid PID) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	if name, ok := s.nameOf[pid]; ok {
		delete(s.names, name)
		delete(s.nameOf, pid)
	}
}

func (s *System) newRef() Ref { return Ref{id: s.refs.Add(1)} }

// Extension returns the value stored under key in this system, creating it
// with create on first use. Packages built on the runtime keep per-system
// state there (the upgrade engine's record of subtrees being upgraded)
// instead of package-level variables. Use an unexported key type.
func (s *System) Extension(key any, create func() any) any {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	if s.ext == nil {
		s.ext = make(map[any]any)
	}
	v, ok := s.ext[key]
	if !ok {
		v = create()
		s.ext[key] = v
	}
	return v
}
