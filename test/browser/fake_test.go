package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// A stand-in for the admin server, enough to develop the page against.
func TestLiveViewFake(t *testing.T) {
	ctx := browser(t)
	s := startService(t)
	srv := startFake(t, s)
	stop := s.load()
	t.Cleanup(stop)
	checkLiveView(t, ctx, s, srv)
}

type fake struct {
	s        *service
	mu       sync.Mutex
	seq      uint64
	current  string
	upgrades map[string]*admin.Upgrade
	subs     map[chan admin.Event]bool
	wg       sync.WaitGroup
}

func startFake(t *testing.T, s *service) api {
	page, err := os.ReadFile("../../admin/ui/index.html")
	require.NoError(t, err)
	f := &fake{s: s, upgrades: map[string]*admin.Upgrade{}, subs: map[chan admin.Event]bool{}}
	cancel := s.sys.SubscribeAsync(f.event)
	const token = "secret"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.Write(page) })
	routes := http.NewServeMux()
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(admin.Error{Error: "unauthorized"})
			return
		}
		routes.ServeHTTP(w, r)
	}))
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	routes.HandleFunc("GET /api/v1/tree", func(w http.ResponseWriter, r *http.Request) {
		ctx, c := context.WithTimeout(r.Context(), 2*time.Second)
		defer c()
		js(w, 200, admin.Tree{Roots: []admin.Node{f.node(ctx, s.top, "root", 0)}, Processes: s.sys.ProcessCount()})
	})
	routes.HandleFunc("GET /api/v1/modules", func(w http.ResponseWriter, r *http.Request) {
		var out []admin.Module
		for _, m := range s.sys.Modules() {
			am := admin.Module{Name: m.Name, Current: m.Current}
			for _, v := range m.Versions {
				am.Versions = append(am.Versions, admin.Version{Name: v.Name(), Activations: m.Activations[v.Name()], Current: v.Name() == m.Current})
			}
			out = append(out, am)
		}
		js(w, 200, out)
	})
	routes.HandleFunc("GET /api/v1/upgrades", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []admin.Upgrade{}
		for _, u := range f.upgrades {
			out = append(out, *u)
		}
		js(w, 200, out)
	})
	routes.HandleFunc("GET /api/v1/upgrades/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		u, ok := f.upgrades[r.PathValue("id")]
		if !ok {
			js(w, 404, admin.Error{Error: "no such upgrade"})
			return
		}
		js(w, 200, *u)
	})
	routes.HandleFunc("POST /api/v1/upgrades", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		spec, err := upgrade.ParsePlan(b)
		if err != nil {
			js(w, 400, admin.Error{Error: err.Error()})
			return
		}
		plan, err := spec.Resolve(r.Context(), s.sys, upgrade.NewNative(s.v1, s.v2))
		if err != nil {
			js(w, 422, admin.Error{Error: err.Error()})
			return
		}
		f.mu.Lock()
		id := fmt.Sprintf("u%d", len(f.upgrades)+1)
		u := &admin.Upgrade{ID: id, State: "running", Plan: spec, Started: time.Now()}
		f.upgrades[id] = u
		f.current = id
		doc := *u
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			rep, err := s.top.Upgrade(context.Background(), plan)
			f.mu.Lock()
			defer f.mu.Unlock()
			if err != nil && rep == nil {
				u.State, u.Error = "failed", err.Error()
				return
			}
			sum := rep.Summary()
			u.Report, u.State = &sum, sum.Outcome
			now := time.Now()
			u.Finished = &now
		}()
		js(w, 202, doc)
	})
	routes.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		ch := make(chan admin.Event, 1024)
		f.mu.Lock()
		f.subs[ch] = true
		f.mu.Unlock()
		defer func() { f.mu.Lock(); delete(f.subs, ch); f.mu.Unlock() }()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ch:
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", ev.Type, ev.Seq, b)
				w.(http.Flusher).Flush()
			}
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		f.wg.Wait()
		cancel()
	})
	return api{base: hs.URL, view: hs.URL + "/#token=" + token, token: token}
}

func (f *fake) event(e actor.Event) {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Struct {
		return
	}
	data := map[string]any{}
	for i := range v.NumField() {
		fv := v.Field(i).Interface()
		switch x := fv.(type) {
		case error:
			fv = x.Error()
		case fmt.Stringer:
			fv = x.String()
		case nil:
		}
		data[v.Type().Field(i).Name] = fv
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev := admin.Event{Seq: f.seq, Time: time.Now(), Type: v.Type().Name(), Data: data}
	if _, ok := e.(upgrade.Event); ok {
		ev.Upgrade = f.current
		if u := f.upgrades[f.current]; u != nil && !strings.HasPrefix(ev.Type, "Process") {
			u.Steps = append(u.Steps, ev)
		}
	}
	for ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (f *fake) node(ctx context.Context, h *supervisor.Handle, id string, restarts int) admin.Node {
	n := admin.Node{ID: id, PID: h.PID(), Type: "supervisor", Module: supervisor.ModuleName, Status: "running", Restarts: restarts}
	if fl, err := h.Flags(ctx); err == nil {
		n.Strategy = fl.Strategy.String()
	}
	if v, ok := f.s.sys.VersionOf(h.PID()); ok {
		n.Version = v.Version
	}
	kids, err := h.WhichChildren(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return n
	}
	for _, c := range kids {
		if c.Type == supervisor.Supervisor {
			n.Children = append(n.Children, f.node(ctx, supervisor.Of(f.s.sys, c.PID), c.ID, c.Restarts))
			continue
		}
		k := admin.Node{ID: c.ID, PID: c.PID, Type: "worker", Module: c.Module, Version: c.Version, Pinned: c.Pinned,
			Status: "running", Restart: c.Restart.String(), Restarts: c.Restarts}
		if c.Restarting {
			k.Status = "restarting"
		}
		if st, ok := f.s.sys.Stat(c.PID); ok {
			k.Queued = st.Queued
		}
		n.Children = append(n.Children, k)
	}
	return n
}
