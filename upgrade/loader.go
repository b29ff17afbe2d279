package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/graftrt/graft/actor"
)

// Loader makes a version of a module available to a system, wherever its
// code lives: compiled into the binary (Native) or in an executable built
// after the service started (package upgrade/plugin). What a loader returns
// is an ordinary *actor.Version, staged in sys: it takes part in plans like
// any other, and the receive loop runs it without knowing where it came
// from.
type Loader interface {
	Load(ctx context.Context, sys *actor.System, ref Ref) (*actor.Version, error)
}

// Ref names a version to load.
type Ref struct {
	Module, Version string
	// Path locates the version's code for loaders that read it from a
	// file (a plugin's executable); Native ignores it.
	Path string
	// Checksum is the hex SHA-256 of the file at Path. Loaders that run a
	// file refuse one without a checksum or whose bytes do not match.
	Checksum string
}

func (r Ref) String() string { return r.Module + "@" + r.Version }

// Validate checks that the reference names a module and a version.
func (r Ref) Validate() error {
	if r.Module == "" || r.Version == "" {
		return fmt.Errorf("%w: %q needs a module and a version", ErrInvalidRef, r.String())
	}
	return nil
}

// Errors of loading. Use errors.Is.
var (
	ErrInvalidRef     = errors.New("upgrade: invalid version reference")
	ErrUnknownVersion = errors.New("upgrade: unknown version")
)

// Native is a Loader of versions compiled into the binary: a catalogue the
// service fills at start (OTP's code path, where every version a release
// may move to is already on disk). The zero Native is empty and usable.
type Native struct {
	mu       sync.RWMutex
	versions map[string]*actor.Version // guarded by mu; by "module@version"
}

// NewNative returns a catalogue of versions.
func NewNative(versions ...*actor.Version) *Native {
	n := &Native{}
	for _, v := range versions {
		n.Add(v)
	}
	return n
}

// Add adds v to the catalogue, replacing a version of the same name.
func (n *Native) Add(v *actor.Version) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.versions == nil {
		n.versions = make(map[string]*actor.Version)
	}
	n.versions[v.String()] = v
}

// Load returns the catalogued version ref names, staged in sys. It fails
// with ErrUnknownVersion for a version not in the catalogue.
func (n *Native) Load(_ context.Context, sys *actor.System, ref Ref) (*actor.Version, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	n.mu.RLock()
	v := n.versions[ref.String()]
	n.mu.RUnlock()
	if v == nil {
		return nil, fmt.Errorf("%w: %v is not compiled in", ErrUnknownVersion, ref)
	}
	if err := sys.Stage(v); err != nil {
		return nil, err
	}
	return v, nil
}

// Composite is the Loader of a plan that mixes versions compiled into the
// binary and versions served from executables: a Ref with a Path goes to
// Files (a plugin.Loader, say), one without to Native. Either may be nil:
// a Ref for a missing one fails with ErrUnknownVersion.
type Composite struct {
	Native Loader
	Files  Loader
}

// Load loads ref through the loader its Path picks.
func (c Composite) Load(ctx context.Context, sys *actor.System, ref Ref) (*actor.Version, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	l, kind := c.Native, "compiled in"
	if ref.Path != "" {
		l, kind = c.Files, "loadable from a file"
	}
	if l == nil {
		return nil, fmt.Errorf("%w: %v: no version %s is known here", ErrUnknownVersion, ref, kind)
	}
	return l.Load(ctx, sys, ref)
}

// Events a Loader that runs versions in OS processes of their own (a
// plugin.Loader) reports on the system's bus, one pair per process: the
// metrics count plugin processes and their restarts with them.
type (
	// LoaderProcessStarted: a process serving Module@Version started.
	LoaderProcessStarted struct {
		Module, Version string
		OSPID           int
	}
	// LoaderProcessStopped: it stopped or crashed; Reason says why.
	LoaderProcessStopped struct {
		Module, Version string
		OSPID           int
		Reason          error
	}
)

// LoaderProcess is a version that a Loader serves from an OS process of
// its own, and that process.
type LoaderProcess struct {
	Module, Version string
	// OSPID is the process's PID, 0 while none runs (a crashed one not
	// yet restarted, or one stopped until the version's next use).
	OSPID int
}

// RegisterLoaderProcesses tells sys where to find the OS processes a
// Loader runs for it: LoaderProcesses calls list. A Loader that serves
// versions out of process (a plugin.Loader) registers once per system, so
// that tools which must find those processes — the chaos toolkit kills
// them, hangs them and checks that none outlives the system — need not
// know the loader's package. list is called without any lock of this
// package held, and must be quick.
//
// Following the LoaderProcessStarted and LoaderProcessStopped events alone
// would not do for such tools: they miss the processes started before
// they subscribed (a version loaded before a chaos run starts), and a
// process taken out of service is reported stopped only once it is gone,
// after its grace period.
func RegisterLoaderProcesses(sys *actor.System, list func() []LoaderProcess) {
	l := loaderProcessesOf(sys)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lists = append(l.lists, list)
}

// LoaderProcesses lists the versions served out of process in sys, with
// their OS processes, from every Loader registered with
// RegisterLoaderProcesses (none: an empty list), ordered by module,
// version and OS PID.
func LoaderProcesses(sys *actor.System) []LoaderProcess {
	l := loaderProcessesOf(sys)
	l.mu.Lock()
	lists := slices.Clone(l.lists)
	l.mu.Unlock()
	var out []LoaderProcess
	for _, list := range lists {
		out = append(out, list()...)
	}
	slices.SortFunc(out, func(a, b LoaderProcess) int {
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Version, b.Version), cmp.Compare(a.OSPID, b.OSPID))
	})
	return out
}

// loaderProcesses is a system's registered listers (an extension of the
// system: two systems never see each other's).
type loaderProcesses struct {
	mu    sync.Mutex
	lists []func() []LoaderProcess // guarded by mu
}

type loaderProcessesKey struct{}

func loaderProcessesOf(sys *actor.System) *loaderProcesses {
	return sys.Extension(loaderProcessesKey{}, func() any { return &loaderProcesses{} }).(*loaderProcesses)
}
