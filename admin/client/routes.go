package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/upgrade"
)

// Status returns the node's health: GET /api/v1/status.
func (c *Client) Status(ctx context.Context) (admin.Health, error) {
	var h admin.Health
	return h, c.call(ctx, http.MethodGet, api+"/status", nil, nil, &h)
}

// Tree returns the supervision tree: GET /api/v1/tree.
func (c *Client) Tree(ctx context.Context) (admin.Tree, error) {
	var t admin.Tree
	return t, c.call(ctx, http.MethodGet, api+"/tree", nil, nil, &t)
}

// Processes returns every live process: GET /api/v1/processes.
func (c *Client) Processes(ctx context.Context) ([]actor.ProcessStat, error) {
	var ps []actor.ProcessStat
	return ps, c.call(ctx, http.MethodGet, api+"/processes", nil, nil, &ps)
}

// Process returns one process, with what its module shows of its state
// if withState: GET /api/v1/processes/{pid}[?state=1].
func (c *Client) Process(ctx context.Context, pid actor.PID, withState bool) (admin.Process, error) {
	var q url.Values
	if withState {
		q = url.Values{"state": {"1"}}
	}
	var p admin.Process
	return p, c.call(ctx, http.MethodGet, api+"/processes/"+pidPath(pid), q, nil, &p)
}

// Kill kills a process (exit reason killed): POST
// /api/v1/processes/{pid}/kill.
func (c *Client) Kill(ctx context.Context, pid actor.PID) error {
	return c.call(ctx, http.MethodPost, api+"/processes/"+pidPath(pid)+"/kill", nil, nil, nil)
}

// Modules returns every module with its versions: GET /api/v1/modules.
func (c *Client) Modules(ctx context.Context) ([]admin.Module, error) {
	var ms []admin.Module
	return ms, c.call(ctx, http.MethodGet, api+"/modules", nil, nil, &ms)
}

// StartUpgrade starts an upgrade and returns at once, while it runs: POST
// /api/v1/upgrades (202). Follow it with Upgrade or Events.
func (c *Client) StartUpgrade(ctx context.Context, spec upgrade.PlanSpec) (admin.Upgrade, error) {
	var u admin.Upgrade
	return u, c.call(ctx, http.MethodPost, api+"/upgrades", nil, spec, &u)
}

// RunUpgrade starts an upgrade and returns when it has ended: POST
// /api/v1/upgrades?wait=1 (200). A plan that ends rolled back or refused
// is not an error: its Upgrade says so.
func (c *Client) RunUpgrade(ctx context.Context, spec upgrade.PlanSpec) (admin.Upgrade, error) {
	var u admin.Upgrade
	return u, c.call(ctx, http.MethodPost, api+"/upgrades", url.Values{"wait": {"1"}}, spec, &u)
}

// Upgrade returns an upgrade started through the API: GET
// /api/v1/upgrades/{id}.
func (c *Client) Upgrade(ctx context.Context, id string) (admin.Upgrade, error) {
	var u admin.Upgrade
	return u, c.call(ctx, http.MethodGet, api+"/upgrades/"+url.PathEscape(id), nil, nil, &u)
}

// Upgrades returns the upgrades started through the API, newest first:
// GET /api/v1/upgrades.
func (c *Client) Upgrades(ctx context.Context) ([]admin.Upgrade, error) {
	var us []admin.Upgrade
	return us, c.call(ctx, http.MethodGet, api+"/upgrades", nil, nil, &us)
}

// Cancel asks a running upgrade to stop before its commit: POST
// /api/v1/upgrades/{id}/cancel (202). One that committed or ended is an
// *Error matching ErrConflict.
func (c *Client) Cancel(ctx context.Context, id string) (admin.Upgrade, error) {
	var u admin.Upgrade
	return u, c.call(ctx, http.MethodPost, api+"/upgrades/"+url.PathEscape(id)+"/cancel", nil, nil, &u)
}

// pidPath is a PID in a path: "0.12.0" (the API takes it with or without
// the angle brackets; without needs no escaping).
func pidPath(pid actor.PID) string {
	s := pid.String()
	return s[1 : len(s)-1]
}

// Handoff hands the node's process over to the executable at path (an
// absolute path on the node's machine) whose SHA-256 is checksum, and
// returns the result: POST /api/v1/handoff. The answer comes when the
// handoff has committed (from the old process, before it exits) or was
// aborted or refused (Report.Outcome, Error). A node started without a
// handoff answers 404 (ErrNotFound), one whose handoff is under way 409
// (ErrConflict).
func (c *Client) Handoff(ctx context.Context, path, checksum string) (admin.HandoffResult, error) {
	var r admin.HandoffResult
	return r, c.call(ctx, http.MethodPost, api+"/handoff", nil, admin.HandoffRequest{Path: path, Checksum: checksum}, &r)
}
