package actor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Errors of the code change primitives.
var (
	ErrNotStaged    = errors.New("actor: version is not loaded or staged in this system")
	ErrWrongModule  = errors.New("actor: process runs another module")
	ErrNoPending    = errors.New("actor: no prepared code change to commit")
	ErrNotSuspended = errors.New("actor: process is not suspended")
)

// Op is a request on one process's system lane, in flight. The upgrade
// engine fires one per process and then waits for them all, so thousands of
// processes are suspended, migrated or resumed in parallel.
type Op struct {
	PID  PID
	done chan struct{}
	err  error
	from string
	at   time.Time
}

// At is when the process served the request (system clock): for
// ChangeCode the moment it suspended, for a Commit or Abort with resume
// the moment it resumed. Zero before Done is closed or if the process was
// gone.
func (o *Op) At() time.Time {
	select {
	case <-o.done:
		return o.at
	default:
		return time.Time{}
	}
}

// From is the version that built the process's state when the request was
// served (ChangeCode, DryRun); "" before Done is closed and for other
// requests.
func (o *Op) From() string {
	select {
	case <-o.done:
		return o.from
	default:
		return ""
	}
}

// Done is closed when the process has served the request.
func (o *Op) Done() <-chan struct{} { return o.done }

// Err is the outcome; valid once Done is closed. A process that is gone
// gives an *ExitError (NoProc or its exit reason).
func (o *Op) Err() error { return o.err }

// Wait waits for the outcome or ctx's end.
func (o *Op) Wait(ctx context.Context) error {
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return fmt.Errorf("actor: %v did not answer: %w", o.PID, ctx.Err())
	}
}

func (o *Op) finish(err error) {
	o.err = err
	close(o.done)
}

// codeOp is the system message behind the code change primitives.
type codeOp struct {
	op     *Op
	kind   codeOpKind
	to     *code
	extra  any
	resume bool // after a commit or abort
}

type codeOpKind uint8

const (
	opChangeCode   codeOpKind = iota // suspend, migrate, keep the result pending
	opDryRun                         // migrate, keep nothing
	opCommit                         // switch to the pending result
	opCommitPinned                   // switch, and pin the process to that version
	opAbort                          // drop the pending result
)

// Stage loads v into its module without making it current, so that
// ChangeCode can prepare processes for it before the commit (System.Load)
// makes it current. Staging the current version, or one staged already,
// is a no-op.
func (s *System) Stage(v *Version, opts ...LoadOption) error {
	mod, _, _, err := s.stage(v, opts)
	if err == nil {
		mod.mu.Unlock()
	}
	return err
}

// ChangeCode suspends pid (sys:suspend) and migrates its state to version v
// of its module (sys:change_code), keeping the result pending: the process
// goes on running the old version's state until Commit, and Abort drops the
// result, so a failed upgrade leaves it exactly as it was. v must be loaded
// or staged. A migration that fails, panics or produces a state v does not
// accept is the Op's error; the process stays suspended either way.
func (s *System) ChangeCode(pid PID, v *Version, extra any) *Op {
	return s.codeOp(pid, opChangeCode, v, extra, false)
}

// DryRun runs the migration of pid's state to v without suspending it and
// without keeping the result: it reports whether the migration would
// succeed. Migrations must not modify the state they are given.
func (s *System) DryRun(pid PID, v *Version, extra any) *Op {
	return s.codeOp(pid, opDryRun, v, extra, false)
}

// Commit switches pid to the state ChangeCode prepared, and resumes it if
// resume is set (in the same step). The caller makes the version current
// (Load) first: that is the point of no return.
func (s *System) Commit(pid PID, resume bool) *Op {
	return s.codeOp(pid, opCommit, nil, nil, resume)
}

// CommitPinned is Commit for a rolling upgrade: the process switches to
// the prepared version and keeps running it while the module's current
// version stays what it is now (it does not pick the current one up); the
// pin lapses as soon as another version is made current. Resume as for
// Commit.
func (s *System) CommitPinned(pid PID, resume bool) *Op {
	return s.codeOp(pid, opCommitPinned, nil, nil, resume)
}

// Abort drops what ChangeCode prepared, and resumes pid if resume is set:
// the process keeps its original state and version.
func (s *System) Abort(pid PID, resume bool) *Op {
	return s.codeOp(pid, opAbort, nil, nil, resume)
}

func (s *System) codeOp(pid PID, kind codeOpKind, v *Version, extra any, resume bool) *Op {
	op := &Op{PID: pid, done: make(chan struct{})}
	m := codeOp{op: op, kind: kind, extra: extra, resume: resume}
	if v != nil {
		mod := s.moduleFor(v.module, false)
		if mod != nil {
			mod.mu.Lock()
			m.to = mod.loaded[v]
			mod.mu.Unlock()
		}
		if m.to == nil {
			op.finish(fmt.Errorf("%w: %v", ErrNotStaged, v))
			return op
		}
	}
	if p := s.lookup(pid); p == nil || !p.signal(m) {
		op.finish(&ExitError{PID: pid, Reason: NoProc})
	}
	return op
}

// onCodeOp serves a code change request on the owner's goroutine.
func (p *process) onCodeOp(m codeOp) {
	m.op.at = p.sys.clock.Now()
	var err error
	switch m.kind {
	case opChangeCode, opDryRun:
		m.op.from = p.code.v.name
		err = p.changeCode(m)
	case opCommit, opCommitPinned:
		err = p.commit(m.kind == opCommitPinned)
	case opAbort:
		p.pending, p.pendingState = nil, nil
	}
	if m.resume {
		p.mb.Resume() // after the commit or abort, whatever its outcome
	}
	m.op.finish(err)
}

// changeCode suspends the process (unless a dry run) and migrates its
// state to m.to, keeping the result pending.
func (p *process) changeCode(m codeOp) error {
	if m.to.mod != p.mod {
		return fmt.Errorf("%w: %v runs %s, not %s", ErrWrongModule, p.pid, p.mod.name, m.to.mod.name)
	}
	if m.kind == opChangeCode {
		p.mb.Suspend()
	}
	state, err := p.state, error(nil)
	if m.to != p.code {
		state, err = migrate(p.code, m.to, p.state, m.extra)
	}
	if err == nil && m.kind == opChangeCode {
		p.pending, p.pendingState = m.to, state
	}
	return err
}

// commit switches to the pending state and version; pinned keeps the
// process on that version while the module's current one stays as it is.
func (p *process) commit(pinned bool) error {
	if p.pending == nil {
		return ErrNoPending
	}
	to, state := p.pending, p.pendingState
	p.pending, p.pendingState, p.pin, p.pinBase = nil, nil, nil, nil
	if cur := p.mod.current.Load(); pinned && cur.code != to {
		p.pin, p.pinBase = &release{code: to}, cur
	}
	if to == p.code {
		return nil
	}
	if !to.acquire(p.sys) {
		return fmt.Errorf("%w: %v retired before the commit", ErrNotStaged, to.v)
	}
	from := p.code
	p.code, p.state, p.skip = to, state, nil
	from.drop(p.sys)
	if ce := p.sys.log.Check(zap.DebugLevel, "code_change committed"); ce != nil {
		ce.Write(zap.Stringer("pid", p.pid), zap.String("module", p.mod.name),
			zap.String("from", from.v.name), zap.String("to", to.v.name))
	}
	if p.sys.watched() {
		p.sys.emit(Migrated{PID: p.pid, Module: p.mod.name, From: from.v.name, To: to.v.name})
	}
	return nil
}
