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

// The cluster's documents. A node in a cluster serves them under
// /api/v1/cluster when package cluster/clusteradmin is mounted on its
// admin server (the admin module itself knows nothing of clusters); a
// node that is not in one answers 404 there.

// ClusterNode is a node of the cluster: GET /api/v1/cluster/nodes is
// []ClusterNode, the node serving the API first.
type ClusterNode struct {
	Name string `json:"name"`
	// Self marks the node serving the API.
	Self bool `json:"self,omitempty"`
	// Connected: the serving node has a connection to it now (always true
	// for itself).
	Connected bool `json:"connected"`
	// Incarnation tells this run of the node from its other runs (16 hex
	// digits); "" for a node named in the configuration and never met.
	Incarnation string `json:"incarnation,omitempty"`
}

// NodeTree is one node's process tree: GET /api/v1/cluster/tree is
// []NodeTree. The tree is every live process under its parent (a
// supervisor's children under it), with the version each runs, as the
// node's System publishes it; PIDs are as that node numbers its own
// processes ("<0.12.0>"). Error says why the node could not be read (it
// is still listed).
type NodeTree struct {
	Node        string        `json:"node"`
	Incarnation string        `json:"incarnation,omitempty"`
	Error       string        `json:"error,omitempty"`
	Processes   int           `json:"processes"`
	Roots       []ProcessNode `json:"roots"`
}

// ProcessNode is a process in a NodeTree, with the processes it started.
type ProcessNode struct {
	actor.ProcessStat
	Children []ProcessNode `json:"children,omitempty"`
}

// NodeModules is one node's modules: GET /api/v1/cluster/modules is
// []NodeModules.
type NodeModules struct {
	Node        string   `json:"node"`
	Incarnation string   `json:"incarnation,omitempty"`
	Error       string   `json:"error,omitempty"`
	Modules     []Module `json:"modules"`
}

// ClusterPlan is the body of POST /api/v1/cluster/upgrades: one plan for
// every node, prepared (a dry run) on all of them, then committed node by
// node in waves. Each node resolves the plan's versions through its own
// loader: a version must be compiled into it (or staged there), or named
// by path.
type ClusterPlan struct {
	Plan upgrade.PlanSpec `json:"plan"`
	// Nodes are the nodes to upgrade, in commit order (default: every
	// node of GET /api/v1/cluster/nodes, in that order).
	Nodes []string `json:"nodes,omitempty"`
	// WaveSize is how many nodes commit per wave (default 1).
	WaveSize int `json:"wave_size,omitempty"`
	// Gate, if set, checks the nodes committed so far before each wave
	// after the first.
	Gate *ClusterGate `json:"gate,omitempty"`
	// Timeout bounds each node's answer to each phase (a Go duration;
	// default 1m).
	Timeout string `json:"timeout,omitempty"`
}

// ClusterGate is a cluster upgrade's health gate: before each wave after
// the first it waits Observe, then every node committed so far must
// answer and run the plan's versions, every process of the plan's modules
// included; otherwise every committed node is rolled back.
type ClusterGate struct {
	Observe string `json:"observe,omitempty"` // a Go duration (default 0), less than the plan's timeout
}

// ClusterUpgrade is a cluster-wide upgrade started through the API: POST
// /api/v1/cluster/upgrades answers it once it has ended (200); GET
// /api/v1/cluster/upgrades lists them, newest first.
type ClusterUpgrade struct {
	ID string `json:"id"`
	// State is "running", or the outcome: committed, aborted (a node was
	// not ready: nothing committed), rolled_back (a wave failed: every
	// committed node rolled back), stuck (a rollback failed: see the
	// nodes).
	State    string              `json:"state"`
	Plan     ClusterPlan         `json:"plan"`
	Started  time.Time           `json:"started"`
	Finished *time.Time          `json:"finished,omitempty"`
	Reason   string              `json:"reason,omitempty"`
	Nodes    []ClusterNodeReport `json:"nodes"`
}

// ClusterNodeReport is one node's part in a ClusterUpgrade.
type ClusterNodeReport struct {
	Node string `json:"node"`
	// Outcome: prepared (its dry run passed; the upgrade stopped before
	// it committed), unchanged (it ran the plan's versions already),
	// refused, committed, rolled_back, stuck, lost (it could not be
	// reached).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Previous are the versions it ran before, by module.
	Previous map[string]string `json:"previous,omitempty"`
	// Its reports of each phase it ran: every process, its move and
	// result.
	Prepare  *upgrade.Summary `json:"prepare,omitempty"`
	Commit   *upgrade.Summary `json:"commit,omitempty"`
	Rollback *upgrade.Summary `json:"rollback,omitempty"`
}
