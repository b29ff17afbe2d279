package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
)

func TestTree(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "tree")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 1+6+1, r) // header, top, single, pool and its 3 workers, the count
	assert.Regexp(t, `^TREE\s+PID\s+MODULE\s+VERSION\s+STATUS\s+RESTARTS\s+QUEUED$`, lines[0])
	assert.Regexp(t, `^top \[one_for_one\]\s+<0\.\d+\.0>\s+graft\.supervisor\s+v1\s+running\s+0\s+0$`, lines[1])
	assert.Regexp(t, `^├─ single\s+`+regexpPID(n.single)+`\s+svc\s+v1\s+running\s+0\s+0$`, lines[2])
	assert.Regexp(t, `^└─ pool \[simple_one_for_one\]\s+<0\.\d+\.0>`, lines[3])
	for i, pid := range n.workers {
		branch := "├─ "
		if i == len(n.workers)-1 {
			branch = "└─ "
		}
		assert.Regexp(t, `^   `+branch+`worker\s+`+regexpPID(pid)+`\s+svc\s+v1\s+running\s+0\s+0$`, lines[4+i])
	}
	assert.Regexp(t, `^\d+ processes on the node$`, lines[7])
}

func regexpPID(pid actor.PID) string {
	return strings.NewReplacer("<", `<`, ".", `\.`).Replace(pid.String())
}

func TestPs(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "ps")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `^PID\s+NAME\s+MODULE\s+VERSION\s+QUEUED\s+TAKEN\s+PARENT\n`, r.stdout)
	for _, pid := range append([]actor.PID{n.single}, n.workers...) {
		assert.Regexp(t, `(?m)^`+regexpPID(pid)+`\s+-\s+svc\s+v1\s+0\s+0\s+<0\.\d+\.0>$`, r.stdout)
	}
	assert.Regexp(t, `(?m)^<0\.\d+\.0>\s+top\s+`, r.stdout, "the root's registered name")
}

func TestInspect(t *testing.T) {
	n := startNode(t)
	pid := n.workers[1]
	for range 2 {
		_, err := n.sys.Call(t.Context(), pid, inc{})
		require.NoError(t, err)
	}

	r := n.graft(t, "inspect", pid.String())
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "pid:       "+pid.String()+"\n")
	assert.Contains(t, r.stdout, "module:    svc\n")
	assert.Contains(t, r.stdout, "version:   v1\n")
	assert.Contains(t, r.stdout, "taken:     2\n")
	assert.Contains(t, r.stdout, "trap_exit: false\n")
	assert.NotContains(t, r.stdout, "state:")

	// v1's state (an int) does not show itself.
	r = n.graft(t, "inspect", strings.Trim(pid.String(), "<>"), "--state")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "state:     redacted")

	// v2's does.
	require.Equal(t, 0, n.graft(t, "upgrade", "--module", "svc", "--to", "v2").code)
	r = n.graft(t, "inspect", pid.String(), "--state")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "version:   v2\n")
	assert.Contains(t, r.stdout, "state:     {\n             \"n\": 2\n           }\n")

	r = n.graft(t, "inspect", "<0.99999.0>")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: no process <0.99999.0>\n", r.stderr)

	r = n.graft(t, "inspect", "twelve")
	assert.Equal(t, 2, r.code, r)
	assert.Equal(t, `graft inspect: "twelve" is not a PID: write it as graft prints it, "<0.12.0>" or "0.12.0" (see graft inspect --help)`+"\n", r.stderr)
}

func TestKill(t *testing.T) {
	n := startNode(t)
	probe := actortest.NewProbe(t, n.sys.System)
	pid := n.workers[0]
	probe.Monitor(pid)
	r := n.graft(t, "kill", pid.String())
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "killed "+pid.String()+"\n", r.stdout)
	probe.ExpectDown(pid, actor.Killed)

	r = n.graft(t, "kill", pid.String())
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: no process "+pid.String()+"\n", r.stderr)
}

func TestModules(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "modules")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `^MODULE\s+VERSION\s+STATE\s+FOLLOWS\s+UPGRADES FROM\s+DOWNGRADES TO\s+ACTIVATIONS\n`, r.stdout)
	assert.Regexp(t, `(?m)^svc\s+v1\s+current\s+-\s+-\s+-\s+\d+$`, r.stdout)
	assert.Regexp(t, `(?m)^svc\s+v2\s+-\s+v1\s+-\s+-\s+0$`, r.stdout, "compiled-in versions are staged: known, not current")
}

func TestUpgradeCommitted(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "upgrade", "--module", "svc", "--to", "v2")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr)

	// The steps as they happened, then the report.
	assert.Regexp(t, `^upgrade 1: svc → v2 \(atomic\)\n`, r.stdout)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3}  PlanAccepted  `, r.stdout)
	for _, pid := range append([]actor.PID{n.single}, n.workers...) {
		assert.Regexp(t, `(?m)^\S+  ProcessMigrated  pid=`+regexpPID(pid)+` module=svc from=v1 to=v2$`, r.stdout)
		assert.Regexp(t, `(?m)^\S+  ProcessResumed  pid=`+regexpPID(pid)+` module=svc version=v2$`, r.stdout)
	}
	assert.Regexp(t, `(?m)^\S+  UpgradeCommitted$`, r.stdout)
	assert.Regexp(t, `(?m)^\S+  UpgradeFinished  `, r.stdout)
	steps, report, ok := strings.Cut(r.stdout, "\nupgrade 1: committed\n")
	require.True(t, ok, r)
	assert.Less(t, strings.Index(steps, "PlanAccepted"), strings.Index(steps, "UpgradeCommitted"))
	assert.Contains(t, report, "outcome:   committed\n")
	assert.Contains(t, report, "mode:      atomic\n")
	assert.Contains(t, report, "module:    svc v1 → v2 (up)\n")
	assert.Contains(t, report, "processes: 4 migrated=4\n")
	for _, pid := range n.workers {
		assert.Regexp(t, `(?m)^`+regexpPID(pid)+`\s+svc\s+v1\s+v2\s+migrated\s+`, report)
	}

	// The node runs v2.
	assert.Equal(t, "v2", n.current(t))
	for pid, v := range n.versions() {
		assert.Equal(t, "v2", v, pid)
	}
	r = n.graft(t, "modules")
	assert.Regexp(t, `(?m)^svc\s+v2\s+current\s+v1\s+`, r.stdout)
	assert.Regexp(t, `(?m)^svc\s+v1\s+previous\s+`, r.stdout)
	r = n.graft(t, "upgrades")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `(?m)^1\s+committed\s+svc → v2 \(atomic\)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S+$`, r.stdout)
	r = n.graft(t, "events", "--upgrade", "1")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `(?m)^\S+  PlanAccepted  `, r.stdout)
	assert.NotContains(t, r.stdout, "ProcessMigrated", "the recorded steps are the plan's")

	// And back: downgrade sends the same request; the lineage says which
	// way it goes.
	r = n.graft(t, "downgrade", "--module", "svc", "--to", "v1")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "module:    svc v2 → v1 (down)\n")
	assert.Equal(t, "v1", n.current(t))
}

func TestUpgradeRolledBack(t *testing.T) {
	n := startNode(t)
	// v3 is reached through v2 (staged, never named): v1 → v2 runs, then
	// v3's step fails and everything rolls back.
	r := n.graft(t, "upgrade", "--module", "svc", "--to", "v3")
	require.Equal(t, 1, r.code, r)
	assert.Regexp(t, `^graft: upgrade 1 rolled back: .*step v2 up to v3: v3 cannot read this state\n$`, r.stderr)
	assert.Equal(t, "v1", n.current(t))

	require.Equal(t, 0, n.graft(t, "upgrade", "--module", "svc", "--to", "v2").code)
	before := n.versions()
	r = n.graft(t, "upgrade", "--module", "svc", "--to", "v3")
	require.Equal(t, 1, r.code, r)
	assert.Regexp(t, `^graft: upgrade 3 rolled back: .*v3 cannot read this state.*\n$`, r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line")
	assert.Regexp(t, `(?m)^\S+  ProcessFailed  pid=<0\.\d+\.0> module=svc err=".*v3 cannot read this state.*"$`, r.stdout)
	assert.Regexp(t, `(?m)^\S+  UpgradeRolledBack  reason=`, r.stdout)
	assert.Contains(t, r.stdout, "\nupgrade 3: rolled_back\n")
	assert.Contains(t, r.stdout, "outcome:   rolled_back\n")
	assert.Equal(t, "v2", n.current(t))
	assert.Equal(t, before, n.versions())
}

func TestUpgradeDryRun(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "upgrade", "--module", "svc", "--to", "v2", "--mode", "dry-run")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "upgrade 1: svc → v2 (atomic, dry run)\n")
	assert.Regexp(t, `(?m)^\S+  UpgradeSimulated  failures=0$`, r.stdout)
	assert.Contains(t, r.stdout, "outcome:   simulated\n")
	assert.Contains(t, r.stdout, "mode:      atomic (dry run)\n")
	assert.Equal(t, "v1", n.current(t))
	for _, v := range n.versions() {
		assert.Equal(t, "v1", v)
	}
}

func TestUpgradeFromAPlanFile(t *testing.T) {
	n := startNode(t)
	plan := `{"mode": "rolling", "waves": [0.5, 1], "timeout": "10s", "changes": [{"module": "svc", "version": "v2"}]}`

	// From standard input, and -o json: the upgrade's document.
	r := graft(t, nil, plan, "--addr", n.addr, "--token", testToken, "-o", "json", "upgrade", "-")
	require.Equal(t, 0, r.code, r)
	var u admin.Upgrade
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &u), r)
	assert.Equal(t, "committed", u.State)
	assert.Equal(t, "rolling", u.Plan.Mode)
	assert.Equal(t, []float64{0.5, 1}, u.Plan.Waves)
	require.NotNil(t, u.Report)
	assert.Equal(t, 4, u.Report.Counts["migrated"])
	assert.Equal(t, "v2", n.current(t))

	// From a file: back to v1 with a plan in a file, in a table.
	file := filepath.Join(t.TempDir(), "down.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"changes": [{"module": "svc", "version": "v1"}]}`), 0o600))
	r = n.graft(t, "downgrade", file)
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "outcome:   committed\n")
	assert.Equal(t, "v1", n.current(t))
}

func TestBadPlans(t *testing.T) {
	n := startNode(t)
	unknownField := filepath.Join(t.TempDir(), "plan.json")
	require.NoError(t, os.WriteFile(unknownField, []byte(`{"changes": [{"module": "svc", "version": "v2"}], "wave": [0.5, 1]}`), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"upgrade", unknownField},
			"graft upgrade: " + unknownField + `: invalid plan: json: unknown field "wave" (see graft upgrade --help)`},
		{[]string{"upgrade", "--module", "svc", "--to", "v2", "--waves", "0.5,1"},
			"graft upgrade: --waves is for rolling upgrades (--mode rolling), not atomic (see graft upgrade --help)"},
		{[]string{"upgrade", "--module", "svc", "--to", "v2", "--mode", "rolling", "--waves", "0.5,0.2"},
			"graft upgrade: invalid plan: waves must increase strictly within (0, 1] and end at 1: [0.5 0.2] (see graft upgrade --help)"},
		{[]string{"upgrade", "--module", "svc", "--to", "v2", "--mode", "fast"},
			`graft upgrade: --mode "fast": want atomic, rolling, lazy or dry-run (see graft upgrade --help)`},
		{[]string{"upgrade", "--module", "svc", "--to", "v2", "--stragglers", "ignore"},
			`graft upgrade: invalid plan: unknown straggler policy "ignore" (migrate, refuse, kill) (see graft upgrade --help)`},
		{[]string{"upgrade", "--module", "svc", "--to", "v2", "--timeout", "-1s"},
			"graft upgrade: invalid plan: timeout: negative duration -1s (see graft upgrade --help)"},
		{[]string{"upgrade", "--module", "svc"},
			"graft upgrade: give a plan file, or --module and --to (see graft upgrade --help)"},
		{[]string{"upgrade", unknownField, "--mode", "lazy"},
			"graft upgrade: give a plan file or flags, not both (--mode) (see graft upgrade --help)"},
		{[]string{"upgrade", filepath.Join(t.TempDir(), "missing.json")},
			"graft upgrade: cannot read the plan: open "},
	} {
		r := n.graft(t, tc.args...)
		assert.Equal(t, 2, r.code, "%v: %v", tc.args, r)
		assert.True(t, strings.HasPrefix(r.stderr, tc.want), "%v:\n got %q\nwant %q", tc.args, r.stderr, tc.want)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		assert.Empty(t, r.stdout)
	}
	// Nothing reached the node.
	assert.Equal(t, "v1", n.current(t))
	r := n.graft(t, "-o", "json", "upgrades")
	require.Equal(t, 0, r.code, r)
	assert.JSONEq(t, "[]", r.stdout)

	// A plan the node refuses: a version it does not have.
	r = n.graft(t, "upgrade", "--module", "svc", "--to", "v9")
	assert.Equal(t, 1, r.code, r)
	assert.Regexp(t, `^graft: .*v9.*\n$`, r.stderr)
	assert.Equal(t, "v1", n.current(t))
}

func TestBadToken(t *testing.T) {
	n := startNode(t)
	r := graft(t, nil, "", "--addr", n.addr, "--token", "wrong", "tree")
	assert.Equal(t, 2, r.code, r)
	assert.Equal(t, "graft: the node refused the token (check --token, GRAFT_TOKEN or the token file "+
		admin.DefaultTokenFile(n.port(t))+")\n", r.stderr)
	assert.Empty(t, r.stdout)

	// A token file named by the environment, read and trimmed.
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("  "+testToken+"\n"), 0o600))
	r = graft(t, map[string]string{"GRAFT_ADDR": n.addr, "GRAFT_TOKEN_FILE": file}, "", "status")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "status:    ok\n")
	assert.Contains(t, r.stdout, "node:      test-node\n")

	// The node's own token file.
	r = graft(t, nil, "", "--addr", n.addr, "--token-file", n.srv.TokenFile(), "status")
	require.Equal(t, 0, r.code, r)

	// GRAFT_TOKEN loses to --token.
	r = graft(t, map[string]string{"GRAFT_TOKEN": testToken}, "", "--addr", n.addr, "--token", "wrong", "status")
	assert.Equal(t, 2, r.code, r)

	// A named token file that is not there.
	r = graft(t, nil, "", "--addr", n.addr, "--token-file", filepath.Join(t.TempDir(), "nope"), "status")
	assert.Equal(t, 2, r.code, r)
	assert.Regexp(t, `^graft status: cannot read the token file: open .*nope: no such file or directory \(see graft status --help\)\n$`, r.stderr)
}

// With no token given, the command reads the file the node wrote for its
// port; without that file it says where a token comes from.
func TestDefaultTokenFile(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	n := startNode(t, func(o *admin.Options) { o.TokenFile = "" })
	require.Equal(t, admin.DefaultTokenFile(n.port(t)), n.srv.TokenFile())
	r := graft(t, map[string]string{"GRAFT_ADDR": n.addr}, "", "status")
	require.Equal(t, 0, r.code, r)

	require.NoError(t, os.Remove(n.srv.TokenFile()))
	r = graft(t, map[string]string{"GRAFT_ADDR": n.addr}, "", "status")
	assert.Equal(t, 2, r.code, r)
	assert.Equal(t, "graft: no token: give --token or GRAFT_TOKEN, or a token file with --token-file or GRAFT_TOKEN_FILE (the node's own, "+
		admin.DefaultTokenFile(n.port(t))+", cannot be read: no such file or directory)\n", r.stderr)
}

func TestNodeNotRunning(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{{"tree"}, {"upgrade", "--module", "svc", "--to", "v2"}, {"events", "--follow"}} {
		r := graft(t, map[string]string{"GRAFT_ADDR": addr, "GRAFT_TOKEN": "t"}, "", args...)
		assert.Equal(t, 2, r.code, "%v: %v", args, r)
		assert.Equal(t, "graft: no Graft node answers at "+addr+" (is it running? --addr or GRAFT_ADDR)\n", r.stderr, args)
		assert.Empty(t, r.stdout)
	}
	r := graft(t, nil, "", "--addr", "not an address", "--token", "t", "tree")
	assert.Equal(t, 2, r.code, r)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
}

func TestEventsFollow(t *testing.T) {
	n := startNode(t)
	ctx, stop := context.WithTimeout(t.Context(), time.Minute) // bounds the waits only
	defer stop()
	follow, cancel := context.WithCancel(ctx)
	defer cancel()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	code := make(chan int, 1)
	go func() {
		code <- run(follow, []string{"--addr", n.addr, "--token", testToken, "events", "--follow"},
			strings.NewReader(""), stdout, stderr, func(string) string { return "" })
	}()
	stderr.waitFor(ctx, t, "graft: following the events of "+n.addr)

	r := n.graft(t, "upgrade", "--module", "svc", "--to", "v2")
	require.Equal(t, 0, r.code, r)
	stdout.waitFor(ctx, t, "  1  UpgradeFinished  ")
	for _, pid := range n.workers {
		assert.Regexp(t, `(?m)^\S+  1  ProcessMigrated  pid=`+regexpPID(pid)+` module=svc from=v1 to=v2$`, stdout.String())
	}
	assert.Regexp(t, `(?m)^\S+  1  UpgradeCommitted$`, stdout.String())

	// Events that belong to no upgrade are on the stream too.
	probe := actortest.NewProbe(t, n.sys.System)
	probe.Monitor(n.workers[0])
	require.NoError(t, n.sys.Kill(n.workers[0]))
	probe.ExpectDown(n.workers[0], actor.Killed)
	stdout.waitFor(ctx, t, "  ChildExited  pid="+n.workers[0].String())

	cancel()
	select {
	case c := <-code:
		assert.Equal(t, 0, c, "interrupting a follow is how it ends")
	case <-ctx.Done():
		t.Fatal("the follow did not end")
	}

	// Following one upgrade that has ended prints its steps and ends.
	r = n.graft(t, "events", "--follow", "--upgrade", "1")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `(?m)^\S+  UpgradeCommitted$`, r.stdout)
	r = n.graft(t, "events", "--follow", "--upgrade", "7")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: no upgrade \"7\"\n", r.stderr)
}

func TestJSON(t *testing.T) {
	n := startNode(t)
	run := func(v any, args ...string) {
		t.Helper()
		r := n.graft(t, append([]string{"-o", "json"}, args...)...)
		require.Equal(t, 0, r.code, r)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), v), r.stdout)
	}
	var tree admin.Tree
	run(&tree, "tree")
	require.Len(t, tree.Roots, 1)
	require.Len(t, tree.Roots[0].Children, 2)
	assert.Equal(t, "simple_one_for_one", tree.Roots[0].Children[1].Strategy)
	assert.Len(t, tree.Roots[0].Children[1].Children, 3)

	var ps []actor.ProcessStat
	run(&ps, "ps")
	assert.GreaterOrEqual(t, len(ps), 6)

	var p admin.Process
	run(&p, "inspect", n.workers[0].String(), "--state")
	assert.Equal(t, n.workers[0], p.PID)
	assert.True(t, p.StateRedacted)

	var mods []admin.Module
	run(&mods, "modules")
	i := slices.IndexFunc(mods, func(m admin.Module) bool { return m.Name == "svc" })
	require.GreaterOrEqual(t, i, 0, mods)
	assert.Equal(t, "v1", mods[i].Current)

	var h admin.Health
	run(&h, "status")
	assert.Equal(t, "ok", h.Status)

	var v struct {
		Command string        `json:"command"`
		Node    *admin.Health `json:"node"`
	}
	run(&v, "version")
	assert.NotEmpty(t, v.Command)
	require.NotNil(t, v.Node)
	assert.Equal(t, "test-node", v.Node.Node)

	var u admin.Upgrade
	r := n.graft(t, "-o", "json", "upgrade", "--module", "svc", "--to", "v2", "--mode", "dry-run")
	require.Equal(t, 0, r.code, r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &u), r.stdout)
	assert.Equal(t, "simulated", u.State)
	require.Equal(t, 0, n.graft(t, "upgrade", "--module", "svc", "--to", "v2").code)
	r = n.graft(t, "-o", "json", "upgrade", "--module", "svc", "--to", "v3")
	assert.Equal(t, 1, r.code, r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &u), r.stdout)
	assert.Equal(t, "rolled_back", u.State)

	var us []admin.Upgrade
	run(&us, "upgrades")
	require.Len(t, us, 3)
	assert.Equal(t, u.ID, us[0].ID, "newest first")

	r = n.graft(t, "-o", "json", "events", "--upgrade", u.ID)
	require.Equal(t, 0, r.code, r)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev admin.Event
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		assert.Equal(t, u.ID, ev.Upgrade)
	}
}

func TestCancelAndVersion(t *testing.T) {
	n := startNode(t)
	r := n.graft(t, "cancel", "5")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: no upgrade \"5\"\n", r.stderr)

	require.Equal(t, 0, n.graft(t, "upgrade", "--module", "svc", "--to", "v2").code)
	r = n.graft(t, "cancel", "1")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, "graft: upgrade 1 has ended (committed)\n", r.stderr)

	r = n.graft(t, "version")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `^graft command  \S.*go1\.\d+.*\ngraft node     \S+ \(test-node at `+n.addr+`\)\n$`, r.stdout)

	// Without a node the command still says its own version.
	r = graft(t, nil, "", "--addr", closedAddr(t), "--token", "t", "version")
	require.Equal(t, 0, r.code, r)
	assert.Regexp(t, `^graft command  \S`, r.stdout)
	assert.NotContains(t, r.stdout, "graft node")
	assert.Contains(t, r.stderr, "no Graft node answers")
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `graft: unknown command "frobnicate" for "graft" (see graft --help)`},
		{[]string{"tree", "--colour"}, "graft tree: unknown flag: --colour (see graft tree --help)"},
		{[]string{"inspect"}, "graft inspect: wrong number of arguments; usage: graft inspect PID [flags] (see graft inspect --help)"},
		{[]string{"tree", "-o", "yaml"}, `graft tree: -o "yaml": want table or json (see graft tree --help)`},
	} {
		r := graft(t, nil, "", tc.args...)
		assert.Equal(t, 2, r.code, "%v: %v", tc.args, r)
		assert.Equal(t, tc.want+"\n", r.stderr, tc.args)
	}
	r := graft(t, nil, "", "--help")
	assert.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "upgrade")
}
