package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// requestTimeout bounds what a request asks of processes (Info, Inspect,
// a supervisor's children).
const requestTimeout = 5 * time.Second

type route struct {
	method string
	h      http.HandlerFunc
}

// handle registers pattern (below the prefix) for routes, each
// authenticated; another method gets 405.
func (s *Server) handle(pattern string, routes ...route) {
	s.mux.HandleFunc(s.opts.Prefix+pattern, func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="graft"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		var allow []string
		for _, rt := range routes {
			if r.Method == rt.method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
				rt.h(w, r)
				return
			}
			allow = append(allow, rt.method)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here (allowed: %s)", r.Method, strings.Join(allow, ", ")))
	})
}

// Route is one method of an endpoint added with Server.Handle.
type Route struct {
	Method  string // "GET", "POST", ...
	Handler http.Handler
}

// Handle adds an endpoint to the API, for packages that extend it (package
// cluster/clusteradmin adds the cluster's): pattern is a path below the
// server's prefix, as http.ServeMux reads it but without a method or host
// ("/api/v1/cluster/nodes"); each route serves its method (a GET route
// serves HEAD too), behind the same bearer token as every endpoint, and
// any other method gets 405 with Allow. It may be called while the server
// serves. A pattern that is malformed or registered already, or a route
// without a method or handler, is an error and adds nothing.
func (s *Server) Handle(pattern string, routes ...Route) (err error) {
	if !strings.HasPrefix(pattern, "/") || strings.ContainsAny(pattern, " \t") {
		return fmt.Errorf("admin: endpoint %q: want a path starting with /", pattern)
	}
	if len(routes) == 0 {
		return fmt.Errorf("admin: endpoint %q: no routes", pattern)
	}
	rs := make([]route, 0, len(routes))
	for _, rt := range routes {
		if rt.Method == "" || rt.Handler == nil {
			return fmt.Errorf("admin: endpoint %q: a route needs a method and a handler", pattern)
		}
		rs = append(rs, route{rt.Method, rt.Handler.ServeHTTP})
	}
	// http.ServeMux panics on a conflicting pattern: an error here.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("admin: endpoint %q: %v", pattern, p)
		}
	}()
	s.handle(pattern, rs...)
	return nil
}

// WriteJSON answers v as JSON with status, as every endpoint does.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError answers an Error document with status, as every endpoint
// does.
func WriteError(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }

// ReadBody reads a request body of at most Options.MaxBody bytes; when ok
// is false it has answered the error (413, or 400).
func (s *Server) ReadBody(w http.ResponseWriter, r *http.Request) (b []byte, ok bool) {
	return s.readBody(w, r)
}

// Logger returns the server's logger.
func (s *Server) Logger() *zap.Logger { return s.log }

func get(h http.HandlerFunc) route  { return route{http.MethodGet, h} }
func post(h http.HandlerFunc) route { return route{http.MethodPost, h} }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(s.opts.Prefix+"/{$}", s.page)
	s.mux.HandleFunc(s.opts.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	s.handle("/healthz", get(s.health))
	s.handle("/readyz", get(s.ready))
	s.handle("/metrics", get(promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}).ServeHTTP))
	s.handle("/api/v1/status", get(s.health))
	s.handle("/api/v1/tree", get(s.tree))
	s.handle("/api/v1/processes", get(s.processes))
	s.handle("/api/v1/processes/{pid}", get(s.process))
	s.handle("/api/v1/processes/{pid}/kill", post(s.kill))
	s.handle("/api/v1/modules", get(s.modules))
	s.handle("/api/v1/upgrades", get(s.ups.list), post(s.ups.start))
	s.handle("/api/v1/upgrades/{id}", get(s.ups.get))
	s.handle("/api/v1/upgrades/{id}/cancel", post(s.ups.cancel))
	s.handle("/api/v1/events", get(s.events))
	s.handle("/api/v1/handoff", post(s.handoff))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(Error{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody reads a request body of at most MaxBody bytes; it has written
// the error when ok is false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (b []byte, ok bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", s.opts.MaxBody))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return nil, false
	}
	return b, true
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.status("ok", ""))
}

func (s *Server) status(status, errText string) Health {
	return Health{Status: status, Error: errText, Node: s.opts.Node, Processes: s.sys.ProcessCount(),
		Modules: len(s.sys.Modules()), Uptime: time.Since(s.started).Round(time.Second).String(), Graft: graftVersion()}
}

// graftVersion is the version of the graft module this binary was built
// with ("(devel)" in its own repository).
func graftVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if info.Main.Path == "github.com/graftrt/graft" {
		return info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/graftrt/graft" {
			if d.Replace != nil && d.Replace.Version == "" {
				return "(devel)"
			}
			return d.Version
		}
	}
	return "(devel)"
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready == nil {
		writeJSON(w, http.StatusOK, s.status("ok", ""))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("readiness check panicked: %v", p)
			}
		}()
		done <- s.opts.Ready(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("readiness check did not answer within %v", s.opts.ReadyTimeout)
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, s.status("not ready", actor.SafeError(err).Error()))
		return
	}
	writeJSON(w, http.StatusOK, s.status("ok", ""))
}

func (s *Server) processes(w http.ResponseWriter, r *http.Request) {
	stats := s.sys.Snapshot()
	slices.SortFunc(stats, func(a, b actor.ProcessStat) int { return comparePID(a.PID, b.PID) })
	writeJSON(w, http.StatusOK, stats)
}

// comparePID orders PIDs by node, then by id (their text, compared by
// length first, does that).
func comparePID(a, b actor.PID) int {
	x, y := a.String(), b.String()
	return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y))
}

// pidArg reads the {pid} of the path; it has written the error when ok is
// false.
func pidArg(w http.ResponseWriter, r *http.Request) (actor.PID, bool) {
	pid, err := actor.ParsePID(r.PathValue("pid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return actor.PID{}, false
	}
	return pid, true
}

func (s *Server) process(w http.ResponseWriter, r *http.Request) {
	pid, ok := pidArg(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	info, err := s.sys.Info(ctx, pid)
	if err != nil {
		s.processError(w, pid, err)
		return
	}
	st, _ := s.sys.Stat(pid)
	st.PID, st.Name, st.Module = pid, info.Name, info.Module
	if st.Version == "" {
		st.Version = info.Version
	}
	p := Process{ProcessStat: st, Links: info.Links, TrapExit: info.TrapExit, Suspended: info.Suspended}
	if p.Links == nil {
		p.Links = []actor.PID{}
	}
	if r.URL.Query().Get("state") != "" {
		p.State, p.StateRedacted, err = s.inspect(ctx, pid)
		if err != nil {
			s.processError(w, pid, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) processError(w http.ResponseWriter, pid actor.PID, err error) {
	switch {
	case errors.Is(err, actor.NoProc):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no process %v", pid))
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("process %v did not answer within %v", pid, requestTimeout))
	default:
		writeError(w, http.StatusInternalServerError, actor.SafeError(err).Error())
	}
}

// inspect asks the process for its state's StateInspector view, encoded
// in the process (the state is its own) with any panic recovered.
func (s *Server) inspect(ctx context.Context, pid actor.PID) (json.RawMessage, bool, error) {
	type view struct {
		b        []byte
		redacted bool
		err      error
	}
	got := make(chan view, 1) // the callback may run after a timeout: never into our variables
	err := s.sys.Inspect(ctx, pid, func(state any) {
		var v view
		defer func() {
			if p := recover(); p != nil {
				v = view{err: fmt.Errorf("the state's InspectState panicked: %v", p)}
			}
			got <- v
		}()
		in, ok := state.(StateInspector)
		if !ok {
			v.redacted = true
			return
		}
		if v.b, v.err = json.Marshal(in.InspectState()); v.err != nil {
			v.err = fmt.Errorf("encoding the state's InspectState: %w", v.err)
		}
	})
	if err != nil {
		return nil, false, err
	}
	select {
	case v := <-got:
		return v.b, v.redacted, v.err
	default:
		return nil, false, errors.New("inspection did not run") // Inspect returned without running it
	}
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	pid, ok := pidArg(w, r)
	if !ok {
		return
	}
	if !s.sys.Alive(pid) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no process %v", pid))
		return
	}
	if err := s.sys.Kill(pid); err != nil {
		s.processError(w, pid, err)
		return
	}
	s.log.Warn("process killed through the admin API", zap.Stringer("pid", pid), zap.String("remote", r.RemoteAddr))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) modules(w http.ResponseWriter, r *http.Request) {
	mods := s.sys.Modules()
	out := make([]Module, 0, len(mods))
	for _, m := range mods {
		mod := Module{Name: m.Name, Current: m.Current, Previous: m.Previous, Retired: m.Retired,
			Versions: make([]Version, 0, len(m.Versions))}
		for _, v := range m.Versions {
			l := v.Lineage()
			mod.Versions = append(mod.Versions, Version{Name: v.Name(), Follows: l.Follows,
				UpgradesFrom: l.UpgradesFrom, DowngradesTo: l.DowngradesTo,
				Activations: m.Activations[v.Name()], Current: v.Name() == m.Current})
		}
		out = append(out, mod)
	}
	writeJSON(w, http.StatusOK, out)
}
