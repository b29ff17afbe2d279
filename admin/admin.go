package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// DefaultAddr is where Start listens unless told otherwise, and where the
// graft command looks first.
const DefaultAddr = "127.0.0.1:8470"

// Options configures the admin API.
type Options struct {
	// Addr is the address Start listens on (default DefaultAddr; ":0"
	// picks a free port). It must be a loopback address unless
	// AllowRemote is set.
	Addr        string
	AllowRemote bool
	// Token is the bearer token every request must carry. Empty: Start and
	// New generate one (32 random bytes, hex).
	Token string
	// TokenFile is where Start writes the token, mode 0600 (default:
	// DefaultTokenFile(port)). Mount and New write no file.
	TokenFile string
	// Prefix is the path the API lives under: "" for Start's own
	// listener, "/graft" by default for Mount.
	Prefix string
	// Supervisors are the roots of the tree the API shows and upgrades.
	Supervisors []*supervisor.Handle
	// Versions are the compiled-in versions a plan may name; Files loads
	// versions a plan names by path (a plugin.Loader). Loader, if set,
	// replaces both.
	Versions []*actor.Version
	Files    upgrade.Loader
	Loader   upgrade.Loader
	// Ready is the service's readiness check for /readyz (nil: ready once
	// the API serves). It is bounded by the request's context.
	Ready func(ctx context.Context) error
	// MaxBody bounds a request body (default 1 MiB).
	MaxBody int64
	// Node names the node in /api/v1/status (default: the host name).
	Node string
	// Logger (default: the system's).
	Logger *zap.Logger
}

// Server is a running admin API.
type Server struct {
	sys  *actor.System
	opts Options
	mux  *http.ServeMux
	http *http.Server // Start's own listener; nil for New and Mount
	url  string
	file string
}

// ErrNotLoopback is returned by Start for an address that is not a
// loopback address while Options.AllowRemote is false.
var ErrNotLoopback = errors.New("admin: refusing to listen on a non-loopback address (set AllowRemote)")

// New returns the admin API for sys without listening: serve its
// Handler yourself.
func New(sys *actor.System, opts Options) (*Server, error) { panic("admin: not implemented") }

// Mount adds the admin API to mux under opts.Prefix (default "/graft").
func Mount(mux *http.ServeMux, sys *actor.System, opts Options) (*Server, error) {
	panic("admin: not implemented")
}

// Start serves the admin API on its own listener (opts.Addr), writes the
// token file, and serves until Close or until sys shuts down.
func Start(sys *actor.System, opts Options) (*Server, error) { panic("admin: not implemented") }

// Handler returns the API's handler (paths under Options.Prefix).
func (s *Server) Handler() http.Handler { return s.mux }

// URL is the API's base URL (Start only): "http://127.0.0.1:8470" plus
// the prefix.
func (s *Server) URL() string { return s.url }

// ViewURL is the live view's URL with the token in its fragment (the
// fragment never leaves the browser).
func (s *Server) ViewURL() string { return s.url + "/#token=" + s.opts.Token }

// Token returns the bearer token.
func (s *Server) Token() string { return s.opts.Token }

// TokenFile returns the path Start wrote the token to.
func (s *Server) TokenFile() string { return s.file }

// Close stops the listener (Start), ends event streams and removes the
// token file. Upgrades in progress run to their end.
func (s *Server) Close(ctx context.Context) error { panic("admin: not implemented") }

// DefaultTokenFile is where Start writes the token of a server listening
// on port, and where the graft command reads it.
func DefaultTokenFile(port string) string { panic("admin: not implemented") }

var _ = time.Second
