package actor

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Behaviour is what every version of a module implements: Init builds the
// state of a new process, Handle handles one message and returns the next
// state. Both are short-lived; the receive loop is the only long-lived code.
//
// A non-nil error from Handle stops the process with that error as its exit
// reason (OTP's {stop, Reason, State}); return Normal to stop normally. A
// non-nil error from Init makes Spawn fail with it.
//
// A version may also implement Terminator, Upgrader and Downgrader.
type Behaviour interface {
	Init(ctx *Context, args any) (state any, err error)
	Handle(ctx *Context, state, msg any) (newState any, err error)
}

// Terminator is implemented by versions that clean up when their process
// exits by its own decision (an error from Handle, a panic, Stop, or an exit
// signal from its parent while trapping exits). It is not called for Kill or
// for an exit signal the process does not trap (as in OTP).
type Terminator interface {
	Terminate(ctx *Context, state any, reason error)
}

// ReasonTerminator is Terminator for versions whose cleanup chooses the
// reason the process exits with (in OTP, exit(NewReason) inside
// terminate/2): the process exits with the error Terminate returns, and
// its links, monitors, Stop callers and supervisor see that reason; nil
// (or a typed nil) keeps the reason it was exiting with. It is called
// when Terminator's Terminate would be; a version implements one of the
// two (both are named Terminate). Funcs.TerminateReason is the typed form.
type ReasonTerminator interface {
	Terminate(ctx *Context, state any, reason error) error
}

// Upgrader is implemented by versions that migrate the state built by an
// older version: OTP's code_change(OldVsn, State, Extra). It runs in the new
// version, for the up steps its Lineage declares (from the version it
// follows, and from its UpgradesFrom). A version without it keeps the old
// state unchanged on those steps.
type Upgrader interface {
	CodeChange(from string, oldState, extra any) (newState any, err error)
}

// Downgrader is implemented by versions that can hand their state back to an
// older version: OTP's code_change({down, Vsn}, State, Extra). As in OTP it
// runs in the version being left (the newer code), before the older one
// takes over. It serves the down steps the version's Lineage declares (to
// the version it follows, and to its DowngradesTo); a version without it
// cannot be left downwards.
type Downgrader interface {
	Downgrade(to string, state, extra any) (oldState any, err error)
}

// Releaser is implemented by behaviours that hold something outside the
// runtime for as long as their version is in use in a system (a plugin's
// OS process): Retire is called each time the version retires (it is not
// current and its last activation has ended), Release when it leaves the
// system's module table. Unlike the OnRetire and OnRelease options of one
// Stage or Load, they hold however the version came to be staged (a plan
// staging it again, say). A panic in either is logged, not raised.
type Releaser interface {
	Retire()
	Release()
}

// Version is one implementation of a module. Create it with NewVersion or
// Define and make it current with System.Load. A Version holds no
// per-system state: the same Version may be loaded into several Systems.
type Version struct {
	module, name string
	// Lineage (see Lineage): what this version follows, and the versions
	// its CodeChange migrates from and its Downgrade returns to besides.
	follows        string
	upFrom, downTo []string
	// lenient: Encoded states decode into this version's types even with
	// unknown or missing fields.
	lenient bool
	// The callbacks see the state in the version's own representation
	// (see wrap).
	init      func(ctx *Context, args any) (any, error)
	handle    func(ctx *Context, state, msg any) (any, error)
	terminate func(ctx *Context, state any, reason error)
	up        func(from string, old, extra any) (any, error)
	down      func(to string, state, extra any) (any, error)
	batch     BatchHandler
	maxBatch  int   // batch's MaxBatch, asked once
	invalid   error // why Load must refuse the version (a panicking MaxBatch, inconsistent Funcs)
	// retire and release come from a Releaser behaviour.
	retire, release func()
	// wrap turns a plain state (what migrations exchange) into the
	// version's representation and reports whether it fits; unwrap is the
	// reverse. Both are nil for untyped versions, whose representation is
	// the plain state. Typed versions keep their state in a cell that
	// Handle updates in place, so a state that is not a pointer is not
	// boxed into an interface again on every message.
	wrap      func(plain any) (any, error)
	unwrap    func(state any) any
	stateType string
	// codec and types: how states, messages and spawn arguments leave
	// the process (see Codec).
	codec Codec
	types []reflect.Type
}

// Plain returns the state as migrations and inspectors see it: for a typed
// version, the S value itself.
func (v *Version) plain(state any) any {
	if v.unwrap == nil {
		return state
	}
	return v.unwrap(state)
}

// own turns a plain state into the version's representation, or fails if
// the version does not accept it.
func (v *Version) own(plain any) (any, error) {
	if v.wrap == nil {
		return plain, nil
	}
	st, err := v.wrap(v.decodable(plain))
	if err != nil {
		return nil, v.stateTypeError(plain, err)
	}
	return st, nil
}

// Module returns the name of the module the version belongs to.
func (v *Version) Module() string { return v.module }

// Name returns the version's name, e.g. "v2".
func (v *Version) Name() string { return v.name }

// String returns "module@version".
func (v *Version) String() string { return v.module + "@" + v.name }

// CanUpgrade reports whether the version has a CodeChange migration.
func (v *Version) CanUpgrade() bool { return v.up != nil }

// CanDowngrade reports whether the version has a Downgrade migration.
func (v *Version) CanDowngrade() bool { return v.down != nil }

// NewVersion makes a version of module from an untyped Behaviour, probing
// it for Terminator (or ReasonTerminator), Upgrader, Downgrader,
// BatchHandler, HasLineage and Releaser.
// Invalid input (empty names, a nil behaviour) is reported by System.Load.
func NewVersion(module, version string, b Behaviour) *Version {
	v := &Version{module: module, name: version}
	if b == nil {
		return v
	}
	v.init, v.handle = b.Init, b.Handle
	if l, ok := b.(HasLineage); ok {
		v.setLineage(l.Lineage())
	}
	if t, ok := b.(Terminator); ok {
		v.terminate = t.Terminate
	}
	if t, ok := b.(ReasonTerminator); ok {
		v.terminate = func(ctx *Context, state any, reason error) { ctx.chooseExit(t.Terminate(ctx, state, reason)) }
	}
	if u, ok := b.(Upgrader); ok {
		v.up = u.CodeChange
	}
	if d, ok := b.(Downgrader); ok {
		v.down = d.Downgrade
	}
	if bh, ok := b.(BatchHandler); ok {
		n, err := maxBatch(bh)
		if n > 0 {
			v.batch, v.maxBatch = bh, n
		}
		v.invalid = err
	}
	if r, ok := b.(Releaser); ok {
		v.retire, v.release = r.Retire, r.Release
	}
	if h, ok := b.(HasCodec); ok {
		c, types, err := hasCodec(h)
		v.setCodec(c, types)
		if err != nil {
			v.invalid = err
		}
	}
	return v
}

// maxBatch asks bh for its MaxBatch; a panic is an error System.Load
// reports.
func maxBatch(bh BatchHandler) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("MaxBatch panicked: %v", r)
		}
	}()
	return bh.MaxBatch(), nil
}

// Funcs is a typed version: state of type S. Handle is required; the other
// fields are optional. Init defaults to the zero S.
type Funcs[S any] struct {
	// Follows names the version this one comes after in the module's
	// lineage ("" for the first); UpgradesFrom and DowngradesTo add steps
	// (see Lineage).
	Follows                    string
	UpgradesFrom, DowngradesTo []string
	// Lenient lets an Encoded state (a plugin version's) decode into S even
	// with unknown or missing fields; by default such a state must match S
	// exactly, so that a shape this version does not know is refused
	// instead of silently losing data.
	Lenient bool
	// Codec encodes the version's state, and the messages and spawn
	// arguments listed in Types, where they leave the process (a handoff
	// to a new build: see Codec). A version without one cannot be handed
	// over. Types lists a value of each message and argument type that may
	// be queued or passed to Init (Deposit{}, &Config{}).
	Codec Codec
	Types []any

	Init      func(ctx *Context, args any) (S, error)
	Handle    func(ctx *Context, state S, msg any) (S, error)
	Terminate func(ctx *Context, state S, reason error)
	// TerminateReason is Terminate choosing the exit reason (see
	// ReasonTerminator): the process exits with the error it returns, or
	// with its reason unchanged for nil. Set Terminate or TerminateReason,
	// not both (Load refuses the version).
	TerminateReason func(ctx *Context, state S, reason error) error
	// CodeChange migrates the state of an older version (see Migrate).
	CodeChange func(from string, oldState, extra any) (S, error)
	// Downgrade turns this version's state back into an older version's.
	Downgrade func(to string, state S, extra any) (any, error)
}

// Define makes a typed version of module. The runtime holds the state as
// any; the adapters here keep it as an S in a cell of the process's own, so
// handlers stay typed and a migration whose result is not an S fails cleanly
// instead of reaching Handle.
func Define[S any](module, version string, f Funcs[S]) *Version {
	type cell struct{ s S }
	v := &Version{module: module, name: version, lenient: f.Lenient}
	v.setLineage(Lineage{Follows: f.Follows, UpgradesFrom: f.UpgradesFrom, DowngradesTo: f.DowngradesTo})
	v.setCodec(f.Codec, f.Types)
	v.stateType = reflect.TypeFor[S]().String()
	v.wrap = func(plain any) (any, error) {
		s, err := asState[S](plain)
		return &cell{s}, err
	}
	v.unwrap = func(state any) any { return state.(*cell).s }
	v.init = func(ctx *Context, args any) (any, error) {
		c := &cell{}
		if f.Init == nil {
			return c, nil
		}
		s, err := f.Init(ctx, args)
		c.s = s
		return c, err
	}
	if f.Handle != nil {
		v.handle = func(ctx *Context, state, msg any) (any, error) {
			c := state.(*cell)
			s, err := f.Handle(ctx, c.s, msg)
			c.s = s
			return state, err
		}
	}
	if f.Terminate != nil {
		v.terminate = func(ctx *Context, state any, reason error) { f.Terminate(ctx, state.(*cell).s, reason) }
	}
	if f.TerminateReason != nil {
		if f.Terminate != nil {
			v.invalid = errors.New("both Terminate and TerminateReason are set")
		}
		v.terminate = func(ctx *Context, state any, reason error) {
			ctx.chooseExit(f.TerminateReason(ctx, state.(*cell).s, reason))
		}
	}
	if f.CodeChange != nil {
		v.up = func(from string, old, extra any) (any, error) { return f.CodeChange(from, old, extra) }
	}
	if f.Downgrade != nil {
		v.down = func(to string, state, extra any) (any, error) {
			s, err := asState[S](state)
			if err != nil {
				return state, v.stateTypeError(state, err)
			}
			return f.Downgrade(to, s, extra)
		}
	}
	return v
}

// Migrate adapts a typed migration from state A to state B into the shape
// of Funcs.CodeChange. The old state is asserted to A with a clear error;
// an Encoded old state is decoded into A, strictly unless the migrating
// version is Lenient.
func Migrate[A, B any](f func(old A, extra any) (B, error)) func(from string, old, extra any) (B, error) {
	return func(from string, old, extra any) (B, error) {
		a, err := asState[A](old)
		if err != nil {
			var zero B
			return zero, fmt.Errorf("%w: state from %s is %T, migration expects %s%s",
				ErrStateType, from, old, reflect.TypeFor[A](), because(err))
		}
		return f(a, extra)
	}
}

// ErrStateType reports a state whose type does not fit a version.
var ErrStateType = errors.New("actor: state has the wrong type")

func (v *Version) stateTypeError(state any, err error) error {
	return fmt.Errorf("%w: %s holds %T, version wants %s%s", ErrStateType, v, state, v.stateType, because(err))
}

// because renders a decoding failure behind a type mismatch.
func because(err error) string {
	if err == nil || err == errNotState {
		return ""
	}
	return " (" + err.Error() + ")"
}

// errNotState: the value is neither an S nor an Encoded one.
var errNotState = errors.New("not the state type")

// asState asserts state to S; a nil state is the zero S, and an Encoded
// one is decoded into an S (strictly: see StrictDecoder).
func asState[S any](state any) (S, error) {
	if state == nil {
		var zero S
		return zero, nil
	}
	if s, ok := state.(S); ok {
		return s, nil
	}
	return decodeState[S](state)
}

func (v *Version) validate() error {
	switch {
	case v == nil:
		return ErrNilVersion
	case v.module == "":
		return fmt.Errorf("%w: empty module name", ErrInvalidVersion)
	case v.name == "":
		return fmt.Errorf("%w: %s has an empty version name", ErrInvalidVersion, v.module)
	case v.init == nil || v.handle == nil:
		return fmt.Errorf("%w: %s has no Handle (nil behaviour?)", ErrInvalidVersion, v)
	case v.invalid != nil:
		return fmt.Errorf("%w: %s: %v", ErrInvalidVersion, v, v.invalid)
	}
	return nil
}

func (v *Version) setLineage(l Lineage) {
	v.follows = l.Follows
	v.upFrom = slices.Clone(l.UpgradesFrom)
	v.downTo = slices.Clone(l.DowngradesTo)
}
