package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Errors of the code change requests.
var (
	ErrNotStaged   = errors.New("actor: version is not loaded or staged in this system")
	ErrWrongModule = errors.New("actor: process runs another module")
	ErrNoPending   = errors.New("actor: no prepared code change to commit")
	ErrPending     = errors.New("actor: a code change is already prepared")
	// ErrAlreadySuspended is returned by TrySuspend for a process that is
	// suspended already.
	ErrAlreadySuspended = errors.New("actor: process is suspended already")
)

// Change says where a code change request moves a process: a version of
// its module, the Extra its migrations get, and the routes to it from the
// versions a process may run, by version name (see Route). A process on a
// version Routes lacks gets a route computed among the versions its system
// knows.
type Change struct {
	To     *Version
	Extra  any
	Routes map[string][]Step
}

// Request is one process's part in a round.
type Request struct {
	PID PID
	// Change is where Prepare and Simulate move the process.
	Change *Change
	// Kill makes Prepare only suspend the process and count it as leaving
	// its version: the commit kills it instead of switching it.
	Kill bool
}

// Status says how far a process got with a request of a round.
type Status uint8

const (
	// Queued: not served yet.
	Queued Status = iota
	// Answered: served; the Answer's From, At and Err are valid.
	Answered
	// Cancelled: the batch's deadline passed before the process took the
	// request; it never will.
	Cancelled
	// Late: the process was serving the request when the deadline passed;
	// its outcome is not known. A late Prepare does not count the process
	// as leaving its version (see Prepare): abort it.
	Late
)

var statusNames = [...]string{"queued", "answered", "cancelled", "late"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(?)"
}

// Answer is one process's answer to a request of a round.
type Answer struct {
	PID    PID
	Status Status
	// From is the version that built the process's state when it served
	// the request.
	From string
	// At is when it served the request (system clock): for Prepare the
	// moment it suspended, for Commit and Abort the moment it resumed.
	At time.Time
	// Err is the outcome; a process that is gone gives an *ExitError
	// (NoProc, or its exit reason).
	Err error
}

type batchKind uint8

const (
	kindPrepare batchKind = iota
	kindSimulate
	kindCommit
	kindCommitPinned
	kindAbort
)

// Round is one request sent to many processes at once, each served on the
// process's system lane (so a suspended process serves it too); the upgrade
// runner sends one per step and waits for every answer, so thousands of
// processes are prepared, committed or resumed in parallel.
type Round struct {
	kind  batchKind
	items []batchItem
	codes map[*Change]*code // read-only after the batch is sent
	left  atomic.Int64
	done  chan struct{}
	// runq holds the processes the round woke up: a few workers run their
	// receive loops (their stacks already grown), instead of a new
	// goroutine each; next is the index of the first not taken. Whatever
	// the workers have not taken when the round ends (a worker stuck in a
	// slow migration, say) gets a goroutine of its own then.
	runq []*process
	next atomic.Int64
}

// roundWorkers bounds the goroutines that run a round's woken processes. A
// worker stuck in a slow migration leaves the others to go on with the
// queue.
const roundWorkers = 32

type batchItem struct {
	b     *Round
	req   Request
	state atomic.Uint32 // itemQueued ... itemAbandoned
	// Written by the serving process before state becomes Answered; read
	// only after.
	from string
	at   time.Time
	err  error
}

// Prepare suspends each process (sys:suspend) and migrates its state to its
// Change along the route (sys:change_code), keeping the result pending: the
// process goes on holding its old state and version until Commit, and
// Abort drops the result, so a failed upgrade leaves it exactly as it was.
// The Change's version must be staged. A migration that fails, panics or
// produces a state the version does not accept is the Answer's Err; the
// process stays suspended either way, until Commit or Abort.
//
// A process whose migration succeeded counts as leaving its version: the
// purge check of the next LoadAll does not count it as staying there. Only
// if its answer reaches the round in time: one the round gave up on (Late,
// after Wait) is aborted, not committed, so it counts as staying until
// then, however its migration ends.
func (s *System) Prepare(reqs []Request) *Round { return s.send(kindPrepare, reqs) }

// Simulate runs each process's migration without suspending it and without
// keeping the result: it answers whether the migration would succeed.
// Migrations must not modify the state they are given.
func (s *System) Simulate(reqs []Request) *Round { return s.send(kindSimulate, reqs) }

// Commit switches each process to what Prepare prepared (or kills it, for
// a Kill request) and resumes it, unless it was suspended before Prepare.
// Make the versions current (LoadAll) first: that is the point of no
// return.
func (s *System) Commit(pids []PID) *Round { return s.send(kindCommit, pidRequests(pids)) }

// CommitPinned is Commit for a rolling upgrade: each process switches to
// its prepared version and keeps running it while the module's current
// version stays what it is now; the pin lapses as soon as another version
// is made current.
func (s *System) CommitPinned(pids []PID) *Round {
	return s.send(kindCommitPinned, pidRequests(pids))
}

// Abort drops what Prepare prepared and resumes each process (unless it was
// suspended before Prepare): it keeps its original state and version.
func (s *System) Abort(pids []PID) *Round { return s.send(kindAbort, pidRequests(pids)) }

func pidRequests(pids []PID) []Request {
	reqs := make([]Request, len(pids))
	for i, pid := range pids {
		reqs[i].PID = pid
	}
	return reqs
}

func (s *System) send(kind batchKind, reqs []Request) *Round {
	b := &Round{kind: kind, items: make([]batchItem, len(reqs)), done: make(chan struct{})}
	b.left.Store(int64(len(reqs)))
	if len(reqs) == 0 {
		close(b.done)
		return b
	}
	for i, r := range reqs {
		it := &b.items[i]
		it.b, it.req = b, r
		if r.Change == nil || b.codes[r.Change] != nil {
			continue
		}
		if b.codes == nil {
			b.codes = make(map[*Change]*code)
		}
		b.codes[r.Change] = s.codeOf(r.Change.To)
	}
	for i := range b.items {
		it := &b.items[i]
		if kind <= kindSimulate && it.req.Change == nil && !it.req.Kill {
			it.answer(fmt.Errorf("actor: request for %v names no change", it.req.PID))
			continue
		}
		p := s.lookup(it.req.PID)
		if p == nil {
			it.answer(&ExitError{PID: it.req.PID, Reason: NoProc})
			continue
		}
		if kind >= kindCommit && p.serveNow(it) {
			// A commit or abort runs no user code: an idle process is
			// served here, without waking it.
			continue
		}
		sched, err := p.mb.PushSystem(it)
		switch {
		case err != nil:
			it.answer(&ExitError{PID: it.req.PID, Reason: NoProc})
		case sched:
			b.runq = append(b.runq, p)
		}
	}
	for range min(len(b.runq), roundWorkers) {
		go b.work()
	}
	return b
}

// work runs queued processes' receive loops until the queue is empty.
func (b *Round) work() {
	for {
		i := b.next.Add(1) - 1
		if i >= int64(len(b.runq)) {
			return
		}
		// The worker goes on with the next queued process: a process the
		// loop hands its goroutine to gets one of its own.
		if q := b.runq[i].loop(); q != nil {
			go q.run()
		}
	}
}

// release starts a goroutine for each woken process no worker has taken,
// so that none waits on a stuck worker past the round.
func (b *Round) release() {
	for {
		i := b.next.Add(1) - 1
		if i >= int64(len(b.runq)) {
			return
		}
		go b.runq[i].run()
	}
}

// serveNow serves it on the caller's goroutine, as the receive loop would,
// if the process is idle (see mailbox.Acquire); false if it is busy.
func (p *process) serveNow(it *batchItem) bool {
	if !p.mb.Acquire() {
		return false
	}
	p.serveBatch(it)
	if p.isExiting() { // abandoned meanwhile
		p.zombie()
		return true
	}
	if p.reason != nil { // a kill
		p.exitAndRun(p.reason, p.is(bitTerminate))
		return true
	}
	if !p.mb.Idle() {
		go p.run()
	}
	return true
}

// codeOf returns the code of a staged version, or nil.
func (s *System) codeOf(v *Version) *code {
	if v == nil {
		return nil
	}
	mod := s.moduleFor(v.module, false)
	if mod == nil {
		return nil
	}
	mod.mu.Lock()
	defer mod.mu.Unlock()
	return mod.loaded[v]
}

// An item's life: queued until a process takes it (serving), claims its
// answer (answering: from then on the batch waits for it) and publishes it
// (answered), or until the batch gives up on it: cancelled if it was still
// queued (it is never served), abandoned if it was being served (its
// answer, when it comes, is not looked at).
const (
	itemQueued uint32 = iota
	itemServing
	itemAnswering
	itemAnswered
	itemCancelled
	itemAbandoned
)

// answer takes the item and answers it at once (no process serves it).
func (it *batchItem) answer(err error) {
	if it.take() {
		it.err = err
		it.finish()
	}
}

// take claims a queued item for serving; false if the batch gave up on it.
func (it *batchItem) take() bool { return it.state.CompareAndSwap(itemQueued, itemServing) }

// finish publishes the answer, unless the batch gave up meanwhile.
func (it *batchItem) finish() {
	if it.claim() {
		it.publish()
	}
}

// claim makes the answer the process is about to publish one the batch
// waits for; false if the batch gave up on it (late). Between claim and
// publish the process runs no user code.
func (it *batchItem) claim() bool { return it.state.CompareAndSwap(itemServing, itemAnswering) }

// publish publishes a claimed answer.
func (it *batchItem) publish() {
	it.state.Store(itemAnswered)
	if it.b.left.Add(-1) == 0 {
		close(it.b.done)
	}
}

// Len returns the number of requests.
func (b *Round) Len() int { return len(b.items) }

// Done is closed when every process has answered.
func (b *Round) Done() <-chan struct{} { return b.done }

// Await waits until every process has answered, the deadline fires or ctx
// ends, without giving up on any: the requests not served yet still are,
// later. It returns nil when every process answered.
func (b *Round) Await(ctx context.Context, deadline <-chan time.Time) error {
	select {
	case <-b.done:
		return nil
	case <-deadline:
		b.release()
		return errDeadline
	case <-ctx.Done():
		b.release()
		return ctx.Err()
	}
}

// Wait waits until every process has answered, the deadline fires or ctx
// ends. Then it gives up on the rest: a request not taken yet is cancelled
// and will never be served; one being served is Late. It returns nil when
// every process answered.
func (b *Round) Wait(ctx context.Context, deadline <-chan time.Time) error {
	var err error
	select {
	case <-b.done:
		return nil
	case <-deadline:
		err = errDeadline
	case <-ctx.Done():
		err = ctx.Err()
	}
	defer b.release()
	for i := range b.items {
		it := &b.items[i]
		if it.state.CompareAndSwap(itemQueued, itemCancelled) || it.state.CompareAndSwap(itemServing, itemAbandoned) {
			continue
		}
		// Claimed: its process publishes the answer without running user
		// code (a prepared process counts as leaving first); it is in time.
		for it.state.Load() == itemAnswering {
			runtime.Gosched()
		}
	}
	return err
}

var errDeadline = errors.New("actor: deadline passed")

// Answer returns process i's answer. Call it after Wait (or Done).
func (b *Round) Answer(i int) Answer {
	it := &b.items[i]
	a := Answer{PID: it.req.PID}
	switch it.state.Load() {
	case itemAnswered:
		a.Status, a.From, a.At, a.Err = Answered, it.from, it.at, it.err
	case itemCancelled:
		a.Status = Cancelled
	case itemQueued:
		a.Status = Queued
	default:
		a.Status = Late
	}
	return a
}

// pending is a code change a process prepared (Prepare), to be committed
// or aborted.
type pending struct {
	to     *code // nil if the migration failed: nothing to commit
	state  any
	kill   bool // commit kills the process
	resume bool // the process was not suspended before: resume it after
	// leaving: counted in its version's leaving (a migration or a kill
	// whose Prepare answered in time).
	leaving bool
}

// leaves reports whether the commit would move the process off its
// version.
func (pd *pending) leaves() bool { return pd.to != nil || pd.kill }

// serveBatch serves a request of a round on the owner's goroutine.
func (p *process) serveBatch(it *batchItem) {
	if !it.take() {
		return // the batch gave up on it: a late answer never runs
	}
	it.at = p.sys().clock.Now()
	it.from = p.cur().v.name
	switch it.b.kind {
	case kindPrepare:
		var pd *pending
		pd, it.err = p.prepare(it.req, it.b.codes[it.req.Change])
		if !it.claim() {
			// Late: the round gave up on it and aborts it, never commits
			// it. Counted as leaving now, it would let a LoadAll that
			// runs before the abort is served make a third version
			// current while its version stays in use.
			return
		}
		if pd != nil && pd.leaves() {
			pd.leaving = true
			p.cur().leaving.Add(1)
		}
		it.publish()
		return
	case kindSimulate:
		it.err = p.simulate(it.req, it.b.codes[it.req.Change])
	case kindCommit, kindCommitPinned:
		it.err = p.commit(it.b.kind == kindCommitPinned)
	case kindAbort:
		p.abort()
	}
	it.finish()
}

// refuseBatch answers a request that reached a process that has exited.
func refuseBatch(it *batchItem, pid PID, reason error) {
	if it.take() {
		it.err = &ExitError{PID: pid, Reason: reason}
		it.finish()
	}
}

// target checks a Change against the process and finds the route to it.
func (p *process) target(req Request, to *code) ([]Step, error) {
	switch {
	case to == nil:
		return nil, fmt.Errorf("%w: %v", ErrNotStaged, req.Change.To)
	case to.mod != p.module():
		return nil, fmt.Errorf("%w: %v runs %s, not %s", ErrWrongModule, p.pid(), p.module().name, to.mod.name)
	case to == p.cur():
		return nil, nil
	}
	if steps, ok := req.Change.Routes[p.cur().v.name]; ok && len(steps) > 0 && steps[0].From == p.cur().v {
		return steps, nil
	}
	p.module().mu.Lock()
	known := p.module().versionsLocked()
	p.module().mu.Unlock()
	return Route(p.cur().v, to.v, known)
}

// prepare suspends the process and migrates its state, keeping the
// result pending; it returns the pending change (nil if one was pending
// already). serveBatch counts the process as leaving its version.
func (p *process) prepare(req Request, to *code) (*pending, error) {
	u := p.aside()
	if u.pending != nil {
		return nil, ErrPending
	}
	pd := &pending{resume: !p.mb.Suspended()}
	u.pending = pd
	p.mb.Suspend()
	if req.Kill {
		pd.kill = true
		return pd, nil
	}
	steps, err := p.target(req, to)
	state := p.state
	if err == nil && to != p.cur() {
		state, err = migrate(p.cur().v, to.v, steps, p.state, req.Change.Extra)
	}
	if err != nil {
		return pd, err
	}
	pd.to, pd.state = to, state
	return pd, nil
}

// simulate runs the migration and keeps nothing.
func (p *process) simulate(req Request, to *code) error {
	steps, err := p.target(req, to)
	if err == nil && to != p.cur() {
		_, err = migrate(p.cur().v, to.v, steps, p.state, req.Change.Extra)
	}
	return err
}

// commit switches to the pending state and version (or exits, for a
// kill); pinned keeps the process on that version while the module's
// current one stays as it is.
func (p *process) commit(pinned bool) error {
	u := p.up.Load()
	if u == nil || u.pending == nil {
		return ErrNoPending
	}
	pd := u.pending
	u.pending = nil
	if pd.leaving {
		p.cur().leaving.Add(-1)
	}
	if pd.resume {
		defer p.mb.Resume()
	}
	switch {
	case pd.kill:
		p.stop(Killed, false)
		return nil
	case pd.to == nil:
		return ErrNoPending // its migration failed
	}
	to := pd.to
	p.setPin(nil, nil)
	if cur := p.module().current.Load(); pinned && cur.code != to {
		p.setPin(&release{code: to}, cur)
	}
	if to == p.cur() {
		return nil
	}
	if !to.acquire(p.sys()) {
		return fmt.Errorf("%w: %v retired before the commit", ErrNotStaged, to.v)
	}
	from := p.cur()
	p.setCode(to, pd.state)
	from.drop(p.sys())
	if ce := p.sys().log.Check(zap.DebugLevel, "code_change committed"); ce != nil {
		ce.Write(zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
			zap.String("from", from.v.name), zap.String("to", to.v.name))
	}
	if p.sys().watched() {
		p.sys().emit(Migrated{PID: p.pid(), Module: p.module().name, From: from.v.name, To: to.v.name})
	}
	return nil
}

// abort drops the pending change and resumes.
func (p *process) abort() {
	u := p.up.Load()
	if u == nil || u.pending == nil {
		return
	}
	pd := u.pending
	u.pending = nil
	if pd.leaving {
		p.cur().leaving.Add(-1)
	}
	if pd.resume {
		p.mb.Resume()
	}
}

// ProcessVersion is what a process runs, read without asking it.
type ProcessVersion struct {
	PID     PID
	Module  string
	Version string
	// Pinned: a rolling upgrade switched the process to Version ahead of
	// the module's current version.
	Pinned bool
}

// VersionOf reports the module and version pid runs (the version that
// built its state), without a round trip to the process: it is read from
// what the process published at its last change of version. ok is false
// for a process that is gone or exiting (its Terminate has returned, or
// it was killed), as for Stat.
func (s *System) VersionOf(pid PID) (ProcessVersion, bool) {
	p := s.lookup(pid)
	if p == nil || p.isExiting() { // gone, or on its way out (as for Stat)
		return ProcessVersion{}, false
	}
	c := p.ver.Load()
	if c == nil {
		return ProcessVersion{}, false // still in Init
	}
	base := p.pinnedBase()
	return ProcessVersion{PID: pid, Module: p.module().name, Version: c.v.name,
		Pinned: base != nil && base == p.module().current.Load()}, true
}

// setCode switches the process's version and state, publishing the
// version (VersionOf) in the same store.
func (p *process) setCode(c *code, state any) {
	p.state = state
	if u := p.up.Load(); u != nil {
		u.skip = nil
	}
	p.ver.Store(c)
}

// setPin pins the process to pin while base is the module's current
// release.
func (p *process) setPin(pin, base *release) {
	u := p.up.Load()
	if u == nil {
		if pin == nil && base == nil {
			return // unpinned already
		}
		u = p.aside()
	}
	u.pin, u.pinBase = pin, base
	u.pinPub.Store(base)
}
