package admin

import (
	"encoding/json"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
)

// The admin API's JSON documents. Every endpoint answers one of these, or
// an Error with a 4xx or 5xx status. PIDs are text ("<0.12.0>"),
// durations Go durations in text ("1.5ms"), times RFC 3339.

// APIVersion is the path segment of this API: every endpoint is under
// /api/v1 below the server's prefix.
const APIVersion = "v1"

// Error is the body of every answer that is not a 2xx.
type Error struct {
	Error string `json:"error"`
}

// Tree is the supervision tree: GET /api/v1/tree.
type Tree struct {
	Roots []Node `json:"roots"`
	// Processes counts every live process, under the tree or not.
	Processes int `json:"processes"`
}

// Node is a supervisor or a child in the Tree.
type Node struct {
	ID      string    `json:"id,omitempty"` // the child spec's id; a root's name
	PID     actor.PID `json:"pid,omitempty"`
	Name    string    `json:"name,omitempty"` // registered name
	Type    string    `json:"type"`           // "supervisor" or "worker"
	Module  string    `json:"module"`
	Version string    `json:"version,omitempty"`
	Pinned  bool      `json:"pinned,omitempty"`
	// Status is "running", "restarting" (a restart failed and is queued),
	// or "stopped" (its spec is kept, no process runs).
	Status   string `json:"status"`
	Restart  string `json:"restart,omitempty"` // permanent, transient, temporary
	Restarts int    `json:"restarts"`
	Queued   int    `json:"queued"`
	// Strategy of a supervisor: one_for_one, one_for_all, rest_for_one,
	// simple_one_for_one.
	Strategy string `json:"strategy,omitempty"`
	Children []Node `json:"children,omitempty"`
}

// Process is one process: GET /api/v1/processes/{pid}. The list at GET
// /api/v1/processes is []actor.ProcessStat.
type Process struct {
	actor.ProcessStat
	Links     []actor.PID `json:"links"`
	TrapExit  bool        `json:"trap_exit"`
	Suspended bool        `json:"suspended"`
	// State is what the module shows of its state (see StateInspector),
	// only when asked for (?state=1); StateRedacted says it was not shown.
	State         json.RawMessage `json:"state,omitempty"`
	StateRedacted bool            `json:"state_redacted,omitempty"`
}

// Module is one module's versions: GET /api/v1/modules is []Module.
type Module struct {
	Name     string    `json:"name"`
	Current  string    `json:"current"`
	Previous string    `json:"previous,omitempty"`
	Versions []Version `json:"versions"`
	Retired  []string  `json:"retired,omitempty"`
}

// Version is a version a system knows, with its lineage.
type Version struct {
	Name         string   `json:"name"`
	Follows      string   `json:"follows,omitempty"`
	UpgradesFrom []string `json:"upgrades_from,omitempty"`
	DowngradesTo []string `json:"downgrades_to,omitempty"`
	Activations  int64    `json:"activations"`
	Current      bool     `json:"current,omitempty"`
}

// Upgrade is an upgrade started through the API: POST /api/v1/upgrades
// answers it (202), GET /api/v1/upgrades/{id} follows it, GET
// /api/v1/upgrades lists them (newest first).
type Upgrade struct {
	ID string `json:"id"`
	// State is "running", "cancelling", or once done the report's outcome
	// (committed, rolled_back, simulated, converged, unconverged,
	// refused), or "failed" when the plan could not be resolved (Error).
	State    string           `json:"state"`
	Plan     upgrade.PlanSpec `json:"plan"`
	Started  time.Time        `json:"started"`
	Finished *time.Time       `json:"finished,omitempty"`
	// Steps are the plan's steps so far (per-process steps are on the
	// event stream).
	Steps  []Event          `json:"steps"`
	Report *upgrade.Summary `json:"report,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// Done reports whether the upgrade has ended.
func (u Upgrade) Done() bool { return u.State != "running" && u.State != "cancelling" }

// Event is one event on the stream (GET /api/v1/events, Server-Sent
// Events: "event:" is Type, "data:" this document, "id:" Seq) and in an
// Upgrade's steps. Type is the Go type's name ("ChildStarted",
// "ProcessMigrated", "UpgradeCommitted", ...); Data its fields, PIDs and
// errors as text.
type Event struct {
	Seq     uint64         `json:"seq"`
	Time    time.Time      `json:"time"`
	Type    string         `json:"type"`
	Upgrade string         `json:"upgrade,omitempty"` // the upgrade it belongs to, if any
	Data    map[string]any `json:"data,omitempty"`
}

// Health is GET /healthz and /readyz (and /api/v1/status).
type Health struct {
	Status    string `json:"status"` // "ok", or "not ready" with Error
	Error     string `json:"error,omitempty"`
	Node      string `json:"node,omitempty"`
	Processes int    `json:"processes"`
	Modules   int    `json:"modules"`
	Uptime    string `json:"uptime"`
	Graft     string `json:"graft"` // the graft version serving the API
}

// StateInspector is implemented by a module's state type to show an
// operator what it holds: GET /api/v1/processes/{pid}?state=1 answers
// InspectState's value as JSON. A state that does not implement it is
// shown redacted (OTP's sys:get_state, with a safety catch: states hold
// secrets). InspectState runs in the process, between its messages; a
// panic is an error of the request, never a crash.
type StateInspector interface {
	InspectState() any
}
