package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

// Errors of plugin versions. Loading errors come from Load; the others are
// exit reasons of the processes running a plugin version (and undeliverable
// reasons of the messages they had not handled). Use errors.Is.
var (
	// ErrChecksum: the executable's SHA-256 is not the one given.
	ErrChecksum = errors.New("plugin: checksum mismatch")
	// ErrHandshake: the executable is not a Graft plugin, speaks another
	// protocol, or serves another module or version than asked.
	ErrHandshake = errors.New("plugin: handshake refused")
	// ErrCrashed: the plugin process died (or stopped answering) during a
	// call; the call's messages were not handled.
	ErrCrashed = errors.New("plugin: process crashed")
	// ErrDeadline: a call took longer than the call timeout; the plugin
	// process is taken for hung and killed.
	ErrDeadline = errors.New("plugin: call deadline exceeded")
	// ErrBadResponse: the plugin answered something that makes no sense
	// (more messages handled than sent, a state in an unknown codec).
	ErrBadResponse = errors.New("plugin: bad response")
	// ErrUnavailable: the plugin process cannot be started now (backoff
	// after failures, or the system has stopped).
	ErrUnavailable = errors.New("plugin: unavailable")
	// ErrEncode: a value could not be encoded with the module's codec.
	ErrEncode = errors.New("plugin: cannot encode")
)

// Loader loads module versions from executables built with package sdk
// and runs each in its own OS process through hashicorp/go-plugin (gRPC).
// It implements upgrade.Loader. A Loader holds only settings; what it
// starts belongs to the System it loaded into, and no plugin process
// outlives that System's Shutdown.
type Loader struct{ o options }

type options struct {
	callTimeout  time.Duration
	startTimeout time.Duration
	stopTimeout  time.Duration
	maxBatch     int
	backoffBase  time.Duration
	backoffMax   time.Duration
	insecure     bool
	env          []string
	errors       map[string]map[string]error // by module, then code: see WithErrors
	types        map[string][]any            // by module: see WithTypes
}

// backoff is the wait before start attempt n+1 after n failures: none after
// the first (a crash is restarted at once), then doubling from the base up
// to the maximum.
func (o *options) backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := o.backoffBase << min(n-2, 30)
	if d <= 0 || d > o.backoffMax {
		return o.backoffMax
	}
	return d
}

// Option configures a Loader.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithCallTimeout bounds every call into a plugin (default 5 s). A call
// that takes longer fails with ErrDeadline and the plugin process, taken
// for hung, is killed. The deadline is wall-clock time (gRPC's), not the
// system's Clock.
func WithCallTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.callTimeout = d })
}

// WithStartTimeout bounds launching a plugin process up to its handshake
// (default 10 s).
func WithStartTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.startTimeout = d })
}

// WithStopTimeout bounds how long a plugin process is given to exit when it
// is stopped (its version retired, or the system shuts down) before it and
// its process group are killed (default 2 s). Shutdown's context cuts it
// short. A process that failed a call is killed at once.
func WithStopTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.stopTimeout = d })
}

// WithMaxBatch bounds how many queued messages a process sends to its
// plugin in one call (default 256).
func WithMaxBatch(n int) Option { return optionFunc(func(o *options) { o.maxBatch = n }) }

// WithBackoff sets the wait between restarts of a plugin process that keeps
// failing: none after the first failure, then base, doubling up to max
// (defaults 100 ms and 5 s), on the system's Clock.
func WithBackoff(base, max time.Duration) Option {
	return optionFunc(func(o *options) { o.backoffBase, o.backoffMax = base, max })
}

// WithEnv sets the environment of plugin processes ("KEY=value"). By
// default they get none of the host's: a plugin sees only what it is
// given.
func WithEnv(env ...string) Option {
	return optionFunc(func(o *options) { o.env = append([]string(nil), env...) })
}

// WithErrors registers the host's errors for the codes module's plugins
// give theirs (sdk.Module.Errors): an error a plugin of that module
// replies to a call with (*ReplyError) or stops a process with
// (*HandlerError) that carries one of these codes unwraps to the error
// registered here, so errors.Is(err, ErrInsufficient) holds on the host as
// it would for a compiled-in version. Pass the same table the plugin
// declares, from a package both import; a code the host did not register
// is still in the error's Code. Calls add up, one per module.
func WithErrors(module string, codes map[string]error) Option {
	return optionFunc(func(o *options) {
		if o.errors == nil {
			o.errors = make(map[string]map[string]error)
		}
		o.errors[module] = maps.Clone(codes)
	})
}

// WithoutMTLS turns off go-plugin's AutoMTLS, which by default gives each
// plugin process a fresh certificate pair so that only the host that
// started it can talk to it. Only for debugging.
func WithoutMTLS() Option { return optionFunc(func(o *options) { o.insecure = true }) }

// NewLoader returns a Loader.
func NewLoader(opts ...Option) *Loader {
	l := &Loader{o: options{
		callTimeout: 5 * time.Second, startTimeout: 10 * time.Second, stopTimeout: 2 * time.Second, maxBatch: 256,
		backoffBase: 100 * time.Millisecond, backoffMax: 5 * time.Second,
	}}
	for _, opt := range opts {
		opt.apply(&l.o)
	}
	l.o.maxBatch = max(l.o.maxBatch, 1)
	return l
}

// Load starts the executable at ref.Path after verifying its SHA-256
// against ref.Checksum, checks in the handshake that it serves ref.Module at
// ref.Version, and returns the version staged in sys, ready for a plan (or
// System.Load). The process is stopped when the version retires (it is no
// longer current and its last activation has ended) and when sys shuts
// down. Loading the same reference again returns the same version; the
// same module and version from another file or checksum fails.
//
// Nothing changes in sys when Load fails: a missing or mismatching
// checksum, an executable that is not a plugin, that crashes or lies in its
// handshake, or a version name already taken.
func (l *Loader) Load(ctx context.Context, sys *actor.System, ref upgrade.Ref) (*actor.Version, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	sum, err := hex.DecodeString(ref.Checksum)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("%w: %v: checksum must be a hex SHA-256, got %q", upgrade.ErrInvalidRef, ref, ref.Checksum)
	}
	if _, err := os.Stat(ref.Path); err != nil {
		return nil, fmt.Errorf("%w: %v: %w", upgrade.ErrInvalidRef, ref, err)
	}
	reg := registryOf(sys)
	p := &proc{ref: ref, sum: sum, o: &l.o, log: sys.Logger(), now: sys.Clock().Now, reg: reg, emit: sys.Emit}
	if v, err := reg.reserve(ctx, p); v != nil || err != nil {
		return v, err
	}
	// The process starts without the registry's lock: Shutdown meanwhile
	// stops it (p is listed) instead of waiting for the start.
	var v *actor.Version
	_, err = p.get(ctx)
	if err == nil {
		v = newVersion(p) // its behaviour stops the process when the version retires (see Retire)
		err = sys.Stage(v)
	}
	if err != nil {
		reg.drop(p)
		p.stop(context.Background(), "load failed", true)
		return nil, err
	}
	reg.loaded(p, v)
	return v, nil
}

// registry is a system's plugin versions that may have a process running:
// those Shutdown stops.
type registry struct {
	mu    sync.Mutex
	procs map[*proc]*actor.Version // guarded by mu; nil while Load starts it
	// loading holds, per proc being loaded, a channel closed when its Load
	// is over.
	loading map[*proc]chan struct{} // guarded by mu
	closed  bool                    // guarded by mu: the system has stopped
	// registered: the registry's processes are listed by
	// upgrade.LoaderProcesses.
	registered sync.Once
}

type registryKey struct{}

func registryOf(sys *actor.System) *registry {
	reg := sys.Extension(registryKey{}, func() any {
		reg := &registry{procs: make(map[*proc]*actor.Version), loading: make(map[*proc]chan struct{})}
		sys.OnShutdown(reg.close)
		return reg
	}).(*registry)
	// Not in Extension's create function, which runs under the system's
	// lock of its extensions: registering takes it too.
	reg.registered.Do(func() {
		upgrade.RegisterLoaderProcesses(sys, func() []upgrade.LoaderProcess {
			procs := Processes(sys)
			out := make([]upgrade.LoaderProcess, len(procs))
			for i, p := range procs {
				out[i] = upgrade.LoaderProcess{Module: p.Module, Version: p.Version, OSPID: p.OSPID}
			}
			return out
		})
	})
	return reg
}

// reserve lists p, a new proc for Load to start, unless a version of the
// same reference is loaded already: then it returns that version, after
// waiting for a Load of it under way. It fails when the system has
// stopped, or when the version is loaded from another file.
func (r *registry) reserve(ctx context.Context, p *proc) (*actor.Version, error) {
	ref := p.ref
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return nil, fmt.Errorf("%w: %v: the system has stopped", ErrUnavailable, ref)
		}
		var wait chan struct{}
		for o, v := range r.procs {
			switch {
			case o.ref.String() != ref.String():
				continue
			case o.ref != ref:
				return nil, fmt.Errorf("%w: %v is loaded from %s already", actor.ErrVersionConflict, ref, o.ref.Path)
			case v != nil:
				return v, nil
			}
			wait = r.loading[o]
		}
		if wait == nil {
			break
		}
		r.mu.Unlock()
		select {
		case <-wait:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			return nil, fmt.Errorf("%w: %v: waiting for another Load: %w", ErrUnavailable, ref, ctx.Err())
		}
	}
	p.listed.Store(true)
	r.procs[p] = nil
	r.loading[p] = make(chan struct{})
	return nil, nil
}

// loaded records the version Load made of p.
func (r *registry) loaded(p *proc, v *actor.Version) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.v = v
	r.procs[p] = v
	close(r.loading[p])
	delete(r.loading, p)
}

// drop forgets a proc whose Load failed.
func (r *registry) drop(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.procs, p)
	p.listed.Store(false)
	close(r.loading[p])
	delete(r.loading, p)
}

// list adds p back before it starts a process, unless the system has
// stopped. p.mu may be held: the registry never takes a proc's lock while
// it holds its own.
func (r *registry) list(p *proc) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.procs[p] = p.v
	p.listed.Store(true)
	return true
}

// unlist forgets a released version and stops its process.
func (r *registry) unlist(p *proc) {
	r.mu.Lock()
	delete(r.procs, p)
	p.listed.Store(false)
	r.mu.Unlock()
	p.stop(context.Background(), "version released", false)
}

// close stops every plugin process for good: the system has stopped. They
// stop concurrently, each given the stop timeout or until ctx ends, then
// killed (see proc.stop), so close returns soon after ctx ends.
func (r *registry) close(ctx context.Context) {
	r.mu.Lock()
	r.closed = true
	procs := make([]*proc, 0, len(r.procs))
	for p := range r.procs {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(ctx, "system stopped", true) })
	}
	wg.Wait()
}

// Process describes a plugin version's OS process.
type Process struct {
	Module, Version, Path string
	// OSPID is the process's PID, 0 while none runs (before its first use
	// after a retirement or a crash).
	OSPID int
}

// Processes lists the plugin versions loaded into sys and their OS
// processes, by module and version. upgrade.LoaderProcesses(sys) lists
// them too, for code that does not import this package (the chaos
// toolkit).
func Processes(sys *actor.System) []Process {
	reg := registryOf(sys)
	reg.mu.Lock()
	procs := make([]*proc, 0, len(reg.procs))
	for p := range reg.procs {
		procs = append(procs, p)
	}
	reg.mu.Unlock()
	out := make([]Process, 0, len(procs))
	for _, p := range procs {
		out = append(out, Process{Module: p.ref.Module, Version: p.ref.Version, Path: p.ref.Path, OSPID: p.osPID()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func codecOf(name string) (codec.Codec, error) {
	c, err := codec.ByName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return c, nil
}

// Checksum returns the hex SHA-256 of the file at path: what a Ref's
// Checksum must be for the executable there.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
