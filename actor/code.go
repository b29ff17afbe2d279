package actor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// module is a System's slot for one module: which version is current, and
// every version loaded so far with its activation count. The receive loop
// reads current with one atomic load per message.
type module struct {
	name    string
	current atomic.Pointer[release]

	mu       sync.Mutex
	loaded   map[*Version]*code // guarded by mu
	nextSeq  uint64             // guarded by mu
	previous *code              // guarded by mu: the version current before this one (OTP's "old")
}

// code is a version as loaded into one System.
type code struct {
	v   *Version
	mod *module
	// seq orders the module's versions by first load; a change to a lower
	// seq is a downgrade.
	seq uint64
	// active counts activations: processes whose state this version built.
	// A process holds one from Init (or the migration into this version)
	// until it migrates away or exits.
	active atomic.Int64
	// retired is set when the version is no longer current and its last
	// activation has ended: its release hook has run.
	retired  atomic.Bool
	onRetire func()          // guarded by mod.mu; from the latest Load of this version
	waiters  []chan struct{} // guarded by mod.mu; closed at retirement (Purge)
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
// soft purge. Its release hook runs once (a loader frees what it holds
// there, e.g. a plugin process).
func (s *System) maybeRetire(c *code) {
	mod := c.mod
	mod.mu.Lock()
	if c.retired.Load() || mod.current.Load().code == c {
		mod.mu.Unlock()
		return
	}
	c.retired.Store(true)
	if c.active.Load() != 0 { // an acquire raced in: not retired after all
		c.retired.Store(false)
		mod.mu.Unlock()
		return
	}
	if mod.previous == c {
		mod.previous = nil
	}
	hook := c.onRetire
	for _, w := range c.waiters {
		close(w)
	}
	c.waiters = nil
	mod.mu.Unlock()
	s.log.Info("version retired", zap.String("module", mod.name), zap.String("version", c.v.name))
	s.Emit(VersionRetired{Module: mod.name, Version: c.v.name})
	if hook != nil {
		s.runHook("release hook", hook, zap.String("module", mod.name), zap.String("version", c.v.name))
	}
}

// release is one Load: the version made current and the Extra passed to
// migrations into it.
type release struct {
	code  *code
	extra any
}

// LoadOption configures System.Load.
type LoadOption interface{ applyLoad(*loadOptions) }

type loadOptions struct {
	extra    any
	onRetire func()
	purge    PurgePolicy
}

type loadOptionFunc func(*loadOptions)

func (f loadOptionFunc) applyLoad(o *loadOptions) { f(o) }

// WithExtra passes extra to the migrations into the loaded version (OTP's
// Extra argument of code_change).
func WithExtra(extra any) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.extra = extra })
}

// OnRetire sets a function called once when the loaded version retires:
// it is no longer current and its last activation has ended (a soft
// purge). A loader frees what the version holds there (a plugin process,
// say). A panic in it is logged, not raised.
func OnRetire(f func()) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.onRetire = f })
}

// Load makes v the current version of its module, loading the module if it
// is new. It is atomic: every message dequeued after Load returns is handled
// by v; a process whose state an earlier version built migrates first (see
// the receive loop). Loading the current version again is a no-op. Loading a
// different Version with the name of one already loaded fails with
// ErrVersionConflict.
func (s *System) Load(v *Version, opts ...LoadOption) error {
	mod, c, o, err := s.stage(v, opts)
	if err != nil {
		return err
	}
	if old := mod.tooOldLocked(c); len(old) > 0 {
		mod.mu.Unlock()
		if o.purge != PurgeFirst {
			return fmt.Errorf("%w: loading %v would leave %v in use too", ErrNotPurged, v, old[0].v)
		}
		for _, oc := range old {
			if err := s.Purge(context.Background(), oc.v, true, 0); err != nil {
				return err
			}
		}
		return s.Load(v, opts...)
	}
	prev := mod.current.Load()
	if prev != nil && prev.code == c && prev.extra == o.extra {
		mod.mu.Unlock()
		return nil
	}
	if prev != nil && prev.code != c {
		mod.previous = prev.code
	}
	c.retired.Store(false) // current again, if it had retired
	mod.current.Store(&release{code: c, extra: o.extra})
	mod.mu.Unlock()
	if prev != nil && prev.code != c && prev.code.active.Load() == 0 {
		s.maybeRetire(prev.code)
	}

	from := ""
	if prev != nil {
		from = prev.code.v.name
	}
	s.log.Info("version loaded", zap.String("module", v.module), zap.String("version", v.name), zap.String("previous", from))
	s.emit(VersionLoaded{Module: v.module, Version: v.name, Previous: from})
	return nil
}

// stage validates v and registers it in its module, returning with the
// module's lock held (unless it fails).
func (s *System) stage(v *Version, opts []LoadOption) (*module, *code, loadOptions, error) {
	var o loadOptions
	if err := v.validate(); err != nil {
		return nil, nil, o, err
	}
	for _, opt := range opts {
		opt.applyLoad(&o)
	}
	mod := s.moduleFor(v.module, true)
	mod.mu.Lock()
	c, err := mod.stageLocked(v, o)
	if err != nil {
		mod.mu.Unlock()
		return nil, nil, o, err
	}
	return mod, c, o, nil
}

// stageLocked registers v in the module (once; its sequence number orders
// upgrades and downgrades) and records its release hook. mod.mu is held.
func (mod *module) stageLocked(v *Version, o loadOptions) (*code, error) {
	c := mod.loaded[v]
	if c == nil {
		for other := range mod.loaded {
			if other.name == v.name {
				return nil, fmt.Errorf("%w: %s", ErrVersionConflict, v)
			}
		}
		mod.nextSeq++
		c = &code{v: v, mod: mod, seq: mod.nextSeq}
		mod.loaded[v] = c
	}
	if o.onRetire != nil {
		c.onRetire = o.onRetire
	}
	return c, nil
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
		mod = &module{name: name, loaded: make(map[*Version]*code)}
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
	// Activations per loaded version: processes whose state it built.
	Activations map[string]int64
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
		m.mu.Lock()
		rel := m.current.Load()
		if rel == nil { // its first Load is still under way
			m.mu.Unlock()
			continue
		}
		info := ModuleInfo{Name: m.name, Current: rel.code.v.name, Activations: make(map[string]int64, len(m.loaded))}
		if m.previous != nil {
			info.Previous = m.previous.v.name
		}
		for v, c := range m.loaded {
			info.Activations[v.name] = c.active.Load()
		}
		m.mu.Unlock()
		out = append(out, info)
	}
	return out
}

// Activations returns how many processes hold an activation of a module's
// version (their state was built by it), or -1 if it was never loaded.
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

// migrate moves state built by from to the version to: CodeChange of to
// for an upgrade, Downgrade of from for a downgrade (OTP runs the down
// migration in the newer code). Migrations see plain states (for a typed
// version, its S). A missing migration keeps the state as it is. The result
// must fit to; a panic becomes a PanicError. On error the caller keeps the
// old state and version.
func migrate(from, to *code, state, extra any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = state, &MigrationError{Module: to.mod.name, From: from.v.name, To: to.v.name, Err: newPanicError(r)}
		}
	}()
	plain := from.v.plain(state)
	switch {
	case to.seq < from.seq && from.v.down != nil:
		plain, err = from.v.down(to.v.name, plain, extra)
	case to.seq > from.seq && to.v.up != nil:
		plain, err = to.v.up(from.v.name, plain, extra)
	}
	if err == nil {
		out, err = to.v.own(plain)
	}
	if err != nil {
		return state, &MigrationError{Module: to.mod.name, From: from.v.name, To: to.v.name, Err: err}
	}
	return out, nil
}

// IsDowngrade reports whether making to current would be a downgrade: to
// was loaded into this system before the module's current version. A
// version never loaded here is an upgrade.
func (s *System) IsDowngrade(to *Version) bool {
	mod := s.moduleFor(to.module, false)
	if mod == nil {
		return false
	}
	mod.mu.Lock()
	defer mod.mu.Unlock()
	c, cur := mod.loaded[to], mod.current.Load()
	return c != nil && cur != nil && c.seq < cur.code.seq
}
