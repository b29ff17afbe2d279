package actor

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
)

// Exit reasons with OTP's meaning. A process's exit reason is an error; any
// error other than these is an abnormal exit (a crash). Compare with
// errors.Is.
var (
	// Normal is the reason of a process that finished its work. Linked
	// processes that do not trap exits ignore it.
	Normal = errors.New("normal")
	// Shutdown is the reason used when a process is told to stop by its
	// supervisor or by System.Shutdown. It is not logged as a crash.
	Shutdown = errors.New("shutdown")
	// Kill, sent with Exit or Kill, stops a process unconditionally: it
	// cannot be trapped and the process exits with Killed. As the exit
	// reason of a process, kill propagates through links like any other
	// reason (as in OTP, only the explicit signal is untrappable).
	Kill = errors.New("kill")
	// Killed is the exit reason of a process stopped by a Kill signal.
	Killed = errors.New("killed")
	// NoProc is the reason reported for a process that does not exist:
	// a link or monitor to a dead process, a send or call to one.
	NoProc = errors.New("noproc")
)

// Errors returned by the runtime API. Use errors.Is.
var (
	ErrNilVersion      = errors.New("actor: nil version")
	ErrInvalidVersion  = errors.New("actor: invalid version")
	ErrVersionConflict = errors.New("actor: another version with that name is loaded")
	ErrUnknownModule   = errors.New("actor: unknown module")
	ErrNameTaken       = errors.New("actor: name already registered")
	ErrInvalidName     = errors.New("actor: invalid name")
	ErrUnknownName     = errors.New("actor: no process registered under that name")
	ErrNilMessage      = errors.New("actor: nil message")
	ErrMailboxFull     = errors.New("actor: mailbox full")
	ErrTimeout         = errors.New("actor: call timeout")
	ErrNoReply         = errors.New("actor: handler returned without replying to the call")
	ErrCallSelf        = errors.New("actor: a process cannot call itself")
	ErrStopping        = errors.New("actor: system is shutting down")
	ErrNotInProcess    = errors.New("actor: not allowed outside the process's own handler")
	ErrObserved        = errors.New("actor: another observer is set")
	// ErrAbandoned is what the Context's actions (Send, Call, Spawn, Link,
	// Exit, ...) return to user code still running in a process that
	// System.Abandon declared killed: what it does changes nothing.
	ErrAbandoned = errors.New("actor: the process was abandoned (declared killed) while this code ran")
)

// ShutdownReason is OTP's {shutdown, Term}: a deliberate stop that carries
// detail. Like Shutdown, it is not logged as a crash and errors.Is(r,
// Shutdown) is true.
type ShutdownReason struct{ Detail any }

func (r ShutdownReason) Error() string     { return fmt.Sprintf("{shutdown, %v}", r.Detail) }
func (r ShutdownReason) Is(err error) bool { return err == Shutdown }

// PanicError is the exit reason of a process whose handler (or Init,
// Terminate or a migration) panicked. It carries the panic value and where
// it happened: the innermost 32 frames of the stack.
type PanicError struct {
	Value any
	// pcs are the program counters at the panic, taken cheaply; Stack
	// formats them only when asked (a crash loop would otherwise spend
	// most of its time formatting stacks nobody reads).
	pcs   []uintptr
	stack []byte
	once  sync.Once
}

// panicDepth is how many frames of a panic's stack PanicError keeps, the
// innermost (Erlang keeps 8, its backtrace_depth).
const panicDepth = 32

func newPanicError(v any) *PanicError {
	// On the heap: it runs in a deferred function at the panic, deep in a
	// goroutine that is often fresh (a process woken for one message), and
	// a buffer in its frame made the stack grow there, copying every frame
	// (W5p, a restart per crash: a third of the crash's time).
	pcs := make([]uintptr, panicDepth)
	n := runtime.Callers(3, pcs) // skip Callers, newPanicError and the deferred recover
	return &PanicError{Value: v, pcs: pcs[:n:n]}
}

// Stack returns the stack of the panicking goroutine, one frame per two
// lines (function, then file:line), innermost first.
func (e *PanicError) Stack() []byte {
	e.once.Do(func() {
		var b bytes.Buffer
		frames := runtime.CallersFrames(e.pcs)
		for {
			f, more := frames.Next()
			fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
			if !more {
				break
			}
		}
		e.stack = b.Bytes()
	})
	return e.stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// ExitError is returned by Call when the target exited before replying, and
// by Stop and similar requests when the target is gone. Reason is the
// target's exit reason (NoProc when it was already dead).
type ExitError struct {
	PID    PID
	Reason error
}

func (e *ExitError) Error() string { return fmt.Sprintf("actor: %v exited: %v", e.PID, e.Reason) }
func (e *ExitError) Unwrap() error { return e.Reason }

// MigrationError reports a CodeChange or Downgrade that failed, panicked or
// produced a state the target version does not accept.
type MigrationError struct {
	Module   string
	From, To string
	// Step is the declared step that failed ("v1 up to v2"), when the
	// route had one.
	Step string
	Err  error
}

func (e *MigrationError) Error() string {
	if e.Step != "" && e.Step != e.From+" up to "+e.To {
		return fmt.Sprintf("actor: code_change of %s from %s to %s, step %s: %v", e.Module, e.From, e.To, e.Step, e.Err)
	}
	return fmt.Sprintf("actor: code_change of %s from %s to %s: %v", e.Module, e.From, e.To, e.Err)
}
func (e *MigrationError) Unwrap() error { return e.Err }

// isQuiet reports whether reason is a deliberate exit, not a crash:
// normal, shutdown or {shutdown, _}.
func isQuiet(reason error) bool {
	return reason == Normal || errors.Is(reason, Shutdown)
}

// BadError stands for an error user code returned that the runtime cannot
// use as it is: a typed nil (a nil *MyErr returned as an error, which is
// not a nil error) or an error whose methods panic. The process exits with
// a BadError as its reason, which every logger, supervisor and link can
// handle; the original value is not kept, since touching it panics.
type BadError struct {
	// Type is the dynamic type of the returned value, e.g. "*main.MyErr".
	Type string
	// Panic is what its Error, Is or Unwrap method panicked with; empty
	// for a typed nil.
	Panic string
}

func (e *BadError) Error() string {
	if e.Panic == "" {
		return fmt.Sprintf("actor: a nil %s was returned as a non-nil error", e.Type)
	}
	return fmt.Sprintf("actor: an error of type %s panicked when used: %s", e.Type, e.Panic)
}

// errProbe is never returned: userError walks an error's chain looking for
// it, which runs the chain's Is and Unwrap methods once under recover.
var errProbe = errors.New("probe")

// SafeError vets an error that user code returned before the runtime and
// its users rely on it: a typed nil, or an error whose Error, Is or Unwrap
// panics, becomes a *BadError; any other error is returned as it is. The
// runtime applies it to every error a callback returns and every exit
// reason it is given; packages built on the runtime apply it to the errors
// of the user code they call (upgrade gates, say).
func SafeError(err error) (out error) {
	if err == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			out = &BadError{Type: fmt.Sprintf("%T", err), Panic: fmt.Sprint(r)}
		}
	}()
	if typedNil(err) {
		return &BadError{Type: fmt.Sprintf("%T", err)}
	}
	// Every error in the chain (up to a bound) is formatted once, and the
	// chain walked as errors.Is walks it.
	queue, seen := []error{err}, 0
	for len(queue) > 0 && seen < 64 {
		e := queue[0]
		queue = queue[1:]
		seen++
		if e == nil {
			continue
		}
		if typedNil(e) {
			return &BadError{Type: fmt.Sprintf("%T", e)}
		}
		_ = e.Error()
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			queue = append(queue, u.Unwrap())
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
	_ = errors.Is(err, errProbe)
	return err
}

// typedNil reports a non-nil interface holding a nil pointer (or map,
// slice, func, chan).
func typedNil(err error) bool {
	switch v := reflect.ValueOf(err); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}
