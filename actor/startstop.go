package actor

import (
	"context"
	"errors"
	"fmt"
)

// This file holds OTP's start and stop results that the runtime passes
// through without acting on them: ignore and {ok, Pid, Info} from a start,
// a stop with a reason, and a Terminate that changes the exit reason.

// Ignore, returned by Init, says the process is not to be started, which
// is not a failure (OTP's ignore from init/1): the process exits with
// Normal before anyone can reach it, and Spawn returns an error wrapping
// Ignore (test with errors.Is) and no PID. A supervisor keeps the child's
// spec and lists the child as not running.
var Ignore = errors.New("ignore")

// initExit is the exit reason of a process whose Init returned err: Normal
// for Ignore (gen_server exits normal after init/1 returns ignore), err
// otherwise.
func initExit(err error) error {
	if errors.Is(err, Ignore) {
		return Normal
	}
	return err
}

// ctxOut is what a callback hands back beside its return values. Few
// processes need it: it hangs off the process's aside, nil until used.
type ctxOut struct {
	// startInfo is set by SetStartInfo during an Init whose Spawn asked
	// for it (WithStartInfo); wantInfo says it did.
	startInfo any
	wantInfo  bool
	// exit is the reason a ReasonTerminator chose.
	exit error
}

// SetStartInfo hands info back to whoever spawned the process, along with
// its PID: OTP's {ok, Pid, Info} from a start function. It is for Init;
// Spawn delivers info through WithStartInfo, and a supervisor returns it
// from StartChild, RestartChild and StartSimpleChild. Elsewhere, or when
// the spawner did not ask for it, it does nothing.
func (c *Context) SetStartInfo(info any) {
	if o := c.p.out(); o != nil && o.wantInfo {
		o.startInfo = info
	}
}

// WithStartInfo makes a successful Spawn store in *dst the info Init
// passed to Context.SetStartInfo (nil if it passed none). *dst is written
// on the goroutine that called Spawn, before Spawn returns.
func WithStartInfo(dst *any) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.startInfo = dst })
}

// beginInit prepares the context for Init: start info is kept only when
// the spawner asked for it.
func (c *Context) beginInit(want bool) {
	if want {
		c.p.aside().out = &ctxOut{wantInfo: true}
	}
}

// endInit returns the start info Init set and forgets it.
func (c *Context) endInit() any {
	o := c.p.out()
	if o == nil {
		return nil
	}
	c.p.aside().out = nil
	return o.startInfo
}

// chooseExit records the exit reason a ReasonTerminator returned. A nil
// error, or a nil pointer in an error interface (a typed nil), keeps the
// reason the process is exiting with.
func (c *Context) chooseExit(reason error) {
	if reason == nil {
		return
	}
	if typedNil(reason) {
		return
	}
	a := c.p.aside()
	if a.out == nil {
		a.out = &ctxOut{}
	}
	a.out.exit = SafeError(reason)
}

// exitReason returns the reason Terminate chose, or reason.
func (c *Context) exitReason(reason error) error {
	if o := c.p.out(); o != nil && o.exit != nil {
		return o.exit
	}
	return reason
}

// StopWith asks pid to stop with reason and waits until it has exited,
// its Terminate included (gen_server:stop/3, proc_lib:stop/3). A nil
// reason is Normal. As in OTP, reason is the exit reason its links and
// monitors see: Normal, Shutdown or a ShutdownReason end it quietly, any
// other reason is logged as a crash and is abnormal for a supervisor (a
// transient child is restarted). It fails with an *ExitError wrapping
// NoProc if pid is not alive, with an *ExitError carrying the actual
// reason if the process exited with another one (its Terminate chose
// another, or a kill overtook the stop), or with ctx's error.
func (s *System) StopWith(ctx context.Context, pid PID, reason error) error {
	if reason == nil {
		reason = Normal
	}
	reason = SafeError(reason)
	w := s.Watch(pid)
	if err := s.request(ctx, pid, &stopReq{reason: reason, done: make(chan struct{})}); err != nil {
		return err
	}
	// The stop is answered right before watches are told: wait for ours
	// to learn the reason.
	select {
	case <-w.Done():
	case <-ctx.Done():
		return fmt.Errorf("actor: stop %v: %w", pid, ctx.Err())
	}
	if got := w.Reason(); got != reason {
		return &ExitError{PID: pid, Reason: got}
	}
	return nil
}

// Alive reports whether pid is a live process of this system
// (erlang:is_process_alive/1): false once its exit is under way (from the
// end of its Terminate), and for a PID of another node.
func (s *System) Alive(pid PID) bool {
	p := s.lookup(pid)
	return p != nil && !p.isExiting()
}

// StopAll stops every process of pids as Stop does (reason Normal,
// Terminate included), all at once: each gets its stop request without
// waiting for the others, then StopAll waits until every one has exited.
// Stopping thousands of processes costs one pass, not a round trip each.
// A PID that is not alive is skipped (it has stopped already). It fails
// with ErrCallSelf, touching nothing, if pids holds the caller's own
// process (see System), and with ctx's error if ctx ends first (the
// requests sent stand).
func (s *System) StopAll(ctx context.Context, pids []PID) error {
	for _, pid := range pids {
		if s.isSelf(pid) {
			return ErrCallSelf
		}
	}
	ws := make([]*Exited, 0, len(pids))
	for _, pid := range pids {
		w := s.Watch(pid)
		if p := s.lookup(pid); p != nil {
			p.signal(&stopReq{reason: Normal})
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		select {
		case <-w.Done():
		case <-ctx.Done():
			return fmt.Errorf("actor: stopping %d processes: %w", len(pids), ctx.Err())
		}
	}
	return nil
}
