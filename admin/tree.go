package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// maxDepth bounds the tree walk (a supervision tree deeper than this is
// shown cut, with an error node).
const maxDepth = 64

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	t := Tree{Roots: make([]Node, 0, len(s.opts.Supervisors)), Processes: s.sys.ProcessCount()}
	for _, h := range s.opts.Supervisors {
		t.Roots = append(t.Roots, s.supervisorNode(ctx, h.PID(), supervisor.ChildInfo{}, 0))
	}
	writeJSON(w, http.StatusOK, t)
}

// supervisorNode describes the supervisor running as pid and, below it,
// its children; info is what its own supervisor says of it (zero for a
// root).
func (s *Server) supervisorNode(ctx context.Context, pid actor.PID, info supervisor.ChildInfo, depth int) Node {
	n := s.node(pid, info)
	n.Type = "supervisor"
	if n.Status != "running" {
		return n
	}
	h := supervisor.Of(s.sys, pid)
	flags, err := h.Flags(ctx)
	if err == nil {
		var children []supervisor.ChildInfo
		if children, err = h.WhichChildren(ctx); err == nil {
			n.Strategy = flags.Strategy.String()
			n.Children = make([]Node, 0, len(children))
			for _, c := range children {
				if c.Type == supervisor.Supervisor && !c.PID.IsZero() && depth < maxDepth {
					n.Children = append(n.Children, s.supervisorNode(ctx, c.PID, c, depth+1))
				} else {
					n.Children = append(n.Children, s.node(c.PID, c))
				}
			}
			return n
		}
	}
	if errors.Is(err, actor.NoProc) {
		n.Status = "stopped"
	} else {
		n.Status = "unknown: " + actor.SafeError(err).Error()
	}
	return n
}

// node describes one child from what its supervisor says and what the
// system publishes of its process (no call to the process).
func (s *Server) node(pid actor.PID, info supervisor.ChildInfo) Node {
	n := Node{ID: info.ID, PID: pid, Type: "worker", Module: info.Module, Version: info.Version,
		Pinned: info.Pinned, Restarts: info.Restarts, Status: "running"}
	if info.Type == supervisor.Supervisor {
		n.Type = "supervisor"
	}
	if info.ID != "" || !info.PID.IsZero() {
		n.Restart = info.Restart.String()
	}
	switch {
	case info.Restarting:
		n.Status = "restarting"
	case pid.IsZero():
		n.Status = "stopped"
	}
	if st, ok := s.sys.Stat(pid); ok {
		n.Name, n.Queued, n.Module = st.Name, st.Queued, st.Module
		if st.Version != "" {
			n.Version, n.Pinned = st.Version, st.Pinned
		}
	} else if !pid.IsZero() {
		n.Status = "stopped" // exited since its supervisor listed it
	}
	if n.ID == "" && info.Type == 0 && info.Module == "" && n.Name != "" {
		n.ID = n.Name // a root: its registered name
	}
	return n
}
