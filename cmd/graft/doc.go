// Command graft operates a running Graft node through its admin API
// (package admin; the Go client is package admin/client): the supervision
// tree, processes, modules and their versions, hot code upgrades and the
// event stream.
//
//	make build     # bin/graft (the command is a module of its own: cmd/graft/go.mod)
//
// # Commands
//
//	graft status                       the node's health, name, Graft version, uptime, process and module counts
//	graft tree                         the supervision tree, drawn as a tree: each child's PID, module,
//	                                   version ("(pinned)" during a rolling upgrade), status (running,
//	                                   restarting, stopped), restarts and queued messages
//	graft ps                           every live process: PID, registered name, module, version, queued
//	                                   messages, messages taken, parent
//	graft inspect PID [--state]        one process: the above plus links, trap_exit, suspension; with
//	                                   --state what its module shows of its state (admin.StateInspector),
//	                                   or "redacted"
//	graft kill PID                     kill a process (exit reason killed); its supervisor restarts it as
//	                                   its restart type says
//	graft modules                      every module's versions: current, previous, lineage (follows,
//	                                   upgrades from, downgrades to), activations, retired versions
//	graft upgrade PLAN.json | --module M --to V [flags]
//	                                   start an upgrade, print its steps as they happen and then its
//	                                   report (upgrade.Summary)
//	graft downgrade PLAN.json | --module M --to V [flags]
//	                                   the same request as upgrade, under the name an operator looks for
//	graft cancel ID                    stop a running upgrade before its commit (it rolls back)
//	graft upgrades                     the upgrades started through the API, newest first
//	graft upgrade-binary PATH --checksum SHA256
//	                                   hand the node over to a new build of its executable (a handoff,
//	                                   package handoff) and print the report: every process, old PID →
//	                                   new PID, versions, state bytes, result; exit 1 if it was aborted
//	graft run [--] PATH [ARGS...]      run a service and stay its parent across binary handoffs (Linux:
//	                                   a child subreaper; the handoff names each new build the main
//	                                   process through NOTIFY_SOCKET); signals go to the main process of
//	                                   the moment; exits with the last main process's status
//	graft events [--follow] [--upgrade ID]
//	                                   the recorded steps of the upgrades (of one); with --follow the
//	                                   node's events live, until interrupted (with --upgrade, until that
//	                                   upgrade ends)
//	graft version                      the command's version (module version, VCS revision and Go
//	                                   version from its build information) and, if a node answers, the
//	                                   node's Graft version
//
// # A cluster
//
// With --cluster, a few commands are about every node of the node's
// cluster, through the cluster endpoints of its admin API (served when the
// service mounts package cluster/clusteradmin on its admin server; the
// command itself knows nothing of Ergo or the cluster module):
//
//	graft --cluster status             the nodes: name, connected, incarnation
//	graft --cluster tree               each node's processes under their parents, with the version each
//	                                   runs; a node that does not answer is listed with why
//	graft --cluster ps                 every process of every node, with its node
//	graft --cluster modules            each node's modules: current, previous, the versions it knows with
//	                                   their activations; then a line for each module whose nodes differ
//	graft --cluster upgrade --module M --to V [--nodes A,B] [--wave-size N] [--cluster-observe D]
//	                      [--node-timeout D]
//	                                   a cluster-wide upgrade: a dry run on every node (or --nodes), then
//	                                   commits in waves of --wave-size nodes, in --nodes' order, with a
//	                                   health gate before each wave after the first; a failure rolls every
//	                                   committed node back. The command waits for the end and prints each
//	                                   node's outcome, the versions it ran before, and its processes
//
// The plan (a file or the flags) is a single node's, but for dry-run, which
// a cluster upgrade runs on every node anyway. Each node resolves the
// plan's versions itself: they must be compiled into it, staged there, or
// named by path. PIDs in the cluster's output are as each node numbers its
// own processes. A node whose admin API has no cluster endpoints answers
// 404, and the command says "this node is not in a cluster" (exit status
// 2). With -o json the commands print the API's documents (
// []admin.ClusterNode, []admin.NodeTree, []admin.NodeModules,
// admin.ClusterUpgrade; ps, one object per process with its "node").
//
// PIDs are written as graft prints them, "<0.12.0>", or without the angle
// brackets, "0.12.0" (no quoting needed in a shell).
//
// # Upgrades
//
// The plan is a file holding an upgrade.PlanSpec as JSON ("-" reads it
// from standard input):
//
//	{"mode": "rolling", "waves": [0.1, 1], "timeout": "5s",
//	 "gate": {"observe": "2s", "max_crashes": 0},
//	 "changes": [{"module": "visits", "version": "v3",
//	              "path": "/srv/plugins/visits-v3", "checksum": "f2f1…"}]}
//
// or is built from flags, for one module:
//
//	--module M          the module to move
//	--to V              the version to move it to
//	--path P            a plugin version's executable
//	--checksum C        the SHA-256 the executable must have
//	--mode MODE         atomic (default), rolling, lazy, or dry-run (an atomic plan computed and
//	                    simulated, changing nothing)
//	--waves 0.1,1       a rolling upgrade's waves: fractions of the processes, increasing, ending at 1
//	--observe 2s        a rolling upgrade's gate: how long each wave is watched
//	--max-crashes N     a rolling upgrade's gate: crashes a wave may have
//	--timeout 5s        how long processes have to suspend and migrate (lazy: to converge)
//	--stragglers P      processes on an older version of the module: migrate (default), refuse, kill
//
// A plan file and these flags are exclusive; --waves, --observe and
// --max-crashes need --mode rolling. Either way the plan is checked with
// upgrade.ParsePlan, as the node checks it, before it is sent: a bad plan
// (an unknown field, waves for a plan that is not rolling, a negative
// duration, an unknown policy) is a usage error and reaches no node.
//
// upgrade and downgrade send the same request. Whether a move runs a
// version's CodeChange or its Downgrade is decided by the module's lineage
// (what each version follows, what its CodeChange migrates from and its
// Downgrade returns to), never by the command's name; the report says
// which way each module went ("up" or "down").
//
// The command subscribes to the node's event stream before it starts the
// upgrade, so it prints every step of it, process by process, as it
// happens (the stream carries every upgrade's steps with its ID; the
// command keeps this upgrade's). When the upgrade ends it prints the
// report (upgrade.Summary.WriteTable): the outcome, each module's move,
// the counts per result, then one line per process, failures first. An
// interrupt stops the command, not the upgrade: it goes on in the node
// (graft upgrades, graft cancel ID). The node runs one upgrade at a time.
//
// # Output
//
// Tables and lines for people by default. -o json prints the API's
// documents instead (admin.Tree, []actor.ProcessStat, admin.Process,
// []admin.Module, admin.Upgrade, []admin.Upgrade, admin.Health,
// admin.HandoffResult), indented;
// upgrade prints the upgrade's document once it has ended, with its
// report; cancel the upgrade's document; events one admin.Event per line;
// kill {"pid": PID, "killed": true}; version {"command": VERSION, "node":
// admin.Health or null}. Errors go to standard
// error, one line each, and never to standard output.
//
// # Finding the node
//
// Global flags, then environment variables, then defaults:
//
//	--addr        GRAFT_ADDR         the admin API: host:port, or http://host:port/prefix for an API
//	                                 mounted in a service's own server (default admin.DefaultAddr,
//	                                 127.0.0.1:8470)
//	--token       GRAFT_TOKEN        the bearer token
//	--token-file  GRAFT_TOKEN_FILE   a file holding the token (surrounding white space is ignored)
//
// The token is --token, else GRAFT_TOKEN, else read from --token-file,
// else from GRAFT_TOKEN_FILE, else from the token file the node writes
// when it starts its own listener (admin.Start): admin.DefaultTokenFile of
// the address's port, $XDG_RUNTIME_DIR/graft-admin-PORT.token, or
// $TMPDIR/graft-UID/graft-admin-PORT.token without XDG_RUNTIME_DIR, mode
// 0600, removed when the node closes the API. On the node's machine, as
// the node's user, the command therefore needs no flag at all. A token
// file named by a flag or the environment must be readable; the default
// one may be missing, and then a node that asks for a token is answered
// with where a token comes from.
//
// # Exit status
//
//	0  done: for upgrade and downgrade, the plan committed, was simulated (dry run) or converged (lazy);
//	   with --cluster, committed on every node
//	1  the node said no: an upgrade rolled back, refused (the node answers 422 for a plan it cannot
//	   run), failed or unconverged (with --cluster: aborted, rolled back or stuck); an unknown process
//	   or upgrade; a cancel too late; an interrupt
//	   (except for events --follow, which ends that way, with 0)
//	2  the command could not be run as asked: a usage error, a bad plan, a bad address, a node that
//	   does not answer ("no Graft node answers at ADDR"), a refused or missing token, --cluster for a
//	   node that is not in a cluster
package main
