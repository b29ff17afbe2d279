package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
)

// keepUpgrades is how many finished upgrades the API remembers.
const keepUpgrades = 50

// upgrades runs the upgrades started through the API, one at a time.
type upgrades struct {
	s *Server

	mu      sync.Mutex
	next    int
	all     []*run // oldest first
	running *run
	// wg tracks running upgrades, so that tests and Close can wait.
	wg sync.WaitGroup
}

// run is one upgrade started through the API.
type run struct {
	mu        sync.Mutex
	u         Upgrade
	cancel    context.CancelFunc
	committed bool
	done      chan struct{}
}

func newUpgrades(s *Server) *upgrades { return &upgrades{s: s} }

func (m *upgrades) known(id string) bool { return m.find(id) != nil }

func (m *upgrades) find(id string) *run {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.all {
		if r.u.ID == id {
			return r
		}
	}
	return nil
}

func (r *run) snapshot() Upgrade {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.u
	u.Steps = slices.Clone(u.Steps)
	return u
}

// start takes a plan (upgrade.PlanSpec as JSON), resolves its versions and
// runs it in the background: 202 with the Upgrade, or 200 once it ended
// with ?wait=1.
func (m *upgrades) start(w http.ResponseWriter, r *http.Request) {
	s := m.s
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	spec, err := upgrade.ParsePlan(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(s.opts.Supervisors) == 0 {
		writeError(w, http.StatusConflict, "this node's admin API has no supervision tree to upgrade (Options.Supervisors)")
		return
	}
	m.mu.Lock()
	if m.running != nil {
		id := m.running.u.ID
		m.mu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("upgrade %s is in progress; wait for it or cancel it", id))
		return
	}
	m.next++
	run := &run{done: make(chan struct{})}
	run.u = Upgrade{ID: strconv.Itoa(m.next), State: "running", Plan: spec, Started: time.Now().UTC(), Steps: []Event{}}
	m.running = run
	m.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	plan, err := spec.Resolve(r.Context(), s.sys, s.loader)
	if err != nil {
		cancel()
		m.mu.Lock()
		m.running = nil
		m.next-- // nothing ran: the id is not used
		m.mu.Unlock()
		status := http.StatusUnprocessableEntity
		if errors.Is(err, context.Canceled) {
			status = http.StatusBadRequest
		}
		s.log.Warn("upgrade refused through the admin API", zap.Error(err))
		writeError(w, status, actor.SafeError(err).Error())
		return
	}
	m.mu.Lock()
	m.all = append(m.all, run)
	if len(m.all) > keepUpgrades {
		m.all = slices.Delete(m.all, 0, len(m.all)-keepUpgrades)
	}
	m.mu.Unlock()
	// finished: the plan's last event is in; final: the run's record is
	// complete (report, state). The hub hands UpgradeFinished to the
	// streams only after final, so a client that reads it there finds the
	// upgrade done when it asks.
	finished, final := make(chan struct{}), make(chan struct{})
	stop := s.hub.follow(run.u.ID, func(e Event) {
		run.mu.Lock()
		switch e.Type {
		case "UpgradeCommitted":
			run.committed = true
		case "ProcessSuspended", "ProcessMigrated", "ProcessResumed", "ProcessSkipped", "ProcessKilled", "ProcessFailed":
			run.mu.Unlock()
			return // per-process steps are on the stream, not kept
		}
		run.u.Steps = append(run.u.Steps, e)
		run.mu.Unlock()
		if e.Type == "UpgradeFinished" {
			close(finished)
			select {
			case <-final:
			case <-s.hub.done:
			case <-time.After(requestTimeout): // bounded, should Upgrade never return
			}
		}
	})
	s.log.Info("upgrade started through the admin API", zap.String("id", run.u.ID), zap.String("remote", r.RemoteAddr))
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(run.done)
		defer cancel()
		rep, err := s.opts.Supervisors[0].Upgrade(ctx, plan)
		// The events reach the hub on its own goroutine: the plan's last
		// one says every step is in.
		select {
		case <-finished:
		case <-s.hub.done:
		case <-time.After(requestTimeout): // bounded, should the event never come
		}
		now := time.Now().UTC()
		run.mu.Lock()
		run.u.Finished = &now
		if rep != nil {
			sum := rep.Summary()
			run.u.Report = &sum
			run.u.State = sum.Outcome
		} else {
			run.u.State = "failed"
		}
		if err != nil {
			run.u.Error = actor.SafeError(err).Error()
		}
		run.mu.Unlock()
		m.mu.Lock()
		m.running = nil
		m.mu.Unlock()
		close(final)
		stop()
	}()
	if r.URL.Query().Get("wait") != "" {
		select {
		case <-run.done:
			writeJSON(w, http.StatusOK, run.snapshot())
		case <-r.Context().Done():
		}
		return
	}
	writeJSON(w, http.StatusAccepted, run.snapshot())
}

func (m *upgrades) list(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	runs := slices.Clone(m.all)
	m.mu.Unlock()
	out := make([]Upgrade, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		out = append(out, runs[i].snapshot())
	}
	writeJSON(w, http.StatusOK, out)
}

func (m *upgrades) get(w http.ResponseWriter, r *http.Request) {
	run := m.find(r.PathValue("id"))
	if run == nil {
		writeError(w, http.StatusNotFound, "no upgrade "+strconv.Quote(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, run.snapshot())
}

// cancel stops an upgrade before its commit: it rolls back. After the
// commit, or once it ended, it is too late (409).
func (m *upgrades) cancel(w http.ResponseWriter, r *http.Request) {
	run := m.find(r.PathValue("id"))
	if run == nil {
		writeError(w, http.StatusNotFound, "no upgrade "+strconv.Quote(r.PathValue("id")))
		return
	}
	run.mu.Lock()
	switch {
	case run.u.Finished != nil:
		run.mu.Unlock()
		writeError(w, http.StatusConflict, "upgrade "+run.u.ID+" has ended ("+run.u.State+")")
		return
	case run.committed:
		run.mu.Unlock()
		writeError(w, http.StatusConflict, "upgrade "+run.u.ID+" has committed: it can no longer be cancelled (downgrade instead)")
		return
	}
	run.u.State = "cancelling"
	run.mu.Unlock()
	run.cancel()
	m.s.log.Warn("upgrade cancelled through the admin API", zap.String("id", run.u.ID), zap.String("remote", r.RemoteAddr))
	writeJSON(w, http.StatusAccepted, run.snapshot())
}
