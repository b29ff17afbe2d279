package upgrade

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/graftrt/graft/actor"
)

// Snapshot is what planning sees of a system: the plan's modules (their
// versions and activations, system-wide) and the processes of the tree
// being upgraded that run them. Supervisors hold the tree still while it
// is taken (see Tree).
type Snapshot struct {
	Modules map[string]ModuleState
	Procs   []Proc
	// Deferred: the tree's processes were not listed. A lazy plan whose
	// modules run nothing but their current version (no straggler can
	// exist, inside the tree or out) needs no step before its commit, so it
	// commits first and lists the tree's processes right after, to follow
	// them (see Schedule.Deferred).
	Deferred bool
}

// ModuleState is one module as a snapshot sees it.
type ModuleState struct {
	Current *actor.Version
	// Versions the system knows: current, previous, in use, staged.
	Versions []*actor.Version
	// Activations by version name, system-wide: processes inside and
	// outside the tree.
	Activations map[string]int64
}

// Proc is one process of the tree: the module and version it runs, and
// its depth (1 for a top supervisor's children, 2 for theirs, ...).
type Proc struct {
	PID     actor.PID
	Module  string
	Version string
	// Pinned: a rolling upgrade switched it ahead of the module's current
	// version (a rollback that failed and kept it there, say).
	Pinned bool
	Level  int
}

// OnCurrentOnly reports whether every module of the plan runs nothing but
// its current version, system-wide: then no
// process can be behind the current version, inside a tree or outside it,
// and a lazy plan may commit before it lists the tree (Snapshot.Deferred).
// Processes only ever move to a module's current version, so this stays
// true until the commit.
func OnCurrentOnly(s Snapshot, p Plan) bool {
	for _, c := range p.Changes {
		ms, ok := s.Modules[c.Module]
		if !ok || ms.Current == nil {
			return false
		}
		for name, n := range ms.Activations {
			if n > 0 && name != ms.Current.Name() { // the target too: such a process must be held
				return false
			}
		}
	}
	return true
}

// ModulesOf reads the state of the plan's modules from sys: a snapshot
// without processes.
func ModulesOf(sys *actor.System, p Plan) Snapshot {
	s := Snapshot{Modules: map[string]ModuleState{}}
	for _, c := range p.Changes {
		info, ok := sys.Module(c.Module)
		if !ok {
			continue
		}
		cur, _ := sys.Current(c.Module)
		s.Modules[c.Module] = ModuleState{Current: cur, Versions: info.Versions, Activations: info.Activations}
	}
	return s
}

// StepKind is what a step of a schedule does.
type StepKind uint8

const (
	// StepStage stages the plan's versions (known, not current).
	StepStage StepKind = iota + 1
	// StepPrepare suspends the step's processes and migrates each along
	// its route, keeping the result pending (stragglers to be killed are
	// only suspended).
	StepPrepare
	// StepCommit makes the new versions of every module current at once:
	// the point of no return.
	StepCommit
	// StepSwitch switches the step's processes to their prepared state
	// and resumes them (or kills them, by straggler policy).
	StepSwitch
	// StepPin is StepSwitch for a rolling wave before the commit: the
	// processes run the new version while the old one stays current.
	StepPin
	// StepGate observes the finished waves, the tree released, then asks
	// the gate.
	StepGate
	// StepAwait waits for the step's processes to migrate on their next
	// message (lazy).
	StepAwait
	// Undo steps.
	StepUnstage // the versions the plan staged leave the system again
	StepAbort   // prepared processes drop the result and resume
	StepUnpin   // pinned processes migrate back to the old version
)

var stepNames = [...]string{"", "stage", "prepare", "commit", "switch", "pin", "gate", "await", "unstage", "abort", "unpin"}

func (k StepKind) String() string {
	if int(k) < len(stepNames) {
		return stepNames[k]
	}
	return "step(?)"
}

// Step is one step of a schedule, with the step that undoes it (zero if
// nothing does: after the commit nothing is undone).
type Step struct {
	Kind  StepKind
	Wave  int   // rolling: the wave; 0 otherwise
	Level int   // atomic: the tree level; 0 when the step spans levels
	Procs []int // indexes into Schedule.Procs
	Undo  StepKind
}

// Planned is one process of a schedule: where it is and where it goes.
type Planned struct {
	Proc
	Target *actor.Version
	// Route is the declared steps from its version to Target.
	Route []actor.Step
	// Straggler: it runs another version than the module's current one
	// (the target, maybe: then its route is empty, and it is held all the
	// same, so that no message moves it to the current version meanwhile).
	Straggler bool
	// Kill: a straggler that the commit kills (KillStragglers).
	Kill bool
	// Lazy: it migrates on its next message after the commit.
	Lazy bool
	// Unchanged: it is pinned to Target already; no step touches it.
	Unchanged bool
}

// Schedule is a plan made concrete for one snapshot: every affected
// process with its route, and the ordered steps that one runner executes
// in every mode. It is computed purely (NewSchedule) and is what a dry run
// shows.
type Schedule struct {
	Plan  Plan
	Procs []Planned
	Steps []Step
	// Changes holds per module where the prepare requests move processes
	// (routes from every known version); Back, for a rolling plan, where
	// the rollback of a finished wave moves them.
	Changes, Back map[string]*actor.Change
	// Direction per module: up, down or across the lineage.
	Direction map[string]actor.Direction
	// From is the module's current version at the snapshot.
	From map[string]*actor.Version
	// Deferred: Procs is empty at planning; the await step covers the
	// tree's processes of the plan's modules as listed right after the
	// commit (a lazy plan with nothing behind the current version).
	Deferred bool
}

// NewSchedule computes the schedule of plan p for snapshot s, or refuses:
// ErrInvalidPlan for a plan that does not fit the modules (unknown module,
// version current already or conflicting with a known one), ErrRefused
// for one the state refuses (a version in use without a route to the
// target, no route back for a rolling plan, stragglers under
// RefuseStragglers, versions left in use beyond OTP's two). It is pure:
// nothing is touched.
func NewSchedule(p Plan, s Snapshot) (*Schedule, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	sc := &Schedule{Plan: p, Changes: map[string]*actor.Change{}, Back: map[string]*actor.Change{},
		Direction: map[string]actor.Direction{}, From: map[string]*actor.Version{}, Deferred: s.Deferred && p.Mode == Lazy}
	for _, c := range p.Changes {
		if err := sc.planModule(c, s.Modules[c.Module]); err != nil {
			return nil, err
		}
	}
	if err := sc.planProcs(s); err != nil {
		return nil, err
	}
	sc.Steps = sc.steps()
	return sc, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPlan, fmt.Sprintf(format, args...))
}

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrRefused, fmt.Errorf(format, args...))
}

// planModule checks one change against its module and computes its
// routes.
func (sc *Schedule) planModule(c Change, ms ModuleState) error {
	if ms.Current == nil {
		return invalid("unknown module %s", c.Module)
	}
	if ms.Current == c.To {
		return invalid("%v is already current", c.To)
	}
	known := []*actor.Version{c.To}
	for _, v := range ms.Versions {
		switch {
		case v == c.To:
		case v.Name() == c.To.Name():
			return fmt.Errorf("%w: %w: %v", ErrInvalidPlan, actor.ErrVersionConflict, c.To)
		default:
			known = append(known, v)
		}
	}
	if !slices.Contains(known, ms.Current) {
		known = append(known, ms.Current)
	}
	ch := &actor.Change{To: c.To, Extra: c.Extra, Routes: map[string][]actor.Step{}}
	var inUse []string
	for name, n := range ms.Activations {
		if n > 0 && name != c.To.Name() {
			inUse = append(inUse, name)
		}
	}
	slices.Sort(inUse)
	for _, v := range known {
		if v == c.To {
			continue
		}
		steps, err := actor.Route(v, c.To, known)
		if err == nil {
			ch.Routes[v.Name()] = steps
		} else if slices.Contains(inUse, v.Name()) {
			return refused("%v is in use by %d processes: %w", v, ms.Activations[v.Name()], err)
		}
	}
	if _, ok := ch.Routes[ms.Current.Name()]; !ok {
		_, err := actor.Route(ms.Current, c.To, known)
		return refused("%w", err)
	}
	if sc.Plan.Mode == Rolling {
		back, err := actor.Route(c.To, ms.Current, known)
		if err != nil {
			return refused("rolling %s to %s: no way back to roll finished waves back with: %w", c.Module, c.To.Name(), err)
		}
		sc.Back[c.Module] = &actor.Change{To: ms.Current, Extra: c.Extra, Routes: map[string][]actor.Step{c.To.Name(): back}}
	}
	sc.Changes[c.Module] = ch
	sc.Direction[c.Module] = actor.DirectionOf(ms.Current, c.To, known)
	sc.From[c.Module] = ms.Current
	return nil
}

// planProcs classifies the tree's processes and predicts what the commit
// would leave in use.
func (sc *Schedule) planProcs(s Snapshot) error {
	inTree := map[string]map[string]int64{} // module → version → processes
	var stragglers []string                 // named in a refusal
	nStragglers := 0
	sc.Procs = make([]Planned, 0, len(s.Procs))
	for _, pr := range s.Procs {
		ch, ok := sc.Changes[pr.Module]
		if !ok {
			continue
		}
		if inTree[pr.Module] == nil {
			inTree[pr.Module] = map[string]int64{}
		}
		inTree[pr.Module][pr.Version]++
		pl := Planned{Proc: pr, Target: ch.To}
		cur := sc.From[pr.Module]
		switch {
		case pr.Version == ch.To.Name() && pr.Pinned:
			// Pinned to the target ahead of the current version (a rollback
			// kept it there): it stays on it whatever it handles.
			pl.Unchanged = true
		case pr.Version != cur.Name() || pr.Pinned:
			// Behind the current version, or on the target while another is
			// current: until the commit its next message would move it to
			// the current version, so it is held with the others (with an
			// empty route if it runs the target already).
			pl.Straggler = true
			pl.Kill = sc.Plan.Stragglers == KillStragglers
			if sc.Plan.Stragglers == RefuseStragglers && len(stragglers) < 11 {
				stragglers = append(stragglers, fmt.Sprintf("%v (%s@%s)", pr.PID, pr.Module, pr.Version))
			}
			nStragglers++
		default:
			pl.Lazy = sc.Plan.Mode == Lazy
		}
		if !pl.Unchanged && !pl.Kill && pr.Version != ch.To.Name() {
			steps, ok := ch.Routes[pr.Version]
			if !ok {
				return refused("%v runs %s@%s, which has no route to %s", pr.PID, pr.Module, pr.Version, ch.To.Name())
			}
			pl.Route = steps
		}
		sc.Procs = append(sc.Procs, pl)
	}
	if nStragglers > 0 && sc.Plan.Stragglers == RefuseStragglers {
		return refused("%d processes run another version than the current one (stragglers, refused by policy): %s",
			nStragglers, strings.Join(first(stragglers, 10, nStragglers), ", "))
	}
	// After the commit, the versions still in use besides the new one are
	// those of processes outside the tree, and, for a lazy plan, the
	// outgoing current version. OTP allows one.
	for _, c := range sc.Plan.Changes {
		ms := s.Modules[c.Module]
		var staying []string
		for name, n := range ms.Activations {
			outside := n - inTree[c.Module][name]
			lazyCur := sc.Plan.Mode == Lazy && name == ms.Current.Name() && inTree[c.Module][name] > 0
			if name != c.To.Name() && (outside > 0 || lazyCur) {
				staying = append(staying, name)
			}
		}
		if len(staying) > 1 {
			slices.Sort(staying)
			return refused("%w: making %v current would leave %s in use too (processes outside the tree; upgrade from a supervisor above them)",
				actor.ErrNotPurged, c.To, strings.Join(staying, " and "))
		}
	}
	return nil
}

// first returns the first n of s, and says how many of total it leaves out.
func first(s []string, n, total int) []string {
	if total > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", total-n))
	}
	return s
}

// steps lays the processes out into the mode's steps.
func (sc *Schedule) steps() []Step {
	var moving, stragglers, lazy []int // indexes of processes that take part
	for i, pl := range sc.Procs {
		switch {
		case pl.Unchanged:
		case pl.Lazy:
			lazy = append(lazy, i)
		case pl.Straggler:
			stragglers = append(stragglers, i)
		default:
			moving = append(moving, i)
		}
	}
	steps := []Step{{Kind: StepStage, Undo: StepUnstage}}
	switch sc.Plan.Mode {
	case Atomic:
		levels := sc.byLevel(append(moving, stragglers...))
		for _, l := range levels {
			steps = append(steps, Step{Kind: StepPrepare, Level: sc.Procs[l[0]].Level, Procs: l, Undo: StepAbort})
		}
		steps = append(steps, Step{Kind: StepCommit})
		for i := len(levels) - 1; i >= 0; i-- {
			steps = append(steps, Step{Kind: StepSwitch, Level: sc.Procs[levels[i][0]].Level, Procs: levels[i]})
		}
	case Lazy:
		if len(stragglers) > 0 {
			steps = append(steps, Step{Kind: StepPrepare, Procs: stragglers, Undo: StepAbort})
		}
		steps = append(steps, Step{Kind: StepCommit})
		if len(stragglers) > 0 {
			steps = append(steps, Step{Kind: StepSwitch, Procs: stragglers})
		}
		if len(lazy) > 0 || sc.Deferred {
			steps = append(steps, Step{Kind: StepAwait, Procs: lazy})
		}
	case Rolling:
		// Waves are fractions of every process that takes part; processes
		// on the current version go first, stragglers with the last wave
		// (so that a rollback only ever moves finished waves back to the
		// current version).
		total := len(moving) + len(stragglers)
		fractions := sc.Plan.waves()
		start := 0
		for w, frac := range fractions[:len(fractions)-1] {
			end := min(int(math.Ceil(frac*float64(total))), len(moving))
			if end <= start {
				continue
			}
			wave := slices.Clone(moving[start:end])
			start = end
			steps = append(steps,
				Step{Kind: StepPrepare, Wave: w, Procs: wave, Undo: StepAbort},
				Step{Kind: StepPin, Wave: w, Procs: wave, Undo: StepUnpin},
				Step{Kind: StepGate, Wave: w})
		}
		// The last wave's steps exist even when empty: processes that join
		// while a gate observes (restarted) take part in it.
		last := append(slices.Clone(moving[start:]), stragglers...)
		w := len(fractions) - 1
		steps = append(steps,
			Step{Kind: StepPrepare, Wave: w, Procs: last, Undo: StepAbort},
			Step{Kind: StepCommit, Wave: w},
			Step{Kind: StepSwitch, Wave: w, Procs: last})
	}
	return steps
}

// byLevel groups process indexes by level, top-down.
func (sc *Schedule) byLevel(idx []int) [][]int {
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(sc.Procs[a].Level, sc.Procs[b].Level) })
	var out [][]int
	for i, x := range idx {
		if i == 0 || sc.Procs[x].Level != sc.Procs[idx[i-1]].Level {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], x)
	}
	return out
}

// String renders the schedule as the golden files show it: the changes,
// every process with its route, and the steps with their undo.
func (sc *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %v", sc.Plan.Mode)
	if sc.Plan.DryRun {
		b.WriteString(" (dry run)")
	}
	b.WriteString("\n")
	for _, c := range sc.Plan.Changes {
		fmt.Fprintf(&b, "change %s %s -> %s (%v)\n", c.Module, sc.From[c.Module].Name(), c.To.Name(), sc.Direction[c.Module])
	}
	for i, pl := range sc.Procs {
		fmt.Fprintf(&b, "proc %d %s@%s level=%d", i, pl.Module, pl.Version, pl.Level)
		switch {
		case pl.Unchanged:
			b.WriteString(" unchanged")
		case pl.Kill:
			b.WriteString(" straggler kill")
		default:
			if pl.Straggler {
				b.WriteString(" straggler")
			}
			if pl.Lazy {
				b.WriteString(" lazy")
			}
			b.WriteString(" route " + routeString(pl.Version, pl.Route))
		}
		b.WriteString("\n")
	}
	for _, st := range sc.Steps {
		b.WriteString(st.Kind.String())
		if st.Kind == StepStage || st.Kind == StepCommit {
			for _, c := range sc.Plan.Changes {
				fmt.Fprintf(&b, " %v", c.To)
			}
		}
		if sc.Plan.Mode == Rolling && st.Kind != StepStage {
			fmt.Fprintf(&b, " wave=%d", st.Wave)
		}
		if st.Level > 0 {
			fmt.Fprintf(&b, " level=%d", st.Level)
		}
		if st.Procs != nil {
			fmt.Fprintf(&b, " %v", st.Procs)
		}
		if st.Kind == StepAwait && sc.Deferred {
			b.WriteString(" (the tree's processes, listed after the commit)")
		}
		if st.Undo != 0 {
			fmt.Fprintf(&b, " (undo: %v)", st.Undo)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func routeString(from string, route []actor.Step) string {
	var b strings.Builder
	b.WriteString(from)
	for _, s := range route {
		if s.Down {
			b.WriteString(" down ")
		} else {
			b.WriteString(" up ")
		}
		b.WriteString(s.To.Name())
	}
	return b.String()
}

// errorsIsRefusal reports a planning refusal (as opposed to a failure
// while running).
func isRefusal(err error) bool {
	return errors.Is(err, ErrRefused) || errors.Is(err, ErrInvalidPlan)
}
