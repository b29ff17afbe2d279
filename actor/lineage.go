package actor

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Lineage is where a version stands among the versions of its module:
// Graft's appup. Versions are ordered by what they declare here, never by
// the order a system happened to load them.
//
// A step is one declared migration between two versions:
//
//   - up, from F to V, when V follows F or lists F in UpgradesFrom; it
//     runs V's CodeChange (a V without one keeps the state as it is);
//   - down, from V to T, when V has a Downgrade and T is what V follows or
//     is listed in DowngradesTo; it runs V's Downgrade, in the version being
//     left, as OTP's code_change({down, T}, ...) does.
//
// Moving a process between two versions chains steps (v1→v2→v3, or
// v3→v2→v1); Route finds the shortest chain among the versions a system
// knows. A move without a chain is refused before anything is touched.
type Lineage struct {
	// Follows names the version this one comes after; "" for a module's
	// first version.
	Follows string
	// UpgradesFrom lists further versions CodeChange migrates from,
	// besides Follows (a shortcut over several steps, say).
	UpgradesFrom []string
	// DowngradesTo lists further versions Downgrade returns to, besides
	// Follows.
	DowngradesTo []string
}

// HasLineage is implemented by untyped behaviours (NewVersion) that
// declare their lineage.
type HasLineage interface {
	Lineage() Lineage
}

// Step is one declared migration: Down runs From's Downgrade, otherwise
// To's CodeChange.
type Step struct {
	From, To *Version
	Down     bool
}

func (s Step) String() string {
	if s.Down {
		return s.From.name + " down to " + s.To.name
	}
	return s.From.name + " up to " + s.To.name
}

// Errors of lineage. Use errors.Is.
var (
	// ErrNoRoute: no chain of declared steps leads from one version to
	// another.
	ErrNoRoute = errors.New("actor: no declared migration between the versions")
	// ErrLineage: a version's lineage is malformed (a cycle, a version
	// that follows itself, or a step to a version of another module).
	ErrLineage = errors.New("actor: invalid lineage")
)

// Lineage returns what the version declares.
func (v *Version) Lineage() Lineage {
	return Lineage{Follows: v.follows, UpgradesFrom: slices.Clone(v.upFrom), DowngradesTo: slices.Clone(v.downTo)}
}

// stepsFrom reports whether v declares an up step from the version named
// from.
func (v *Version) upStepFrom(from string) bool {
	return from != "" && (v.follows == from || slices.Contains(v.upFrom, from))
}

// downStepTo reports whether v declares a down step to the version named
// to.
func (v *Version) downStepTo(to string) bool {
	return v.down != nil && to != "" && (v.follows == to || slices.Contains(v.downTo, to))
}

// Route returns the shortest chain of declared steps that moves a state
// built by from to version to, among the versions in known (from and to
// count as known). It is empty when from is to. Versions are told apart by
// name: known must hold at most one version of each name. ErrNoRoute names
// the missing step.
func Route(from, to *Version, known []*Version) ([]Step, error) {
	if from == to {
		return nil, nil
	}
	if from.module != to.module {
		return nil, fmt.Errorf("%w: %v and %v are versions of different modules", ErrNoRoute, from, to)
	}
	byName := versionsByName(from, to, known)
	// Breadth first, neighbours in name order: the fewest steps, and the
	// same route every time.
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	type hop struct {
		prev string
		step Step
	}
	seen := map[string]hop{from.name: {}}
	queue := []string{from.name}
	for len(queue) > 0 && seen[to.name].step.To == nil {
		cur := byName[queue[0]]
		queue = queue[1:]
		for _, n := range names {
			if _, ok := seen[n]; ok {
				continue
			}
			next := byName[n]
			switch {
			case next.upStepFrom(cur.name):
				seen[n] = hop{cur.name, Step{From: cur, To: next}}
			case cur.downStepTo(n):
				seen[n] = hop{cur.name, Step{From: cur, To: next, Down: true}}
			default:
				continue
			}
			queue = append(queue, n)
		}
	}
	if _, ok := seen[to.name]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoRoute, explainNoRoute(from, to, byName))
	}
	var route []Step
	for n := to.name; n != from.name; n = seen[n].prev {
		route = append(route, seen[n].step)
	}
	slices.Reverse(route)
	return route, nil
}

// Direction tells whether moving from one version to another goes up
// the lineage (to follows from, at any distance), down, or across
// (neither is an ancestor of the other).
type Direction uint8

const (
	SameVersion Direction = iota
	Upward
	Downward
	Across
)

func (d Direction) String() string {
	if int(d) < 4 {
		return [...]string{"same", "up", "down", "across"}[d]
	}
	return "direction(?)"
}

// DirectionOf tells how moving from from to to goes, by the Follows
// chains among known.
func DirectionOf(from, to *Version, known []*Version) Direction {
	if from == to {
		return SameVersion
	}
	byName := versionsByName(from, to, known)
	if slices.Contains(ancestors(to, byName), from.name) {
		return Upward
	}
	if slices.Contains(ancestors(from, byName), to.name) {
		return Downward
	}
	return Across
}

func versionsByName(from, to *Version, known []*Version) map[string]*Version {
	byName := make(map[string]*Version, len(known)+2)
	for _, v := range known {
		if v != nil && v.module == from.module {
			byName[v.name] = v
		}
	}
	byName[from.name], byName[to.name] = from, to
	return byName
}

// ancestors lists the names v follows, nearest first, as far as known
// versions go (the first unknown name ends the list, included).
func ancestors(v *Version, byName map[string]*Version) []string {
	var out []string
	for cur := v; cur != nil && cur.follows != "" && !slices.Contains(out, cur.follows); cur = byName[cur.follows] {
		out = append(out, cur.follows)
	}
	return out
}

// explainNoRoute names the step that is missing between from and to.
func explainNoRoute(from, to *Version, byName map[string]*Version) string {
	if up := ancestors(to, byName); slices.Contains(up, from.name) {
		// Every follows link is an up step: one of the versions between
		// is not known here.
		for _, n := range up {
			if byName[n] == nil {
				return fmt.Sprintf("%v follows %s, which is not loaded in this system: stage it to migrate through it", to, n)
			}
		}
	}
	if down := ancestors(from, byName); slices.Contains(down, to.name) {
		cur := from
		for _, n := range down {
			if byName[n] == nil {
				return fmt.Sprintf("the way down from %v passes %s, which is not loaded in this system", from, n)
			}
			if !cur.downStepTo(n) {
				if cur.down == nil {
					return fmt.Sprintf("downgrade from %v to %s: %s has no Downgrade", from, to.name, cur.name)
				}
				return fmt.Sprintf("downgrade from %v to %s: %s's Downgrade does not return to %s", from, to.name, cur.name, n)
			}
			if n == to.name {
				break
			}
			cur = byName[n]
		}
	}
	for _, v := range []*Version{from, to} {
		if up := ancestors(v, byName); len(up) > 0 && byName[up[len(up)-1]] == nil {
			return fmt.Sprintf("the lineage of %v passes %s, which is not loaded in this system: stage it to migrate through it", v, up[len(up)-1])
		}
	}
	describe := func(v *Version) string {
		if v.follows == "" {
			return v.name + " follows no version"
		}
		return v.name + " follows " + v.follows
	}
	return fmt.Sprintf("%v and %s are not in one lineage (%s; %s)", from, to.name, describe(from), describe(to))
}

// checkLineage checks what v declares against the versions of its module
// already known: no version follows itself, and the Follows chain has no
// cycle.
func checkLineage(v *Version, known []*Version) error {
	if v.follows == v.name || slices.Contains(v.upFrom, v.name) || slices.Contains(v.downTo, v.name) {
		return fmt.Errorf("%w: %v declares a step to itself", ErrLineage, v)
	}
	byName := map[string]*Version{v.name: v}
	for _, k := range known {
		if k.name != v.name {
			byName[k.name] = k
		}
	}
	// Walk the chain from every version: with v added, a cycle would
	// pass through v.
	for cur, n := byName[v.follows], 0; cur != nil; cur, n = byName[cur.follows], n+1 {
		if cur == v || n > len(byName) {
			return fmt.Errorf("%w: %v's Follows chain comes back to it", ErrLineage, v)
		}
	}
	return nil
}

// sortVersions orders versions by name, for stable output.
func sortVersions(vs []*Version) {
	slices.SortFunc(vs, func(a, b *Version) int { return cmp.Compare(a.name, b.name) })
}

// MigrateState moves a state built by from to version to along the route
// Route finds among known, running each step's migration as the runtime
// does, without a system or a process: for testing migrations offline.
// state and the result are plain states (for a typed version, its S). A
// panic in a migration is returned as a *MigrationError.
func MigrateState(from, to *Version, known []*Version, state, extra any) (any, error) {
	route, err := Route(from, to, known)
	if err != nil {
		return nil, err
	}
	own, err := from.own(state)
	if err != nil {
		return nil, err
	}
	out, err := migrate(from, to, route, own, extra)
	if err != nil {
		return nil, err
	}
	return to.plain(out), nil
}

// Steps lists every step declared among the versions in vs, in the order
// of vs (by the version each leaves, then the version it reaches).
func Steps(vs []*Version) []Step {
	var out []Step
	for _, a := range vs {
		for _, b := range vs {
			switch {
			case a == b || a.module != b.module:
			case b.upStepFrom(a.name):
				out = append(out, Step{From: a, To: b})
			case a.downStepTo(b.name):
				out = append(out, Step{From: a, To: b, Down: true})
			}
		}
	}
	return out
}

// Lenient reports whether the version decodes encoded states leniently
// (Funcs.Lenient).
func (v *Version) Lenient() bool { return v.lenient }
