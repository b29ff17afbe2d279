package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin/metrics"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// DefaultAddr is where Start listens unless told otherwise, and where the
// graft command looks first.
const DefaultAddr = "127.0.0.1:8470"

// Options configures the admin API.
type Options struct {
	// Addr is the address Start listens on (default DefaultAddr; port 0
	// picks a free port). It must be a loopback address unless
	// AllowRemote is set.
	Addr        string
	AllowRemote bool
	// Token is the bearer token every request must carry. Empty: one is
	// generated (32 random bytes, hex).
	Token string
	// TokenFile is where Start writes the token, mode 0600 (default:
	// DefaultTokenFile(port)). Mount and New write no file unless it is
	// set.
	TokenFile string
	// Prefix is the path the API lives under: "" for Start's own
	// listener, "/graft" by default for Mount.
	Prefix string
	// Supervisors are the roots of the tree the API shows; upgrades apply
	// to the first one's subtree (as in OTP, a module's current version
	// is system-wide: processes outside it migrate at their next message).
	Supervisors []*supervisor.Handle
	// Versions are the compiled-in versions a plan may name (those of
	// loaded modules are staged at once, so that a plan's route may pass
	// through a version it does not name); Files loads
	// versions a plan names by path (a plugin.Loader). Loader, if set,
	// replaces both.
	Versions []*actor.Version
	Files    upgrade.Loader
	Loader   upgrade.Loader
	// Ready is the service's readiness check for /readyz (nil: ready once
	// the API serves). It runs with the request's context, bounded by
	// ReadyTimeout (default 2 s); a panic is a failed check.
	Ready        func(ctx context.Context) error
	ReadyTimeout time.Duration
	// MaxBody bounds a request body (default 1 MiB).
	MaxBody int64
	// Node names the node in the status (default: the host name).
	Node string
	// Registry is where the metrics collector is registered and what
	// /metrics serves (default: a new registry with Graft's collector and
	// the Go and process collectors).
	Registry *prometheus.Registry
	// Logger (default: the system's).
	Logger *zap.Logger
	// Handoff, if set, is the node's handoff (a *handoff.Node):
	// POST /api/v1/handoff hands the process over to a new build. Unset,
	// that endpoint answers 404.
	Handoff Handoff
}

// Server is the admin API of one system.
type Server struct {
	sys     *actor.System
	opts    Options
	log     *zap.Logger
	mux     *http.ServeMux
	loader  upgrade.Loader
	metrics *metrics.Collector
	hub     *hub
	ups     *upgrades
	started time.Time

	mu     sync.Mutex
	http   *http.Server // Start's own listener; nil for New and Mount
	served chan struct{}
	url    string
	file   string
	closed bool
}

// Errors of New, Mount and Start.
var (
	ErrNotLoopback = errors.New("admin: refusing to listen on a non-loopback address (set AllowRemote)")
	ErrNoSystem    = errors.New("admin: no system")
)

// New returns the admin API for sys without listening: serve its Handler
// yourself (paths under Options.Prefix). Close it when done.
func New(sys *actor.System, opts Options) (*Server, error) {
	if sys == nil {
		return nil, ErrNoSystem
	}
	if opts.Token == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("admin: generating a token: %w", err)
		}
		opts.Token = hex.EncodeToString(b[:])
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	if opts.Prefix != "" && !strings.HasPrefix(opts.Prefix, "/") {
		return nil, fmt.Errorf("admin: prefix %q must start with /", opts.Prefix)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.Node == "" {
		opts.Node, _ = os.Hostname()
	}
	for i, h := range opts.Supervisors {
		if h == nil {
			return nil, fmt.Errorf("admin: supervisor %d is nil", i)
		}
	}
	s := &Server{sys: sys, opts: opts, log: opts.Logger, started: time.Now()}
	if s.log == nil {
		s.log = sys.Logger()
	}
	s.log = s.log.Named("admin")
	// The compiled-in versions of loaded modules are staged (known, not
	// current), as OTP's code path has every version of a release on
	// disk: a plan to v3 from v1 then finds v2's step on the way.
	for _, v := range opts.Versions {
		if _, loaded := sys.Current(v.Module()); loaded && sys.Activations(v.Module(), v.Name()) < 0 {
			if err := sys.Stage(v); err != nil {
				return nil, fmt.Errorf("admin: staging %v: %w", v, err)
			}
		}
	}
	s.loader = opts.Loader
	if s.loader == nil {
		s.loader = upgrade.Composite{Native: upgrade.NewNative(opts.Versions...), Files: opts.Files}
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	s.metrics = metrics.New(sys)
	if err := reg.Register(s.metrics); err != nil {
		s.metrics.Close()
		return nil, fmt.Errorf("admin: registering metrics: %w", err)
	}
	s.opts.Registry = reg
	s.hub = newHub(sys)
	s.ups = newUpgrades(s)
	s.routes()
	if opts.TokenFile != "" {
		if err := writeToken(opts.TokenFile, opts.Token); err != nil {
			s.shutdown()
			return nil, err
		}
		s.file = opts.TokenFile
	}
	return s, nil
}

// Mount adds the admin API to mux under opts.Prefix (default "/graft"),
// on the service's own listener.
func Mount(mux *http.ServeMux, sys *actor.System, opts Options) (*Server, error) {
	if opts.Prefix == "" {
		opts.Prefix = "/graft"
	}
	s, err := New(sys, opts)
	if err != nil {
		return nil, err
	}
	mux.Handle(s.opts.Prefix+"/", s.mux)
	return s, nil
}

// Start serves the admin API on its own listener (opts.Addr, loopback),
// writes the token file, and serves until Close. Shut the system down
// after closing the server (or let sys.Shutdown close it: Start registers
// Close as a shutdown hook).
func Start(sys *actor.System, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: address %q: %w", opts.Addr, err)
	}
	if !opts.AllowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, opts.Addr)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listening: %w", err)
	}
	if opts.TokenFile == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		opts.TokenFile = DefaultTokenFile(port)
	}
	s, err := New(sys, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.url = "http://" + ln.Addr().String() + s.opts.Prefix
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel)))}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin API stopped serving", zap.Error(err))
		}
	}()
	sys.OnShutdown(func(ctx context.Context) { _ = s.Close(ctx) })
	s.log.Info("admin API listening", zap.String("url", s.url), zap.String("token_file", s.file))
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the API's handler (paths under Options.Prefix).
func (s *Server) Handler() http.Handler { return s.mux }

// URL is the API's base URL when Start serves it: "http://127.0.0.1:8470"
// plus the prefix.
func (s *Server) URL() string { return s.url }

// ViewURL is the live view's URL (Start) with the token in its fragment,
// which browsers never send to the server.
func (s *Server) ViewURL() string { return s.url + "/#token=" + s.opts.Token }

// Token returns the bearer token.
func (s *Server) Token() string { return s.opts.Token }

// TokenFile returns the path the token was written to ("" if none).
func (s *Server) TokenFile() string { return s.file }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.opts.Registry }

// Close stops the listener (Start), ends the event streams, stops
// following the system and removes the token file. Upgrades in progress
// run to their end. It is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var err error
	s.hub.close() // event streams end, so that Shutdown does not wait on them
	if s.http != nil {
		err = s.http.Shutdown(ctx)
		if err != nil {
			_ = s.http.Close()
		}
		<-s.served
	}
	s.shutdown()
	if s.file != "" {
		if rerr := os.Remove(s.file); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

func (s *Server) shutdown() {
	s.hub.close()
	s.metrics.Close()
	s.opts.Registry.Unregister(s.metrics)
}

// DefaultTokenFile is where Start writes the token of a server listening
// on port, and where the graft command reads it: graft-admin-PORT.token
// in $XDG_RUNTIME_DIR, or else in a graft-UID directory of the system's
// temporary directory (created 0700).
func DefaultTokenFile(port string) string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("graft-%d", os.Getuid()))
	}
	return filepath.Join(dir, "graft-admin-"+port+".token")
}

// writeToken writes the token readable by its owner only.
func writeToken(path, token string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("admin: token file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("admin: token file: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return fmt.Errorf("admin: token file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("admin: token file: %w", err)
	}
	return nil
}

// authorized compares the request's bearer token with the server's in
// constant time.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const scheme = "Bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(scheme):])), []byte(s.opts.Token)) == 1
}
