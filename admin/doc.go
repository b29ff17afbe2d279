// Package admin serves Graft's admin API: the supervision tree, processes,
// modules and upgrades of a running service, an event stream, health,
// Prometheus metrics and a live view, to operators and to the graft
// command. One call adds it to a service: Start (its own listener on
// loopback) or Mount (the service's own http.ServeMux). Every request
// carries a bearer token ("Authorization: Bearer TOKEN"), compared in
// constant time; see docs/operations.md for the security model.
//
// Routes, below Options.Prefix:
//
//	GET  /                                 the live view (static page; the token is in its URL fragment)
//	GET  /healthz, /readyz                 Health
//	GET  /metrics                          Prometheus text format
//	GET  /api/v1/status                    Health
//	GET  /api/v1/tree                      Tree
//	GET  /api/v1/processes                 []actor.ProcessStat
//	GET  /api/v1/processes/{pid}[?state=1] Process ({pid}: "<0.12.0>" or "0.12.0")
//	POST /api/v1/processes/{pid}/kill      204; the process is killed (exit reason killed)
//	GET  /api/v1/modules                   []Module
//	POST /api/v1/upgrades                  body: upgrade.PlanSpec; 202 Upgrade (?wait=1: 200 when done)
//	GET  /api/v1/upgrades                  []Upgrade, newest first
//	GET  /api/v1/upgrades/{id}             Upgrade
//	POST /api/v1/upgrades/{id}/cancel      202 Upgrade; 409 once it committed or ended
//	GET  /api/v1/events[?upgrade=ID]       Server-Sent Events, each an Event
//	POST /api/v1/handoff                   body: HandoffRequest; 200 HandoffResult when it committed or
//	                                       was aborted (Options.Handoff; 404 without, 409 if under way)
//
// Server.Handle adds endpoints from other packages, behind the same token:
// package cluster/clusteradmin adds the cluster's under /api/v1/cluster
// (their documents, ClusterNode, NodeTree, NodeModules, ClusterPlan and
// ClusterUpgrade, are defined here, so that the client and the graft
// command read them without the cluster module).
//
// Errors are an Error document with a 4xx or 5xx status: 400 malformed
// input, 401 missing or wrong token, 404 unknown path, process or upgrade,
// 405 wrong method, 409 conflict, 413 body over Options.MaxBody, 422 a plan
// that parses but cannot run (refused or failed to resolve).
package admin
