package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
	"github.com/graftrt/graft/handoff"
	"github.com/graftrt/graft/upgrade"
)

// node serves handler as the admin API would, checking the token, and
// returns a client of it.
func node(t *testing.T, handler http.HandlerFunc, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			writeJSON(w, http.StatusUnauthorized, admin.Error{Error: "admin: missing or wrong token"})
			return
		}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "s3cret", append([]client.Option{client.WithHTTPClient(srv.Client())}, opts...)...)
	require.NoError(t, err)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestDecodesDocuments(t *testing.T) {
	pid, err := actor.ParsePID("<0.12.0>")
	require.NoError(t, err)
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/tree":
			_, _ = io.WriteString(w, `{"roots":[{"id":"top","pid":"<0.3.0>","type":"supervisor","module":"supervisor",
				"status":"running","restarts":0,"queued":0,"strategy":"one_for_one",
				"children":[{"id":"w","pid":"<0.12.0>","type":"worker","module":"svc","version":"v2",
				"status":"running","restart":"permanent","restarts":2,"queued":5}]}],"processes":4}`)
		case "GET /api/v1/processes":
			_, _ = io.WriteString(w, `[{"pid":"<0.12.0>","module":"svc","version":"v2","queued":5,"taken":40,"parent":"<0.3.0>"}]`)
		case "GET /api/v1/processes/0.12.0":
			assert.Equal(t, "1", r.URL.Query().Get("state"))
			_, _ = io.WriteString(w, `{"pid":"<0.12.0>","module":"svc","version":"v2","queued":0,"taken":1,
				"links":["<0.3.0>"],"trap_exit":true,"suspended":false,"state":{"count":7}}`)
		case "GET /api/v1/modules":
			_, _ = io.WriteString(w, `[{"name":"svc","current":"v2","previous":"v1","versions":[
				{"name":"v1","activations":0},{"name":"v2","follows":"v1","activations":3,"current":true}]}]`)
		case "GET /api/v1/status":
			_, _ = io.WriteString(w, `{"status":"ok","node":"n1","processes":4,"modules":1,"uptime":"3s","graft":"v0.1.0"}`)
		default:
			writeJSON(w, http.StatusNotFound, admin.Error{Error: "admin: no route " + r.URL.Path})
		}
	})
	ctx := context.Background()

	tree, err := c.Tree(ctx)
	require.NoError(t, err)
	require.Len(t, tree.Roots, 1)
	assert.Equal(t, 4, tree.Processes)
	assert.Equal(t, "one_for_one", tree.Roots[0].Strategy)
	require.Len(t, tree.Roots[0].Children, 1)
	w := tree.Roots[0].Children[0]
	assert.Equal(t, pid, w.PID)
	assert.Equal(t, "v2", w.Version)
	assert.Equal(t, 2, w.Restarts)
	assert.Equal(t, 5, w.Queued)

	ps, err := c.Processes(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, pid, ps[0].PID)
	assert.Equal(t, uint64(40), ps[0].Taken)

	p, err := c.Process(ctx, pid, true)
	require.NoError(t, err)
	assert.Equal(t, pid, p.PID)
	assert.True(t, p.TrapExit)
	assert.Len(t, p.Links, 1)
	assert.JSONEq(t, `{"count":7}`, string(p.State))

	ms, err := c.Modules(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, "v2", ms[0].Current)
	assert.True(t, ms[0].Versions[1].Current)
	assert.Equal(t, int64(3), ms[0].Versions[1].Activations)

	h, err := c.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "v0.1.0", h.Graft)
}

func TestUpgradeRequests(t *testing.T) {
	spec := upgrade.PlanSpec{Mode: "rolling", Waves: []float64{0.5, 1}, Changes: []upgrade.ChangeSpec{{Module: "svc", Version: "v2"}}}
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/upgrades":
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			var got upgrade.PlanSpec
			assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
			assert.Equal(t, spec, got)
			if r.URL.Query().Get("wait") == "1" {
				writeJSON(w, http.StatusOK, admin.Upgrade{ID: "u2", State: "committed", Plan: got,
					Report: &upgrade.Summary{Outcome: "committed", Mode: "rolling"}})
				return
			}
			writeJSON(w, http.StatusAccepted, admin.Upgrade{ID: "u1", State: "running", Plan: got})
		case "GET /api/v1/upgrades":
			writeJSON(w, http.StatusOK, []admin.Upgrade{{ID: "u2", State: "committed"}, {ID: "u1", State: "rolled_back"}})
		case "GET /api/v1/upgrades/u1":
			writeJSON(w, http.StatusOK, admin.Upgrade{ID: "u1", State: "rolled_back"})
		case "POST /api/v1/upgrades/u1/cancel":
			writeJSON(w, http.StatusConflict, admin.Error{Error: "admin: upgrade u1 has ended (rolled_back)"})
		case "POST /api/v1/processes/0.12.0/kill":
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusNotFound, admin.Error{Error: "admin: no upgrade " + r.URL.Path})
		}
	})
	ctx := context.Background()

	u, err := c.StartUpgrade(ctx, spec)
	require.NoError(t, err)
	assert.Equal(t, "u1", u.ID)
	assert.False(t, u.Done())

	u, err = c.RunUpgrade(ctx, spec)
	require.NoError(t, err)
	assert.True(t, u.Done())
	require.NotNil(t, u.Report)
	assert.Equal(t, "committed", u.Report.Outcome)

	us, err := c.Upgrades(ctx)
	require.NoError(t, err)
	assert.Len(t, us, 2)

	u, err = c.Upgrade(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, "rolled_back", u.State)

	_, err = c.Cancel(ctx, "u1")
	var e *client.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusConflict, e.Status)
	assert.Equal(t, "admin: upgrade u1 has ended (rolled_back)", e.Error())
	assert.ErrorIs(t, err, client.ErrConflict)

	_, err = c.Upgrade(ctx, "nope")
	assert.ErrorIs(t, err, client.ErrNotFound)
	assert.EqualError(t, err, "admin: no upgrade /api/v1/upgrades/nope")

	pid, _ := actor.ParsePID("<0.12.0>")
	require.NoError(t, c.Kill(ctx, pid))
}

func TestErrorsForAPerson(t *testing.T) {
	ctx := context.Background()

	t.Run("refused token names where it comes from", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusUnauthorized, admin.Error{Error: "admin: missing or wrong token"})
		}))
		defer srv.Close()
		c, err := client.New(srv.URL, "wrong", client.WithHTTPClient(srv.Client()), client.WithTokenFile("/run/graft/token"))
		require.NoError(t, err)
		_, err = c.Tree(ctx)
		assert.EqualError(t, err, "the node refused the token (check --token, GRAFT_TOKEN or the token file /run/graft/token)")
		assert.ErrorIs(t, err, client.ErrUnauthorized)
		var e *client.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusUnauthorized, e.Status)
	})

	t.Run("an answer that is not the API's", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		}))
		defer srv.Close()
		c, err := client.New(srv.URL, "t", client.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		_, err = c.Status(ctx)
		var e *client.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusBadGateway, e.Status)
		assert.Equal(t, "the node at "+srv.URL+" answered 502 Bad Gateway", e.Message)
	})

	t.Run("a 200 that is not JSON", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello")
		}))
		defer srv.Close()
		c, err := client.New(srv.URL, "t", client.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		_, err = c.Tree(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not the admin API's document")
	})

	t.Run("no node", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		c, err := client.New(addr, "t")
		require.NoError(t, err)
		_, err = c.Status(ctx)
		assert.EqualError(t, err, "no Graft node answers at "+addr+" (is it running? --addr or GRAFT_ADDR)")
		assert.ErrorIs(t, err, client.ErrNoNode)
	})

	t.Run("a context that ended", func(t *testing.T) {
		c, err := client.New("127.0.0.1:1", "t")
		require.NoError(t, err)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = c.Status(cctx)
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	})

	t.Run("bad addresses", func(t *testing.T) {
		for _, addr := range []string{"", "ftp://h:1", "http://", "http://h:1/?x=1"} {
			_, err := client.New(addr, "t")
			assert.Error(t, err, addr)
		}
	})
}

func TestPrefix(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		writeJSON(w, http.StatusOK, admin.Health{Status: "ok"})
	}))
	defer srv.Close()
	c, err := client.New(srv.URL+"/graft/", "t", client.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = c.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "/graft/api/v1/status", path)
}

func TestHandoffRequest(t *testing.T) {
	calls := 0
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		assert.Equal(t, "POST /api/v1/handoff", r.Method+" "+r.URL.Path)
		var got admin.HandoffRequest
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		if calls == 2 {
			writeJSON(w, http.StatusConflict, admin.Error{Error: "a handoff is already under way on this node"})
			return
		}
		assert.Equal(t, admin.HandoffRequest{Path: "/opt/svc/v2", Checksum: "ab12"}, got)
		writeJSON(w, http.StatusOK, admin.HandoffResult{Report: &handoff.Report{Outcome: handoff.Committed, NewPID: 7}})
	})
	res, err := c.Handoff(context.Background(), "/opt/svc/v2", "ab12")
	require.NoError(t, err)
	require.NotNil(t, res.Report)
	assert.Equal(t, handoff.Committed, res.Report.Outcome)
	assert.Equal(t, 7, res.Report.NewPID)
	_, err = c.Handoff(context.Background(), "/opt/svc/v2", "ab12")
	assert.ErrorIs(t, err, client.ErrConflict)
}
