package actor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// module is a System's slot for one module: which version is current, and
// the versions it still knows with their activation counts. The receive
// loop reads current with one atomic load per message.
type module struct {
	name    string
	sys     *System // the System that knows the module (its root)
	current atomic.Pointer[release]

	mu     sync.Mutex
	loaded map[*Version]*code // guarded by mu: current, previous, in use, staged
	// previous is the version current before this one (OTP's "old"); it
	// stays known after its last activation ends, for a downgrade.
	previous *code // guarded by mu
	// history names the versions that left the table, oldest first, at
	// most historyLen (for reports).
	history []string // guarded by mu
}

// historyLen bounds module.history.
const historyLen = 16

// code is a version as known to one System.
type code struct {
	v   *Version
	mod *module
	// sys is the System that knows the version, mod's: that of the
	// processes it runs (see process.sys).
	sys *System
	// What precedes is read at every message, what follows written at
	// every spawn and exit: apart, on two cache lines.
	_ [64]byte
	// active counts activations: processes whose state this version built.
	// A process holds one from Init (or the migration into this version)
	// until it migrates away or exits.
	active atomic.Int64
	// leaving counts the processes holding an activation that are prepared
	// to leave it at the next commit (a pending code change, or a kill,
	// whose Prepare answered in time; a late one is aborted): the purge
	// check of that commit does not count them as staying.
	leaving atomic.Int64
	// holds keeps the version from retiring while a plan needs it (see
	// System.Hold): staged for a rolling upgrade whose pinned processes
	// all crashed, it must still be there for the next wave.
	holds atomic.Int64
	// retired is set when the version is no longer current and its last
	// activation has ended: its retire hook has run.
	retired atomic.Bool
	// wasCurrent: it has been current; once retired it leaves the table
	// (unless it is the previous version). A version only ever staged
	// stays staged.
	wasCurrent bool            // guarded by mod.mu
	onRetire   func()          // guarded by mod.mu; from the latest Load or Stage of this version
	onRelease  func()          // guarded by mod.mu
	waiters    []chan struct{} // guarded by mod.mu; closed at retirement (Purge)
}

// acquire takes an activation, unless the version has retired (a Load
// moved away from it and its last activation ended meanwhile): then it
// reports false and the caller must use the current version instead.
// Together with maybeRetire, which publishes retired before it looks at
// the count, this never leaves a process on a retired version (both sides
// use sequentially consistent atomics: at least one sees the other).
func (c *code) acquire(s *System) bool {
	c.active.Add(1)
	if c.retired.Load() {
		c.drop(s)
		return false
	}
	return true
}

// drop ends an activation; the last one of a version that is not current
// retires it.
func (c *code) drop(s *System) {
	if c.active.Add(-1) == 0 {
		s.maybeRetire(c)
	}
}

// maybeRetire retires c if it is not current and has no activation: the
// soft purge. Its retire hook runs once (a loader frees what it holds
// there, e.g. a plugin process). Then the versions no longer needed leave
// the table (see sweepLocked).
func (s *System) maybeRetire(c *code) {
	mod := c.mod
	mod.mu.Lock()
	if cur := mod.current.Load(); c.retired.Load() || (cur != nil && cur.code == c) || c.holds.Load() > 0 || mod.loaded[c.v] != c {
		mod.mu.Unlock()
		return
	}
	c.retired.Store(true)
	if c.active.Load() != 0 { // an acquire raced in: not retired after all
		c.retired.Store(false)
		mod.mu.Unlock()
		return
	}
	hooks := []hook{{c, c.onRetire}, {c, c.v.retire}}
	for _, w := range c.waiters {
		close(w)
	}
	c.waiters = nil
	hooks = append(hooks, mod.sweepLocked()...)
	mod.mu.Unlock()
	s.log.Info("version retired", zap.String("module", mod.name), zap.String("version", c.v.name))
	s.Emit(VersionRetired{Module: mod.name, Version: c.v.name})
	s.runVersionHooks(hooks)
}

// sweepLocked removes from the table the versions no longer needed:
// retired (not current, no activation), once current, not the previous
// version, and on no route from a version still in use to the current one
// (a process left behind by a lazy upgrade migrates through them at its
// next message). It returns their release hooks. mod.mu is held.
func (mod *module) sweepLocked() []hook {
	cur := mod.current.Load()
	if cur == nil {
		return nil
	}
	needed := map[*Version]bool{}
	for _, o := range mod.loaded {
		if o == cur.code || o.active.Load() == 0 {
			continue
		}
		steps, _ := cur.routeFromLocked(o)
		for _, st := range steps {
			needed[st.From], needed[st.To] = true, true
		}
	}
	var out []hook
	for v, c := range mod.loaded {
		if c.retired.Load() && c.wasCurrent && c != mod.previous && c != cur.code && !needed[v] {
			out = append(out, hook{c, mod.releaseLocked(c)})
		}
	}
	return out
}

// releaseLocked removes c from the table and returns its release hook.
// mod.mu is held; c has no activation and is not current.
func (mod *module) releaseLocked(c *code) func() {
	if mod.loaded[c.v] != c {
		return nil
	}
	delete(mod.loaded, c.v)
	if mod.previous == c {
		mod.previous = nil
	}
	if c.wasCurrent { // a version staged and dropped unused never ran: no history
		mod.history = append(mod.history, c.v.name)
		if len(mod.history) > historyLen {
			mod.history = slices.Delete(mod.history, 0, len(mod.history)-historyLen)
		}
	}
	onRelease, release := c.onRelease, c.v.release
	switch {
	case onRelease == nil:
		return release
	case release == nil:
		return onRelease
	}
	return func() {
		defer release()
		onRelease()
	}
}

// hook is a version's retire or release hook, to run without the lock.
type hook struct {
	c *code
	f func()
}

func (s *System) runVersionHooks(hooks []hook) {
	for _, h := range hooks {
		if h.f != nil {
			s.runHook("version hook", h.f, zap.String("module", h.c.mod.name), zap.String("version", h.c.v.name))
		}
	}
}

// release is one Load: the version made current, the Extra passed to
// migrations into it, and the routes to it from the versions known when
// it was made current.
type release struct {
	code   *code
	extra  any
	routes map[*code]route // immutable once published
}

type route struct {
	steps []Step
	err   error
}

// routeFrom returns the declared steps from c's version to the release's.
func (r *release) routeFrom(c *code) ([]Step, error) {
	if rt, ok := r.routes[c]; ok {
		return rt.steps, rt.err
	}
	// A version staged after the release was made: computed each time
	// (rare: a process pinned to it by a rolling upgrade).
	c.mod.mu.Lock()
	defer c.mod.mu.Unlock()
	return r.routeFromLocked(c)
}

// routeFromLocked is routeFrom with mod.mu held.
func (r *release) routeFromLocked(c *code) ([]Step, error) {
	if rt, ok := r.routes[c]; ok {
		return rt.steps, rt.err
	}
	return Route(c.v, r.code.v, c.mod.versionsLocked())
}

// versionsLocked lists the known versions by name. mod.mu is held.
func (mod *module) versionsLocked() []*Version {
	vs := make([]*Version, 0, len(mod.loaded))
	for v := range mod.loaded {
		vs = append(vs, v)
	}
	sortVersions(vs)
	return vs
}

// LoadOption configures System.Load, LoadAll and Stage.
type LoadOption interface{ applyLoad(*loadOptions) }

type loadOptions struct {
	extra     any
	onRetire  func()
	onRelease func()
	purge     PurgePolicy
}

type loadOptionFunc func(*loadOptions)

func (f loadOptionFunc) applyLoad(o *loadOptions) { f(o) }

// WithExtra passes extra to the migrations into the loaded version (OTP's
// Extra argument of code_change).
func WithExtra(extra any) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.extra = extra })
}

// OnRetire sets a function called once each time the version retires: it
// is no longer current and its last activation has ended (a soft purge).
// A loader frees what the version holds there (a plugin process, say),
// ready to take it again if the version is made current again. A panic in
// it is logged, not raised.
func OnRetire(f func()) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.onRetire = f })
}

// OnRelease sets a function called once when the version leaves the
// system's module table: retired and not the previous version, or staged
// and never made current (see System.Unstage). A loader frees what it
// holds for good there. A panic in it is logged, not raised.
func OnRelease(f func()) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.onRelease = f })
}

// Release names a version to make current with LoadAll, and the Extra its
// migrations get. If Replaces is set, the module's current version must
// still be it, or LoadAll fails with ErrChanged.
type Release struct {
	Version  *Version
	Extra    any
	Replaces *Version
}

// ErrChanged is returned by LoadAll when a module's current version is no
// longer the one a Release replaces.
var ErrChanged = errors.New("actor: the current version changed meanwhile")

// Load makes v the current version of its module, loading the module if it
// is new. It is LoadAll with one release.
func (s *System) Load(v *Version, opts ...LoadOption) error {
	var o loadOptions
	for _, opt := range opts {
		opt.applyLoad(&o)
	}
	return s.LoadAll([]Release{{Version: v, Extra: o.extra}}, opts...)
}

// LoadAll makes the versions current, each in its module, all or none. It
// checks every module before it changes any: the version is valid and its
// lineage sound; every version still in use (holding activations of
// processes that are not prepared to leave it) has a route of declared
// steps to the new one; at most one such version stays in use besides the
// new one (OTP keeps two: current and old; see PurgePolicy); a Release's
// Replaces is still current. Then every module switches.
//
// Each switch is atomic: every message dequeued after LoadAll returns is
// handled by the new version; a process whose state an older version built
// migrates first along the route (see the receive loop). Loading the
// current version again is a no-op. Loading a different Version with the
// name of one already loaded fails with ErrVersionConflict.
func (s *System) LoadAll(rels []Release, opts ...LoadOption) error {
	var o loadOptions
	for _, opt := range opts {
		opt.applyLoad(&o)
	}
	mods, err := s.lockModules(rels)
	if err != nil {
		return err
	}
	type change struct {
		mod  *module
		c    *code
		prev *release
		rel  Release
	}
	changes := make([]change, 0, len(rels))
	var purge []*code
	var created []*code // staged by this call: dropped again if it fails
	fail := func(err error) error {
		for _, c := range created {
			delete(c.mod.loaded, c.v)
		}
		unlockModules(mods)
		return err
	}
	for _, r := range rels {
		mod := s.moduleFor(r.Version.module, false)
		c, isNew, err := mod.stageLocked(r.Version, o)
		if err != nil {
			return fail(err)
		}
		if isNew {
			created = append(created, c)
		}
		prev := mod.current.Load()
		changes = append(changes, change{mod, c, prev, r})
		if r.Replaces != nil && (prev == nil || prev.code.v != r.Replaces) {
			return fail(fmt.Errorf("%w: %s is no longer %v", ErrChanged, mod.name, r.Replaces))
		}
		staying, err := mod.checkRoutesLocked(c)
		if err != nil {
			return fail(err)
		}
		if too := tooOld(staying, prev); len(too) > 0 {
			if o.purge != PurgeFirst {
				return fail(fmt.Errorf("%w: making %v current would leave %s in use too", ErrNotPurged, r.Version, names(staying)))
			}
			purge = append(purge, too...)
		}
	}
	if len(purge) > 0 {
		// Brutal purge first, without the locks (the killed processes take
		// them as they exit), then the whole check again.
		unlockModules(mods)
		for _, c := range purge {
			if err := s.Purge(context.Background(), c.v, true, 0); err != nil {
				return err
			}
		}
		return s.LoadAll(rels, opts...)
	}
	var retire []*code // outgoing current versions nobody runs
	var hooks []hook
	for _, ch := range changes {
		if ch.prev != nil && ch.prev.code == ch.c && ch.prev.extra == ch.rel.Extra {
			continue
		}
		mod := ch.mod
		if ch.prev != nil && ch.prev.code != ch.c {
			mod.previous = ch.prev.code
			if ch.prev.code.active.Load() == 0 {
				retire = append(retire, ch.prev.code)
			}
		}
		ch.c.retired.Store(false) // current again, if it had retired
		ch.c.wasCurrent = true
		mod.current.Store(&release{code: ch.c, extra: ch.rel.Extra, routes: mod.routesLocked(ch.c)})
		hooks = append(hooks, mod.sweepLocked()...) // the old previous version, say
	}
	unlockModules(mods)
	s.runVersionHooks(hooks)
	for _, c := range retire {
		s.maybeRetire(c)
	}
	for _, ch := range changes {
		from := ""
		if ch.prev != nil {
			if ch.prev.code == ch.c && ch.prev.extra == ch.rel.Extra {
				continue
			}
			from = ch.prev.code.v.name
		}
		s.log.Info("version loaded", zap.String("module", ch.mod.name), zap.String("version", ch.c.v.name), zap.String("previous", from))
		s.emit(VersionLoaded{Module: ch.mod.name, Version: ch.c.v.name, Previous: from})
	}
	return nil
}

// lockModules validates the releases and locks their modules (created if
// new) in name order, so that two LoadAll calls never deadlock.
func (s *System) lockModules(rels []Release) ([]*module, error) {
	if len(rels) == 0 {
		return nil, fmt.Errorf("%w: nothing to load", ErrInvalidVersion)
	}
	seen := map[string]bool{}
	mods := make([]*module, 0, len(rels))
	for _, r := range rels {
		if err := r.Version.validate(); err != nil {
			return nil, err
		}
		if seen[r.Version.module] {
			return nil, fmt.Errorf("%w: module %s twice in one load", ErrInvalidVersion, r.Version.module)
		}
		seen[r.Version.module] = true
		mods = append(mods, s.moduleFor(r.Version.module, true))
	}
	slices.SortFunc(mods, func(a, b *module) int { return cmp.Compare(a.name, b.name) })
	for _, m := range mods {
		m.mu.Lock()
	}
	return mods, nil
}

func unlockModules(mods []*module) {
	for _, m := range mods {
		m.mu.Unlock()
	}
}

// checkRoutesLocked lists the versions that stay in use if c is made
// current (their processes are not all prepared to leave them), and
// checks that each has a route to c. mod.mu is held.
func (mod *module) checkRoutesLocked(c *code) ([]*code, error) {
	var staying []*code
	known := mod.versionsLocked()
	for _, o := range mod.loaded {
		if o == c || o.active.Load()-o.leaving.Load() <= 0 {
			continue
		}
		staying = append(staying, o)
		if _, err := Route(o.v, c.v, known); err != nil {
			return nil, fmt.Errorf("%v is in use (%d processes): %w", o.v, o.active.Load(), err)
		}
	}
	slices.SortFunc(staying, func(a, b *code) int { return cmp.Compare(a.v.name, b.v.name) })
	return staying, nil
}

// routesLocked computes the routes to c from every known version.
func (mod *module) routesLocked(c *code) map[*code]route {
	known := mod.versionsLocked()
	out := make(map[*code]route, len(mod.loaded))
	for _, o := range mod.loaded {
		if o != c {
			steps, err := Route(o.v, c.v, known)
			out[o] = route{steps, err}
		}
	}
	return out
}

// tooOld returns the versions beyond the one that may stay in use besides
// the new current one: the outgoing current version if it stays in use,
// else the one with the most activations.
func tooOld(staying []*code, prev *release) []*code {
	if len(staying) <= 1 {
		return nil
	}
	keep := staying[0]
	for _, c := range staying {
		if prev != nil && c == prev.code {
			keep = c
			break
		}
		if c.active.Load() > keep.active.Load() {
			keep = c
		}
	}
	return slices.DeleteFunc(slices.Clone(staying), func(c *code) bool { return c == keep })
}

func names(cs []*code) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s (%d processes)", c.v.name, c.active.Load()-c.leaving.Load())
	}
	return fmt.Sprint(out)
}

// Stage registers v in its module without making it current, so that a
// code-change request can prepare processes for it before a commit
// (LoadAll) makes it current. Staging a known version again only updates
// its hooks.
func (s *System) Stage(v *Version, opts ...LoadOption) error {
	if err := v.validate(); err != nil {
		return err
	}
	var o loadOptions
	for _, opt := range opts {
		opt.applyLoad(&o)
	}
	mod := s.moduleFor(v.module, true)
	mod.mu.Lock()
	defer mod.mu.Unlock()
	_, _, err := mod.stageLocked(v, o)
	return err
}

// Unstage removes a staged version that never became current and has no
// activation from the table (its release hook runs), so that what a
// loader holds for it is freed. It reports whether it did: a version that
// is current, previous, in use or held (Hold: another plan runs with it)
// stays. A plan that does not commit
// unstages the versions it named.
func (s *System) Unstage(v *Version) bool {
	mod := s.moduleFor(v.module, false)
	if mod == nil {
		return false
	}
	mod.mu.Lock()
	c := mod.loaded[v]
	if c == nil || c == mod.previous || c.active.Load() != 0 || c.holds.Load() > 0 ||
		(mod.current.Load() != nil && mod.current.Load().code == c) {
		mod.mu.Unlock()
		return false
	}
	h := hook{c, mod.releaseLocked(c)}
	mod.mu.Unlock()
	s.log.Info("version unstaged", zap.String("module", mod.name), zap.String("version", v.name))
	s.runVersionHooks([]hook{h})
	return true
}

// Hold stages v (see Stage) and keeps it from retiring until release is
// called, even while no process holds an activation of it: an upgrade
// holds the versions of its plan while it runs. When the last hold is
// released, a version that is not current and not in use retires (its
// retire hook runs: a loader stops what it runs for it, ready to start it
// again on use).
func (s *System) Hold(v *Version) (release func(), err error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	// Staged and held in one hold of the module's lock: an Unstage in
	// between would take the version out of the table again.
	mod := s.moduleFor(v.module, true)
	mod.mu.Lock()
	c, _, err := mod.stageLocked(v, loadOptions{})
	if err != nil {
		mod.mu.Unlock()
		return nil, err
	}
	c.holds.Add(1)
	c.retired.Store(false) // held again after it retired (never current)
	mod.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			if c.holds.Add(-1) == 0 && c.active.Load() == 0 {
				s.maybeRetire(c)
			}
		})
	}, nil
}

// stageLocked registers v in the module (once) after checking its name
// and lineage, and records its hooks; isNew reports a version the module
// did not know. mod.mu is held.
func (mod *module) stageLocked(v *Version, o loadOptions) (c *code, isNew bool, err error) {
	c = mod.loaded[v]
	if c != nil && !c.wasCurrent && c.active.Load() == 0 {
		c.retired.Store(false) // staged again after it retired unused
	}
	if c == nil {
		for other := range mod.loaded {
			if other.name == v.name {
				return nil, false, fmt.Errorf("%w: %s", ErrVersionConflict, v)
			}
		}
		if err := checkLineage(v, mod.versionsLocked()); err != nil {
			return nil, false, err
		}
		c, isNew = &code{v: v, mod: mod, sys: mod.sys}, true
		mod.loaded[v] = c
	}
	if o.onRetire != nil {
		c.onRetire = o.onRetire
	}
	if o.onRelease != nil {
		c.onRelease = o.onRelease
	}
	return c, isNew, nil
}

// moduleFor returns the slot of a module, creating it when create is set.
func (s *System) moduleFor(name string, create bool) *module {
	s.modMu.RLock()
	mod := s.mods[name]
	s.modMu.RUnlock()
	if mod != nil || !create {
		return mod
	}
	s.modMu.Lock()
	defer s.modMu.Unlock()
	if mod = s.mods[name]; mod == nil {
		mod = &module{name: name, sys: s.root, loaded: make(map[*Version]*code)}
		s.mods[name] = mod
	}
	return mod
}

// Current returns the current version of a module.
func (s *System) Current(module string) (*Version, bool) {
	mod := s.moduleFor(module, false)
	if mod == nil {
		return nil, false
	}
	rel := mod.current.Load()
	if rel == nil { // its first Load is still under way
		return nil, false
	}
	return rel.code.v, true
}

// ModuleInfo describes a loaded module.
type ModuleInfo struct {
	Name     string
	Current  string
	Previous string // OTP's "old" version, "" if none
	// Versions the system knows: current, previous, in use and staged,
	// by name, with their lineage.
	Versions []*Version
	// Activations per known version: processes whose state it built.
	Activations map[string]int64
	// Retired names recent versions that were current once and left the
	// table, oldest first (a version staged and unstaged unused is not
	// listed).
	Retired []string
}

// Modules describes every loaded module, sorted by name.
func (s *System) Modules() []ModuleInfo {
	s.modMu.RLock()
	mods := make([]*module, 0, len(s.mods))
	for _, m := range s.mods {
		mods = append(mods, m)
	}
	s.modMu.RUnlock()
	slices.SortFunc(mods, func(a, b *module) int { return cmp.Compare(a.name, b.name) })
	out := make([]ModuleInfo, 0, len(mods))
	for _, m := range mods {
		if info, ok := m.info(); ok {
			out = append(out, info)
		}
	}
	return out
}

// Module describes one loaded module.
func (s *System) Module(name string) (ModuleInfo, bool) {
	mod := s.moduleFor(name, false)
	if mod == nil {
		return ModuleInfo{}, false
	}
	return mod.info()
}

func (m *module) info() (ModuleInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rel := m.current.Load()
	if rel == nil { // its first Load is still under way
		return ModuleInfo{}, false
	}
	info := ModuleInfo{Name: m.name, Current: rel.code.v.name, Versions: m.versionsLocked(),
		Activations: make(map[string]int64, len(m.loaded)), Retired: slices.Clone(m.history)}
	if m.previous != nil {
		info.Previous = m.previous.v.name
	}
	for v, c := range m.loaded {
		info.Activations[v.name] = c.active.Load()
	}
	return info, true
}

// Activations returns how many processes hold an activation of a module's
// version (their state was built by it), or -1 if the system does not
// know it (never loaded, or released).
func (s *System) Activations(module, version string) int64 {
	mod := s.moduleFor(module, false)
	if mod == nil {
		return -1
	}
	mod.mu.Lock()
	defer mod.mu.Unlock()
	for v, c := range mod.loaded {
		if v.name == version {
			return c.active.Load()
		}
	}
	return -1
}

// migrate moves state built by from to the version to along route: for
// each step, the CodeChange of the step's target (up) or the Downgrade of
// the version being left (down; OTP runs the down migration in the newer
// code). Migrations see plain states (for a typed version, its S); a step
// into a version without CodeChange keeps the state as it is. The result
// must fit to; a panic becomes a PanicError. On error the caller keeps the
// old state and version.
func migrate(from, to *Version, route []Step, state, extra any) (out any, err error) {
	step := Step{From: from, To: to}
	defer func() {
		if r := recover(); r != nil {
			out, err = state, &MigrationError{Module: to.module, From: from.name, To: to.name, Step: step.String(), Err: newPanicError(r)}
		}
	}()
	plain := from.plain(state)
	for _, step = range route {
		switch {
		case step.Down:
			plain, err = step.From.down(step.To.name, step.From.decodable(plain), extra)
		case step.To.up != nil:
			plain, err = step.To.up(step.From.name, step.To.decodable(plain), extra)
		}
		if err != nil {
			return state, &MigrationError{Module: to.module, From: from.name, To: to.name, Step: step.String(), Err: SafeError(err)}
		}
	}
	if out, err = to.own(plain); err != nil {
		return state, &MigrationError{Module: to.module, From: from.name, To: to.name, Err: err}
	}
	return out, nil
}
