package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/handoff"
)

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// fakeHandoffNode answers POST /api/v1/handoff with answer, recording the
// requests.
type fakeHandoffNode struct {
	mu   sync.Mutex
	reqs []admin.HandoffRequest
	addr string
}

func newFakeHandoffNode(t *testing.T, answer func(w http.ResponseWriter)) *fakeHandoffNode {
	f := &fakeHandoffNode{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method+" "+r.URL.Path != "POST /api/v1/handoff" || r.Header.Get("Authorization") != "Bearer "+testToken {
			admin.WriteError(w, http.StatusNotFound, "unexpected "+r.Method+" "+r.URL.Path)
			return
		}
		var req admin.HandoffRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(srv.Close)
	f.addr = srv.URL
	return f
}

func (f *fakeHandoffNode) requests() []admin.HandoffRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]admin.HandoffRequest(nil), f.reqs...)
}

func (f *fakeHandoffNode) graft(t *testing.T, args ...string) result {
	t.Helper()
	return graft(t, nil, "", append([]string{"--addr", f.addr, "--token", testToken}, args...)...)
}

func pid(t *testing.T, s string) actor.PID {
	p, err := actor.ParsePID(s)
	require.NoError(t, err)
	return p
}

func TestUpgradeBinaryCommitted(t *testing.T) {
	rep := &handoff.Report{Outcome: handoff.Committed, NewPID: 4242, Total: 120 * time.Millisecond, Pause: 3 * time.Millisecond,
		Bytes: 900, Processes: []handoff.ProcessReport{{Path: "bank/acct:1", Name: "acct:1", Module: "acct",
			OldPID: pid(t, "<0.7.0>"), NewPID: pid(t, "<0.9.0>"), From: "v1", To: "v2", StateBytes: 42, Result: "moved"}}}
	f := newFakeHandoffNode(t, func(w http.ResponseWriter) {
		admin.WriteJSON(w, http.StatusOK, admin.HandoffResult{Report: rep})
	})
	r := f.graft(t, "upgrade-binary", "/opt/bank/bankd-v2", "--checksum", sum)
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, []admin.HandoffRequest{{Path: "/opt/bank/bankd-v2", Checksum: sum}}, f.requests())
	assert.Contains(t, r.stdout, "handoff committed\ntotal 120ms, pause 3ms, 900 bytes")
	assert.Regexp(t, `(?m)^bank/acct:1\s+acct:1\s+acct\s+<0\.7\.0>\s+<0\.9\.0>\s+v1\s+v2\s+42\s+0\s+moved$`, r.stdout)

	r = f.graft(t, "upgrade-binary", "/opt/bank/bankd-v2", "--checksum", sum, "-o", "json")
	require.Equal(t, 0, r.code, r)
	var res admin.HandoffResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r)
	assert.Equal(t, rep, res.Report)
}

func TestUpgradeBinaryAborted(t *testing.T) {
	f := newFakeHandoffNode(t, func(w http.ResponseWriter) {
		admin.WriteJSON(w, http.StatusOK, admin.HandoffResult{
			Report: &handoff.Report{Outcome: handoff.Aborted, Step: handoff.StepHealth, Err: "not ready", Processes: []handoff.ProcessReport{}},
			Error:  "handoff: health (in the other process): not ready"})
	})
	r := f.graft(t, "upgrade-binary", "/opt/bank/bankd-v2", "--checksum", sum)
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stdout, "handoff aborted at health: not ready")
	assert.Equal(t, "graft: handoff: health (in the other process): not ready (the old process runs on)\n", r.stderr)

	r = f.graft(t, "upgrade-binary", "/opt/bank/bankd-v2", "--checksum", sum, "-o", "json")
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, `"outcome": "aborted"`)
}

func TestUpgradeBinaryRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		msg    string
		code   int
	}{
		"not configured": {http.StatusNotFound, "this node was not started with a handoff", 2},
		"under way":      {http.StatusConflict, "a handoff is already under way on this node", 1},
		"bad path":       {http.StatusBadRequest, `path "/nope": no such file or directory`, 2},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeHandoffNode(t, func(w http.ResponseWriter) { admin.WriteError(w, tc.status, tc.msg) })
			r := f.graft(t, "upgrade-binary", "/nope", "--checksum", sum)
			assert.Equal(t, tc.code, r.code, r)
			assert.Equal(t, "graft: "+tc.msg+"\n", r.stderr)
		})
	}
}

func TestUpgradeBinaryUsage(t *testing.T) {
	f := newFakeHandoffNode(t, func(w http.ResponseWriter) { t.Error("a bad command line reached the node") })
	for _, args := range [][]string{
		{"upgrade-binary", "/opt/x"},
		{"upgrade-binary", "/opt/x", "--checksum", "abc"},
		{"upgrade-binary", "--checksum", sum},
		{"upgrade-binary", "/a", "/b", "--checksum", sum},
	} {
		r := f.graft(t, args...)
		assert.Equal(t, 2, r.code, r)
		assert.True(t, strings.HasPrefix(r.stderr, "graft upgrade-binary: "), r)
	}
	assert.Empty(t, f.requests())
	r := graft(t, nil, "", "--addr", closedAddr(t), "--token", testToken, "upgrade-binary", "/opt/x", "--checksum", sum)
	assert.Equal(t, 2, r.code, r)
}

func TestUpgradeBinaryMakesAPathAbsolute(t *testing.T) {
	f := newFakeHandoffNode(t, func(w http.ResponseWriter) {
		admin.WriteJSON(w, http.StatusOK, admin.HandoffResult{Report: &handoff.Report{Outcome: handoff.Committed}})
	})
	t.Chdir(t.TempDir())
	r := f.graft(t, "upgrade-binary", "bin/svc", "--checksum", sum)
	require.Equal(t, 0, r.code, r)
	reqs := f.requests()
	require.Len(t, reqs, 1)
	assert.True(t, strings.HasPrefix(reqs[0].Path, "/") && strings.HasSuffix(reqs[0].Path, "/bin/svc"), reqs[0].Path)
}
