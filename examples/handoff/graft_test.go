package handoffdemo

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/handoff"
)

// buildGraft builds the graft command (module cmd/graft) into dir.
func buildGraft(t *testing.T, dir string) string {
	path := filepath.Join(dir, "graft")
	cmd := exec.Command("go", "build", "-o", path, ".")
	cmd.Dir = filepath.Join("..", "..", "cmd", "graft")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run(), "go build cmd/graft")
	return path
}

// upgradeBinary runs graft upgrade-binary against the service's admin API.
func (s *service) upgradeBinary(t *testing.T, graft, token, bin string) (code int, stdout, stderr string) {
	t.Helper()
	sum, err := handoff.Checksum(bin)
	require.NoError(t, err)
	var o, e bytes.Buffer
	cmd := exec.Command(graft, "--addr", "http://"+s.addr+"/graft", "--token", token, "upgrade-binary", bin, "--checksum", sum)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), o.String(), e.String()
	}
	require.NoError(t, err)
	return 0, o.String(), e.String()
}

// A handoff triggered through the admin API by graft upgrade-binary: an
// unhealthy build is aborted (exit 1, the old process serves on), then a
// good one commits (exit 0) and the report comes from the old process
// before it exits; the new process serves the admin API on the same socket.
func TestUpgradeBinaryThroughTheAdminAPI(t *testing.T) {
	dir := t.TempDir()
	bins := build(t, dir, "v1", "v2", "unhealthy")
	graft := buildGraft(t, dir)
	const accounts, token = 5, "0123456789abcdef0123456789abcdef"
	s := start(t, bins["v1"], dir, accounts, "-admin-token", token)

	code, stdout, stderr := s.upgradeBinary(t, graft, token, bins["unhealthy"])
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "handoff aborted at health")
	assert.Contains(t, stderr, "health check fails")
	assert.Contains(t, stderr, "(the old process runs on)")

	old, from := s.cur, s.seen
	code, stdout, stderr = s.upgradeBinary(t, graft, token, bins["v2"])
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "handoff committed")
	assert.Regexp(t, `(?m)acct-0\s+account\s+<0\.\d+\.0>\s+<0\.\d+\.0>\s+v1\s+v2\s+\d+\s+\d+\s+moved$`, stdout)
	// The old process exits once drained; the new one serves, the admin
	// API included.
	nl, i := s.out.await(t, from, "the new process listening", func(x line) bool { return x.Event == "listening" && x.PID != old })
	s.cur = nl.PID
	_, i2 := s.out.await(t, from, "the old process's exit", func(x line) bool { return x.Event == "exit" && x.PID == old })
	s.seen = max(i, i2)

	from = s.seen
	code, stdout, stderr = s.upgradeBinary(t, graft, token, bins["v1"])
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Regexp(t, `(?m)acct-0\s+account\s+<0\.\d+\.0>\s+<0\.\d+\.0>\s+v2\s+v1\s+\d+\s+\d+\s+moved$`, stdout)
	third, i := s.out.await(t, from, "the third process listening", func(x line) bool {
		return x.Event == "listening" && x.PID != nl.PID && x.PID != old
	})
	s.cur = third.PID
	_, i2 = s.out.await(t, from, "the second process's exit", func(x line) bool { return x.Event == "exit" && x.PID == nl.PID })
	s.seen = max(i, i2)
	assert.Equal(t, accounts, len(balances(t, s.addr, accounts)))
}
