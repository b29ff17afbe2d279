package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/handoff"
	"github.com/graftrt/graft/supervisor"
)

// fakeHandoff runs f as the handoff, counting the runs.
type fakeHandoff struct {
	runs chan admin.HandoffRequest
	f    func(served func(*handoff.Report)) (*handoff.Report, error)
}

func (h *fakeHandoff) UpgradeServed(ctx context.Context, path, checksum string, served func(*handoff.Report)) (*handoff.Report, error) {
	h.runs <- admin.HandoffRequest{Path: path, Checksum: checksum}
	return h.f(served)
}

func newHandoffRig(t *testing.T, f func(served func(*handoff.Report)) (*handoff.Report, error)) (*rig, *fakeHandoff) {
	h := &fakeHandoff{runs: make(chan admin.HandoffRequest, 10), f: f}
	return newRig(t, 1, func(o *admin.Options) { o.Handoff = h }), h
}

// executable writes a file and returns its path and SHA-256.
func executable(t *testing.T) (string, string) {
	p := filepath.Join(t.TempDir(), "svc-v2")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	return p, hex.EncodeToString(sum[:])
}

func committed() *handoff.Report {
	return &handoff.Report{Outcome: handoff.Committed, NewPID: 4242, Total: time.Second, Pause: time.Millisecond,
		Processes: []handoff.ProcessReport{{Path: "bank/acct:0", Module: "acct", From: "v1", To: "v2", StateBytes: 12, Result: "moved"}}}
}

func TestHandoffNotConfigured(t *testing.T) {
	r := newRig(t, 1)
	path, sum := executable(t)
	status, b := r.do(t, http.MethodPost, "/api/v1/handoff", admin.HandoffRequest{Path: path, Checksum: sum})
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, errorOf(t, b), "this node was not started with a handoff")
}

func TestHandoffBadRequestsStartNothing(t *testing.T) {
	r, h := newHandoffRig(t, func(func(*handoff.Report)) (*handoff.Report, error) { return committed(), nil })
	path, sum := executable(t)
	for name, tc := range map[string]struct {
		body any
		want string
	}{
		"not JSON":         {`{"path":`, "bad handoff request"},
		"unknown field":    {`{"path":"/x","sum":"y"}`, "bad handoff request"},
		"no path":          {admin.HandoffRequest{Checksum: sum}, "no path"},
		"relative path":    {admin.HandoffRequest{Path: "bin/svc", Checksum: sum}, "not absolute"},
		"no checksum":      {admin.HandoffRequest{Path: path}, "no checksum"},
		"short checksum":   {admin.HandoffRequest{Path: path, Checksum: "abc"}, "not a SHA-256"},
		"non-hex checksum": {admin.HandoffRequest{Path: path, Checksum: "z" + sum[1:]}, "not a SHA-256"},
		"missing file":     {admin.HandoffRequest{Path: path + "-gone", Checksum: sum}, "no such file"},
		"a directory":      {admin.HandoffRequest{Path: filepath.Dir(path), Checksum: sum}, "not a regular file"},
	} {
		t.Run(name, func(t *testing.T) {
			status, b := r.do(t, http.MethodPost, "/api/v1/handoff", tc.body)
			assert.Equal(t, http.StatusBadRequest, status, string(b))
			assert.Contains(t, errorOf(t, b), tc.want)
		})
	}
	status, _ := r.do(t, http.MethodGet, "/api/v1/handoff", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Empty(t, h.runs, "a bad request started a handoff")
}

func TestHandoffBusyIsAConflict(t *testing.T) {
	r, _ := newHandoffRig(t, func(func(*handoff.Report)) (*handoff.Report, error) { return nil, handoff.ErrBusy })
	path, sum := executable(t)
	status, b := r.do(t, http.MethodPost, "/api/v1/handoff", admin.HandoffRequest{Path: path, Checksum: sum})
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, errorOf(t, b), "already under way")
}

// A committed handoff answers from the served callback, before the old
// process drains its HTTP servers: here the fake drains the admin server
// itself once served returns, as handoff.Node does with Options.Servers.
func TestHandoffCommittedAnswersBeforeTheDrain(t *testing.T) {
	var srv *admin.Server
	r, h := newHandoffRig(t, func(served func(*handoff.Report)) (*handoff.Report, error) {
		served(committed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			return nil, err
		}
		return committed(), nil
	})
	srv = r.srv
	path, sum := executable(t)
	status, b := r.do(t, http.MethodPost, "/api/v1/handoff", admin.HandoffRequest{Path: path, Checksum: sum})
	require.Equal(t, http.StatusOK, status, string(b))
	var res admin.HandoffResult
	require.NoError(t, json.Unmarshal(b, &res), string(b))
	assert.Empty(t, res.Error)
	assert.Equal(t, committed(), res.Report)
	assert.Equal(t, admin.HandoffRequest{Path: path, Checksum: sum}, <-h.runs)
}

// A handoff that fails (here a real handoff.Node refuses at the prepare
// step: the rig's version has no codec) answers its report and the failed
// step; the node runs on.
func TestHandoffAbortedAnswersTheFailedStep(t *testing.T) {
	r := newRig(t, 2)
	n := handoff.New(r.sys.System, handoff.Options{Trees: []*supervisor.Handle{r.top}, StartTimeout: 5 * time.Second})
	defer n.Close()
	require.NoError(t, r.srv.Close(context.Background()))
	r = &rig{sys: r.sys, top: r.top, accounts: r.accounts, client: r.client}
	var err error
	r.srv, err = admin.Start(r.sys.System, admin.Options{Addr: "127.0.0.1:0", TokenFile: t.TempDir() + "/token",
		Supervisors: []*supervisor.Handle{r.top}, Handoff: n})
	require.NoError(t, err)
	defer r.srv.Close(context.Background())
	next := r.events(t, "")
	path, sum := executable(t)
	status, b := r.do(t, http.MethodPost, "/api/v1/handoff", admin.HandoffRequest{Path: path, Checksum: sum})
	require.Equal(t, http.StatusOK, status, string(b))
	var res admin.HandoffResult
	require.NoError(t, json.Unmarshal(b, &res), string(b))
	require.NotNil(t, res.Report)
	assert.NotEqual(t, handoff.Committed, res.Report.Outcome)
	assert.NotEmpty(t, res.Report.Step)
	assert.Contains(t, res.Error, res.Report.Step)
	// The steps are on the event stream.
	for {
		e := next()
		if e.Type == "HandoffStep" && e.Data["status"] == "failed" {
			assert.Equal(t, res.Report.Step, e.Data["step"])
			break
		}
	}
	var st admin.Health
	r.getJSON(t, "/api/v1/status", &st)
	assert.Equal(t, "ok", st.Status)
}

// When a handoff's drain begins, every event stream sends what it has,
// the drain's step included, and ends: its client reconnects, to the new
// build, instead of holding the old process's drain until its timeout. A
// stream opened later ends at once.
func TestEventStreamsEndWhenTheHandoffDrains(t *testing.T) {
	r := newRig(t, 1)
	next, ended := r.stream(t, "")
	r.sys.Emit(handoff.Event{Step: handoff.StepForward, Status: "begin"})
	e := next()
	require.Equal(t, "HandoffStep", e.Type)
	assert.Equal(t, handoff.StepForward, e.Data["step"])
	select {
	case <-ended:
		t.Fatal("the stream ended before the drain")
	default:
	}

	r.sys.Emit(handoff.Event{Step: handoff.StepDrain, Status: "begin"})
	e = next()
	assert.Equal(t, handoff.StepDrain, e.Data["step"], "the drain's own step is sent before the end")
	select {
	case <-ended:
	case <-time.After(actortest.DefaultWait):
		t.Fatal("the stream did not end when the drain began")
	}

	_, later := r.stream(t, "")
	select {
	case <-later:
	case <-time.After(actortest.DefaultWait):
		t.Fatal("a stream opened during the drain did not end")
	}
}
