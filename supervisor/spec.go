package supervisor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/graftrt/graft/actor"
)

// Defaults, exactly as OTP's supervisor (supervisor.erl, check_childspec
// and the supervisor flags):
//
//	strategy       one_for_one
//	intensity      1 restart ...
//	period         ... in 5 s      (only as a pair: see below)
//	auto_shutdown  never
//	restart        permanent
//	shutdown       5 s for a worker, infinity for a supervisor
//	type           worker
//	modules        [the start module]
//	significant    false
//
// Go cannot tell a field left out from one set to zero, so intensity and
// period default together: Intensity 0 and Period 0 (a zero Flags) mean
// OTP's 1 restart in 5 s. A positive Intensity needs a positive Period
// (OTP's check_flags refuses a period that is not positive; Flags{Intensity:
// 10} alone is an error, not 10 in 5 s nor 1 in 5 s). Intensity 0 with a
// Period allows no restart at all. OTP's period alone (#{period => 10},
// intensity 1 by default) is written Intensity: 1, Period: 10 * time.Second.
const (
	DefaultIntensity      = 1
	DefaultPeriod         = 5 * time.Second
	DefaultWorkerShutdown = 5 * time.Second
)

// Strategy is the restart strategy (OTP's strategy flag).
type Strategy uint8

const (
	// OneForOne restarts only the child that terminated.
	OneForOne Strategy = iota
	// OneForAll terminates every other child (in reverse start order) and
	// restarts them all (in start order).
	OneForAll
	// RestForOne terminates the children started after the one that
	// terminated (in reverse start order) and restarts it and them (in
	// start order).
	RestForOne
	// SimpleOneForOne is OneForOne over dynamically added instances of one
	// child spec (StartSimpleChild).
	SimpleOneForOne
)

var strategyNames = [...]string{"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}

func (s Strategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return "strategy(" + strconv.Itoa(int(s)) + ")"
}

// Restart says when a terminated child is restarted (OTP's restart).
type Restart uint8

const (
	// Permanent children are always restarted.
	Permanent Restart = iota
	// Transient children are restarted only after an abnormal exit (not
	// normal, shutdown or {shutdown, _}).
	Transient
	// Temporary children are never restarted; their spec is removed when
	// they terminate.
	Temporary
)

var restartNames = [...]string{"permanent", "transient", "temporary"}

func (r Restart) String() string {
	if int(r) < len(restartNames) {
		return restartNames[r]
	}
	return "restart(" + strconv.Itoa(int(r)) + ")"
}

// Shutdown says how a child is terminated (OTP's shutdown): a positive
// duration is a timeout (exit signal shutdown, then kill if the child has
// not exited in time); BrutalKill kills at once; Infinity waits for as long
// as the child takes. Zero means the default: 5 s for a worker, Infinity
// for a supervisor.
type Shutdown time.Duration

const (
	// BrutalKill terminates the child with an untrappable kill.
	BrutalKill Shutdown = -1
	// Infinity sends shutdown and waits without a timeout.
	Infinity Shutdown = Shutdown(1<<63 - 1)
)

func (s Shutdown) String() string {
	switch {
	case s == BrutalKill:
		return "brutal_kill"
	case s == Infinity:
		return "infinity"
	case s == 0:
		return "default"
	}
	return time.Duration(s).String()
}

// ChildType is a child's type (OTP's type): Worker or Supervisor.
type ChildType uint8

const (
	Worker ChildType = iota
	Supervisor
)

func (t ChildType) String() string {
	switch t {
	case Worker:
		return "worker"
	case Supervisor:
		return "supervisor"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// AutoShutdown is OTP 24's auto_shutdown flag: whether the supervisor
// stops itself when significant children terminate.
type AutoShutdown uint8

const (
	// Never: significant children are not accepted.
	Never AutoShutdown = iota
	// AnySignificant: the supervisor shuts down when any significant child
	// terminates (and is not restarted).
	AnySignificant
	// AllSignificant: the supervisor shuts down once every significant
	// child has terminated.
	AllSignificant
)

var autoShutdownNames = [...]string{"never", "any_significant", "all_significant"}

func (a AutoShutdown) String() string {
	if int(a) < len(autoShutdownNames) {
		return autoShutdownNames[a]
	}
	return "auto_shutdown(" + strconv.Itoa(int(a)) + ")"
}

// StartSpec says how to start a child: the module and its Init arguments. A
// restart always starts the module's current version.
type StartSpec struct {
	Module string
	Args   any
	// Options are passed to Spawn (names, mailbox bounds). A registered
	// name is released when the child exits, so a restart can take it
	// again (with KeepName, it stays bound through the restart).
	Options []actor.SpawnOption
}

// ChildSpec describes a child as plain data (OTP's child_spec map). The
// zero values of Restart, Shutdown, Type and Modules are OTP's defaults.
type ChildSpec struct {
	ID       string
	Start    StartSpec
	Restart  Restart
	Shutdown Shutdown
	Type     ChildType
	// Modules lists the modules the child runs; upgrades use it to find
	// the processes affected by a module change. Default: Start.Module.
	Modules     []string
	Significant bool
	// Handoff (a Graft extension, not in OTP): the user messages still
	// queued when the child exits go to its replacement, ahead of anything
	// sent to the replacement, instead of being dead letters. Calls among
	// them are answered by the replacement. If the child is not restarted
	// they are reported as dead letters as usual.
	Handoff bool
	// KeepName (a Graft extension, not in OTP; needs Handoff and a
	// registered name in Start.Options, or in an instance's own
	// SpawnOptions under simple_one_for_one): the child's registered name
	// stays bound through its restart. When the child exits, its name is
	// reserved for the supervisor instead of being freed, and what is sent
	// to the name meanwhile (SendNamed, CallNamed) queues for the
	// replacement, which handles the handed-over messages first, then
	// those sent in the gap, then new ones. If the child is not restarted
	// (its restart type, the intensity reached, TerminateChild, the
	// supervisor's exit) the name is freed and the queued messages are
	// reported as dead letters. See docs/supervisors.md.
	KeepName bool
}

// Flags are the supervisor flags.
type Flags struct {
	Strategy Strategy
	// Intensity and Period: more than Intensity restarts within Period
	// make the supervisor give up: it terminates its children and exits
	// with reason shutdown. Both zero means OTP's defaults (1 in 5 s); a
	// positive Intensity needs a positive Period; Intensity 0 with a
	// Period allows no restart (see the defaults above).
	Intensity    int
	Period       time.Duration
	AutoShutdown AutoShutdown
}

// ErrInvalidSpec is wrapped by every validation error (use errors.Is).
var ErrInvalidSpec = errors.New("supervisor: invalid spec")

// SpecError names the child (empty for the flags) and the field at fault.
type SpecError struct {
	Child  string
	Field  string
	Reason string
}

func (e *SpecError) Error() string {
	if e.Child == "" {
		return fmt.Sprintf("supervisor: invalid flags: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("supervisor: invalid child spec %q: %s: %s", e.Child, e.Field, e.Reason)
}

func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }

// withDefaults returns the flags with OTP's defaults filled in. Valid
// flags have a zero Period only with a zero Intensity.
func (f Flags) withDefaults() Flags {
	if f.Period == 0 {
		f.Intensity, f.Period = DefaultIntensity, DefaultPeriod
	}
	return f
}

func (f Flags) validate() error {
	switch {
	case f.Strategy > SimpleOneForOne:
		return &SpecError{Field: "strategy", Reason: "unknown strategy " + f.Strategy.String()}
	case f.Intensity < 0:
		return &SpecError{Field: "intensity", Reason: "must not be negative"}
	case f.Period < 0:
		return &SpecError{Field: "period", Reason: "must not be negative"}
	case f.Period == 0 && f.Intensity != 0:
		// OTP refuses a period that is not positive; taking a default
		// here would silently change the intensity the caller chose.
		return &SpecError{Field: "period", Reason: fmt.Sprintf("must be positive with intensity %d (OTP's default period is %v)", f.Intensity, DefaultPeriod)}
	case f.AutoShutdown > AllSignificant:
		return &SpecError{Field: "auto_shutdown", Reason: "unknown value " + f.AutoShutdown.String()}
	case f.Strategy == SimpleOneForOne && f.AutoShutdown != Never:
		return &SpecError{Field: "auto_shutdown", Reason: "not supported by simple_one_for_one"}
	}
	return nil
}

// withDefaults returns the spec with OTP's defaults filled in.
func (c ChildSpec) withDefaults() ChildSpec {
	if c.Shutdown == 0 {
		if c.Type == Supervisor {
			c.Shutdown = Infinity
		} else {
			c.Shutdown = Shutdown(DefaultWorkerShutdown)
		}
	}
	if len(c.Modules) == 0 && c.Start.Module != "" {
		c.Modules = []string{c.Start.Module}
	}
	return c
}

// validate checks one child spec against the supervisor's flags
// (OTP's check_childspec).
func (c ChildSpec) validate(f Flags) error {
	bad := func(field, reason string) error { return &SpecError{Child: c.ID, Field: field, Reason: reason} }
	switch {
	case c.ID == "" && f.Strategy != SimpleOneForOne:
		return bad("id", "must not be empty")
	case c.Start.Module == "":
		return bad("start", "no module")
	case c.Restart > Temporary:
		return bad("restart", "unknown value "+c.Restart.String())
	case c.Shutdown < BrutalKill:
		return bad("shutdown", "negative timeout "+time.Duration(c.Shutdown).String())
	case c.Type > Supervisor:
		return bad("type", "unknown value "+c.Type.String())
	case c.Significant && c.Restart == Permanent:
		return bad("significant", "a permanent child cannot be significant")
	case c.Significant && f.AutoShutdown == Never:
		return bad("significant", "auto_shutdown is never")
	case c.Significant && f.Strategy == SimpleOneForOne:
		return bad("significant", "not supported by simple_one_for_one")
	case c.KeepName && !c.Handoff:
		// The replacement would get what was sent in the gap but not
		// what was queued before it: a hole in every sender's sequence.
		return bad("keep_name", "needs Handoff")
	case c.KeepName && f.Strategy != SimpleOneForOne && actor.SpawnName(c.Start.Options...) == "":
		return bad("keep_name", "needs a registered name (actor.WithName in Start.Options)")
	}
	for i, m := range c.Modules {
		if m == "" {
			return bad("modules", "entry "+strconv.Itoa(i)+" is empty")
		}
	}
	// A nested supervisor's flags and children are data too: checked here,
	// with the parent's, rather than when the nested supervisor starts,
	// after its older siblings have been started or stopped.
	if c.Start.Module == ModuleName {
		cfg, ok := c.Start.Args.(*config)
		if !ok || cfg == nil {
			return bad("start", fmt.Sprintf("arguments %T are not a supervisor config (use supervisor.Spec)", c.Start.Args))
		}
		if err := validateAll(cfg.flags, cfg.specs); err != nil {
			return bad("start", "nested supervisor: "+strings.TrimPrefix(err.Error(), "supervisor: "))
		}
	}
	return nil
}

// validateAll checks flags and every spec, and that ids are unique.
func validateAll(f Flags, specs []ChildSpec) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.Strategy == SimpleOneForOne && len(specs) != 1 {
		return &SpecError{Field: "children", Reason: fmt.Sprintf("simple_one_for_one takes exactly one child spec, got %d", len(specs))}
	}
	seen := make(map[string]bool, len(specs))
	for _, c := range specs {
		if err := c.validate(f); err != nil {
			return err
		}
		if seen[c.ID] {
			return &SpecError{Child: c.ID, Field: "id", Reason: "duplicate id"}
		}
		seen[c.ID] = true
	}
	return nil
}
