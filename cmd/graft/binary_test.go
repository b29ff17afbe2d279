package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The real binary, built and run as a person or a script would: its exit
// statuses and its one-line errors come from main, not from run alone.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "graft")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	n := startNode(t)
	env := []string{"GRAFT_ADDR=" + n.addr, "GRAFT_TOKEN=" + testToken}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GRAFT_") {
			env = append(env, kv)
		}
	}
	graftExec := func(env []string, args ...string) (int, string, string) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), stdout.String(), stderr.String()
		}
		require.NoError(t, err)
		return 0, stdout.String(), stderr.String()
	}

	code, stdout, stderr := graftExec(env, "tree")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "pool [simple_one_for_one]")

	code, stdout, stderr = graftExec(env, "upgrade", "--module", "svc", "--to", "v2")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "outcome:   committed\n")
	code, stdout, stderr = graftExec(env, "upgrade", "--module", "svc", "--to", "v3")
	assert.Equal(t, 1, code, stdout)
	assert.Regexp(t, `^graft: upgrade 2 rolled back: .*\n$`, stderr)
	assert.Equal(t, "v2", n.current(t))

	code, stdout, stderr = graftExec(env, "version")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `^graft command  \S.*\ngraft node     `, stdout)

	code, stdout, stderr = graftExec(append(env, "GRAFT_ADDR="+closedAddr(t)), "status")
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Regexp(t, `^graft: no Graft node answers at 127\.0\.0\.1:\d+ \(is it running\? --addr or GRAFT_ADDR\)\n$`, stderr)

	code, _, stderr = graftExec(env, "upgrade", "--module", "svc", "--to", "v2", "--waves", "0.1,1")
	assert.Equal(t, 2, code)
	assert.Equal(t, "graft upgrade: --waves is for rolling upgrades (--mode rolling), not atomic (see graft upgrade --help)\n", stderr)
}
