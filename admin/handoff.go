package admin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/handoff"
)

// Handoff is what POST /api/v1/handoff runs: a *handoff.Node.
type Handoff interface {
	UpgradeServed(ctx context.Context, path, checksum string, served func(*handoff.Report)) (*handoff.Report, error)
}

// HandoffRequest is the body of POST /api/v1/handoff: the new build's
// executable (an absolute path) and its SHA-256 (64 hex digits).
type HandoffRequest struct {
	Path     string `json:"path"`
	Checksum string `json:"checksum"`
}

// HandoffResult answers POST /api/v1/handoff once the handoff has
// committed (200, in the old process, before it drains its HTTP servers
// and exits) or was aborted or refused (also 200: the old process runs on
// as before; Error names the failed step, as does the report).
type HandoffResult struct {
	Report *handoff.Report `json:"report"`
	Error  string          `json:"error,omitempty"`
}

// servedTimeout bounds how long a committed handoff waits for the answer to be
// written before the old process drains.
const servedTimeout = 10 * time.Second

func (s *Server) handoff(w http.ResponseWriter, r *http.Request) {
	if s.opts.Handoff == nil {
		writeError(w, http.StatusNotFound, "this node was not started with a handoff (admin.Options.Handoff)")
		return
	}
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req HandoffRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad handoff request: "+err.Error()+` (want {"path": "/abs/path", "checksum": "sha256 hex"})`)
		return
	}
	if msg := checkHandoff(req); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	// The handoff outlives the request: a client that goes away does not
	// abort it.
	ctx := context.WithoutCancel(r.Context())
	type answer struct {
		rep  *handoff.Report
		err  error
		sent chan struct{} // closed once the answer is written
	}
	answers := make(chan answer, 1)
	go func() {
		answered := false
		served := func(rep *handoff.Report) {
			answered = true
			a := answer{rep: rep, sent: make(chan struct{})}
			answers <- a
			select {
			case <-a.sent:
			case <-time.After(servedTimeout):
			}
		}
		rep, err := s.opts.Handoff.UpgradeServed(ctx, req.Path, req.Checksum, served)
		if !answered {
			answers <- answer{rep: rep, err: err}
		}
	}()
	a := <-answers
	if a.sent != nil {
		defer close(a.sent)
		// The connection closes after this answer, so that the old
		// process's drain does not wait on it.
		w.Header().Set("Connection", "close")
	}
	switch {
	case errors.Is(a.err, handoff.ErrBusy):
		writeError(w, http.StatusConflict, "a handoff is already under way on this node")
		return
	case errors.Is(a.err, handoff.ErrHandedOver):
		writeError(w, http.StatusConflict, "this node has handed over to a new process already")
		return
	case a.rep == nil && a.err != nil:
		writeError(w, http.StatusInternalServerError, a.err.Error())
		return
	}
	res := HandoffResult{Report: a.rep}
	if a.err != nil {
		res.Error = a.err.Error()
	}
	s.log.Info("handoff answered", zap.String("outcome", a.rep.Outcome), zap.String("error", res.Error))
	writeJSON(w, http.StatusOK, res)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// checkHandoff returns what is wrong with req, or "".
func checkHandoff(req HandoffRequest) string {
	switch {
	case req.Path == "":
		return "the handoff request has no path (the new build's executable)"
	case !filepath.IsAbs(req.Path):
		return fmt.Sprintf("path %q is not absolute: the node resolves nothing against its own directory", req.Path)
	case req.Checksum == "":
		return "the handoff request has no checksum (the executable's SHA-256, 64 hex digits)"
	}
	if c, err := hex.DecodeString(req.Checksum); err != nil || len(c) != 32 {
		return fmt.Sprintf("checksum %q is not a SHA-256: want 64 hex digits", req.Checksum)
	}
	fi, err := os.Stat(req.Path)
	switch {
	case err != nil:
		return fmt.Sprintf("path %q: %v", req.Path, err)
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("path %q is not a regular file", req.Path)
	}
	return ""
}
