package plugintest_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunningAndChildren(t *testing.T) {
	assert.True(t, plugintest.Running(os.Getpid()))
	assert.False(t, plugintest.Running(0))
	before := plugintest.Children()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	assert.True(t, plugintest.Running(pid))
	assert.Contains(t, plugintest.Children(), pid)
	require.NoError(t, cmd.Process.Kill())
	// Dead but not yet reaped, it is a zombie: not running.
	require.Eventually(t, func() bool { return !plugintest.Running(pid) }, 5*time.Second, time.Millisecond)
	_ = cmd.Wait()
	assert.False(t, plugintest.Running(pid))
	assert.Equal(t, before, plugintest.Children())
}

func TestBuildReportsCompileErrors(t *testing.T) {
	_, err := plugintest.Build(t.TempDir(), "x", "./no/such/package", nil)
	assert.Error(t, err)
}
