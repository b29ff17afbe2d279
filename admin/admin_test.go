package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
)

func TestStartListensOnLoopbackWithATokenFile(t *testing.T) {
	r := newRig(t, 1)
	assert.True(t, strings.HasPrefix(r.srv.URL(), "http://127.0.0.1:"), r.srv.URL())
	assert.Equal(t, r.srv.URL()+"/#token="+r.srv.Token(), r.srv.ViewURL())
	assert.Len(t, r.srv.Token(), 64, "32 random bytes, hex")
	fi, err := os.Stat(r.srv.TokenFile())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(r.srv.TokenFile())
	require.NoError(t, err)
	assert.Equal(t, r.srv.Token(), strings.TrimSpace(string(b)))

	var h admin.Health
	r.getJSON(t, "/healthz", &h)
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, "test", h.Node)
	assert.Equal(t, r.sys.ProcessCount(), h.Processes)

	require.NoError(t, r.srv.Close(context.Background()))
	_, err = os.Stat(r.srv.TokenFile())
	assert.ErrorIs(t, err, os.ErrNotExist, "Close removes the token file")
	_, err = r.client.Get(r.srv.URL() + "/healthz")
	assert.Error(t, err, "Close stops the listener")
}

func TestStartRefusesANonLoopbackAddress(t *testing.T) {
	sys := actortest.NewSystem(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
		_, err := admin.Start(sys.System, admin.Options{Addr: addr, TokenFile: t.TempDir() + "/t"})
		assert.ErrorIs(t, err, admin.ErrNotLoopback, addr)
	}
	_, err := admin.Start(sys.System, admin.Options{Addr: "nonsense"})
	assert.Error(t, err)
	_, err = admin.New(nil, admin.Options{})
	assert.ErrorIs(t, err, admin.ErrNoSystem)
}

func TestMountOnTheServicesOwnMux(t *testing.T) {
	sys := actortest.NewSystem(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) })
	srv, err := admin.Mount(mux, sys.System, admin.Options{Token: "sesame"})
	require.NoError(t, err)
	defer srv.Close(context.Background())
	assert.Equal(t, "", srv.TokenFile(), "Mount writes no file unless asked")

	req := httptest.NewRequest(http.MethodGet, "/graft/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer sesame")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graft/", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html", "the live view needs no token")

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hello", nil))
	assert.Equal(t, "hi", rec.Body.String(), "the service's own routes stay")
}

func TestEveryRequestNeedsTheToken(t *testing.T) {
	r := newRig(t, 1)
	paths := []string{"/healthz", "/readyz", "/metrics", "/api/v1/status", "/api/v1/tree", "/api/v1/processes",
		"/api/v1/processes/" + r.accounts[0].String(), "/api/v1/modules", "/api/v1/upgrades", "/api/v1/events"}
	for _, p := range paths {
		for _, token := range []string{"", "wrong", r.srv.Token() + "x", strings.ToUpper(r.srv.Token())} {
			status, b := r.doToken(t, http.MethodGet, p, nil, token)
			assert.Equal(t, http.StatusUnauthorized, status, "%s with %q", p, token)
			assert.Contains(t, errorOf(t, b), "token")
		}
	}
	// Killing and upgrading without the token change nothing.
	status, _ := r.doToken(t, http.MethodPost, "/api/v1/processes/"+r.accounts[0].String()+"/kill", nil, "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = r.doToken(t, http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v2"}]}`, "nope")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.True(t, r.sys.Alive(r.accounts[0]))
	cur, _ := r.sys.Current("acct")
	assert.Equal(t, "v1", cur.Name())
}

func TestBadRequestsGetAClearErrorAndChangeNothing(t *testing.T) {
	r := newRig(t, 2, func(o *admin.Options) { o.MaxBody = 1024 })
	before := r.sys.Modules()
	cases := []struct {
		method, path string
		body         any
		status       int
		says         string
	}{
		{http.MethodGet, "/nope", nil, 404, "no such endpoint"},
		{http.MethodDelete, "/api/v1/tree", nil, 405, "DELETE is not allowed"},
		{http.MethodPost, "/api/v1/modules", nil, 405, "allowed: GET"},
		{http.MethodGet, "/api/v1/processes/<0.x.0>", nil, 400, "bad PID"},
		{http.MethodGet, "/api/v1/processes/0.999999.0", nil, 404, "no process"},
		{http.MethodPost, "/api/v1/processes/0.999999.0/kill", nil, 404, "no process"},
		{http.MethodGet, "/api/v1/upgrades/42", nil, 404, "no upgrade"},
		{http.MethodPost, "/api/v1/upgrades/42/cancel", nil, 404, "no upgrade"},
		{http.MethodGet, "/api/v1/events?upgrade=42", nil, 404, "no upgrade"},
		{http.MethodPost, "/api/v1/upgrades", "", 400, "invalid plan"},
		{http.MethodPost, "/api/v1/upgrades", "{", 400, "invalid plan"},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v2"}],"colour":"red"}`, 400, "unknown field"},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v2"}],"waves":[0.5,1]}`, 400, "waves are for rolling"},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v9"}]}`, 422, "unknown version"},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"nope","version":"v2"}]}`, 422, ""},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v4","path":"/bin/true","checksum":"00"}]}`, 422, "unknown version"},
		{http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v2"}],"timeout":"` + strings.Repeat("9", 2000) + `"}`, 413, "over 1024 bytes"},
	}
	for _, c := range cases {
		status, b := r.do(t, c.method, c.path, c.body)
		assert.Equal(t, c.status, status, "%s %s: %s", c.method, c.path, b)
		assert.Contains(t, errorOf(t, b), c.says, "%s %s", c.method, c.path)
	}
	assert.Equal(t, before, r.sys.Modules(), "nothing loaded, staged or made current")
	var ups []admin.Upgrade
	r.getJSON(t, "/api/v1/upgrades", &ups)
	assert.Empty(t, ups)
	for _, pid := range r.accounts {
		assert.True(t, r.sys.Alive(pid))
	}
}

func TestReadiness(t *testing.T) {
	var mode atomic.Value
	mode.Store("warming up")
	r := newRig(t, 0, func(o *admin.Options) {
		o.Ready = func(ctx context.Context) error {
			switch m := mode.Load().(string); m {
			case "panic":
				panic("check exploded")
			case "block":
				<-ctx.Done()
				return nil
			default:
				return errors.New(m)
			}
		}
		o.ReadyTimeout = 20 * time.Millisecond
	})
	status, b := r.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, string(b), "warming up")
	mode.Store("panic")
	status, b = r.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, string(b), "panicked")
	mode.Store("block")
	status, b = r.do(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, string(b), "did not answer")
	status, _ = r.do(t, http.MethodGet, "/healthz", nil)
	assert.Equal(t, http.StatusOK, status, "health is the API serving; readiness is the service's")
}

func TestTreeShowsVersionsRestartsAndQueues(t *testing.T) {
	r := newRig(t, 3)
	var tree admin.Tree
	r.getJSON(t, "/api/v1/tree", &tree)
	require.Len(t, tree.Roots, 1)
	root := tree.Roots[0]
	assert.Equal(t, "bank", root.ID)
	assert.Equal(t, "bank", root.Name)
	assert.Equal(t, "supervisor", root.Type)
	assert.Equal(t, "one_for_one", root.Strategy)
	require.Len(t, root.Children, 1)
	accounts := root.Children[0]
	assert.Equal(t, "accounts", accounts.ID)
	assert.Equal(t, "simple_one_for_one", accounts.Strategy)
	require.Len(t, accounts.Children, 3)
	for i, c := range accounts.Children {
		assert.Equal(t, admin.Node{PID: r.accounts[i], Name: "acct:" + string(rune('0'+i)), Type: "worker", Module: "acct",
			Version: "v1", Status: "running", Restart: "permanent"}, c)
	}

	// Kill one through the API: its supervisor restarts it, and the tree
	// says so.
	restarted := make(chan actor.PID, 1)
	defer r.sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart {
			restarted <- s.PID
		}
	})()
	status, b := r.do(t, http.MethodPost, "/api/v1/processes/"+r.accounts[1].String()+"/kill", nil)
	require.Equal(t, http.StatusNoContent, status, string(b))
	fresh := <-restarted
	r.getJSON(t, "/api/v1/tree", &tree)
	c := tree.Roots[0].Children[0].Children
	var found bool
	for _, n := range c {
		if n.PID == fresh {
			found = true
			assert.Equal(t, 1, n.Restarts)
		}
	}
	assert.True(t, found, "the restarted account is listed")

	// A busy account shows its queue.
	gate, entered := make(chan struct{}), make(chan struct{})
	blocker := actor.Define("blocker", "v1", actor.Funcs[int]{Handle: func(ctx *actor.Context, s int, msg any) (int, error) {
		if msg == "block" {
			close(entered)
			<-gate
		}
		return s, nil
	}})
	require.NoError(t, r.sys.Load(blocker))
	busy, err := r.top.StartChild(t.Context(), supervisor.ChildSpec{ID: "busy", Start: supervisor.StartSpec{Module: "blocker"}})
	require.NoError(t, err)
	require.NoError(t, r.sys.Send(busy, "block"))
	<-entered
	for range 7 {
		require.NoError(t, r.sys.Send(busy, "x"))
	}
	r.getJSON(t, "/api/v1/tree", &tree)
	require.Len(t, tree.Roots[0].Children, 2)
	assert.Equal(t, 7, tree.Roots[0].Children[1].Queued)
	var procs []actor.ProcessStat
	r.getJSON(t, "/api/v1/processes", &procs)
	assert.Len(t, procs, r.sys.ProcessCount())
	close(gate)
}

func TestProcessStateIsRedactedUnlessTheModuleShowsIt(t *testing.T) {
	r := newRig(t, 1)
	pid := r.accounts[0]
	require.NoError(t, r.sys.Send(pid, deposit{N: 70}))

	var p admin.Process
	r.getJSON(t, "/api/v1/processes/"+pid.String(), &p)
	assert.Equal(t, "acct", p.Module)
	assert.Equal(t, "v1", p.Version)
	assert.Equal(t, "acct:0", p.Name)
	assert.Nil(t, p.State, "not asked for")
	r.getJSON(t, "/api/v1/processes/"+strings.Trim(pid.String(), "<>")+"?state=1", &p)
	assert.True(t, p.StateRedacted, "v1's state does not show itself")
	assert.Nil(t, p.State)

	upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v2"}]}`, "committed")
	p = admin.Process{}
	r.getJSON(t, "/api/v1/processes/"+pid.String()+"?state=1", &p)
	assert.Equal(t, "v2", p.Version)
	assert.False(t, p.StateRedacted)
	assert.JSONEq(t, `{"balance":70}`, string(p.State), "what InspectState shows, not the secret")
}

type panicky struct{}

func (panicky) InspectState() any { panic("no peeking") }

func TestAPanickingInspectorIsAnError(t *testing.T) {
	r := newRig(t, 0)
	v := actor.Define("p", "v1", actor.Funcs[panicky]{Handle: func(_ *actor.Context, s panicky, _ any) (panicky, error) { return s, nil }})
	require.NoError(t, r.sys.Load(v))
	pid, err := r.sys.Spawn("p", nil)
	require.NoError(t, err)
	status, b := r.do(t, http.MethodGet, "/api/v1/processes/"+pid.String()+"?state=1", nil)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Contains(t, errorOf(t, b), "panicked")
	assert.True(t, r.sys.Alive(pid), "the process is unharmed")
}

func TestModulesListVersionsAndLineage(t *testing.T) {
	r := newRig(t, 2)
	upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v2"}]}`, "committed")
	var mods []admin.Module
	r.getJSON(t, "/api/v1/modules", &mods)
	var acct admin.Module
	for _, m := range mods {
		if m.Name == "acct" {
			acct = m
		}
	}
	assert.Equal(t, "v2", acct.Current)
	assert.Equal(t, "v1", acct.Previous)
	var v2 admin.Version
	for _, v := range acct.Versions {
		if v.Name == "v2" {
			v2 = v
		}
	}
	assert.Equal(t, admin.Version{Name: "v2", Follows: "v1", Activations: 2, Current: true}, v2)
}
