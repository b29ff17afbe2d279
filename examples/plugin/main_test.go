package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUpgradesToPluginsBuiltAfterStartLoseNothing(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, options{workers: 4, rate: 4000, workDir: t.TempDir(), gate: 50 * time.Millisecond},
		zaptest.NewLogger(t))
	require.NoError(t, err, out.String())
	s := out.String()
	assert.Contains(t, s, "v1 -> v2 (plugin), atomic: committed")
	assert.Contains(t, s, "v2 -> v3 (plugin), canary 25% then all: committed")
	assert.Contains(t, s, "v3 -> v2, atomic downgrade: committed")
	assert.Contains(t, s, "plugin visits@v3 running: false", "v3's process exited with its last activation")
	assert.Contains(t, s, "lost 0, out of order 0")
	assert.Contains(t, s, "plugin processes left: 0")
}
