package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// OpMsg is the message of the test modules "stray" and "peek".
type OpMsg struct{ Op, Path string }

func call[T any](t *testing.T, sys *actortest.System, pid actor.PID, msg any) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := sys.Call(ctx, pid, msg)
	require.NoError(t, err)
	v, err := codec.Decode[T](r.(codec.Raw))
	require.NoError(t, err)
	return v
}

func TestPluginsGetAnEmptyStdin(t *testing.T) {
	// The host's stdin holds a secret (piped in by whoever started it).
	r, w, err := os.Pipe()
	require.NoError(t, err)
	_, err = w.WriteString("s3cret\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	stdin := os.Stdin
	os.Stdin = r
	t.Cleanup(func() {
		os.Stdin = stdin
		r.Close()
	})

	sys := newSys(t)
	require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(), "peek", "peek", "v1")))
	pid, err := sys.Spawn("peek", nil)
	require.NoError(t, err)
	assert.Empty(t, call[string](t, sys, pid, OpMsg{Op: "stdin"}), "the plugin reads an empty stdin, not the host's")
}

// helper asks a "stray" process to start a helper process that holds the
// plugin's stdout and stderr, and returns the helper's OS PID; the helper
// is killed when the test ends, whatever became of it.
func helper(t *testing.T, sys *actortest.System, pid actor.PID) int {
	t.Helper()
	h := call[int](t, sys, pid, OpMsg{Op: "helper"})
	require.True(t, plugintest.Running(h))
	t.Cleanup(func() { _ = syscall.Kill(h, syscall.SIGKILL) })
	return h
}

func TestHangDetectionIsNotHeldUpByAHelperHoldingStderr(t *testing.T) {
	sys := newSys(t)
	const deadline = 500 * time.Millisecond
	l := plugin.NewLoader(plugin.WithCallTimeout(deadline))
	require.NoError(t, sys.Load(load(t, sys, l, "stray", "stray", "v1")))
	hung, err := sys.Spawn("stray", nil)
	require.NoError(t, err)
	h := helper(t, sys, hung)
	plug := osPID(t, sys, "v1")
	w := sys.Watch(hung)

	start := time.Now()
	require.NoError(t, sys.Send(hung, OpMsg{Op: "hang", Path: filepath.Join(t.TempDir(), "hung")}))
	// Meanwhile the version stays usable: starting a process on it (its
	// Init runs in the plugin) never waits for the hung process's kill.
	var slowest time.Duration
	for waiting := true; waiting; {
		t0 := time.Now()
		_, _ = sys.Spawn("stray", nil) // may fail: the plugin process is killed under it
		slowest = max(slowest, time.Since(t0))
		select {
		case <-w.Done():
			waiting = false
		case <-time.After(20 * time.Millisecond):
		}
	}
	detected := time.Since(start)
	t.Logf("hang detected after %v (deadline %v); slowest spawn meanwhile %v", detected, deadline, slowest)
	assert.ErrorIs(t, w.Reason(), plugin.ErrDeadline)
	assert.Less(t, detected, deadline+1500*time.Millisecond, "the deadline, not the helper's lifetime")
	assert.Less(t, slowest, 1500*time.Millisecond, "no other process waits for the kill")
	assert.False(t, plugintest.Running(plug), "the hung plugin process is killed")
	assert.Eventually(t, func() bool { return !plugintest.Running(h) }, actortest.DefaultWait, time.Millisecond,
		"and its helper, in its process group")

	pid, err := sys.Spawn("stray", nil)
	require.NoError(t, err)
	assert.Equal(t, "ok", call[string](t, sys, pid, OpMsg{Op: "get"}), "a new plugin process serves the version")
}

func TestShutdownHonoursItsContextWithPluginProcesses(t *testing.T) {
	for name, c := range map[string]struct {
		bin  string
		hang bool
	}{
		"helper in the plugin's process group":   {"stray", false},
		"helper in a session of its own":         {"stray-setsid", false},
		"helper and a call hung in the plugin":   {"stray", true},
		"helper elsewhere and a call hung in it": {"stray-setsid", true},
	} {
		t.Run(name, func(t *testing.T) {
			sys := newSys(t)
			require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(), c.bin, "stray", "v1")))
			pid, err := sys.Spawn("stray", nil)
			require.NoError(t, err)
			h := helper(t, sys, pid)
			plug := osPID(t, sys, "v1")
			if c.hang {
				hung := filepath.Join(t.TempDir(), "hung")
				require.NoError(t, sys.Send(pid, OpMsg{Op: "hang", Path: hung}))
				require.Eventually(t, func() bool { _, err := os.Stat(hung); return err == nil },
					actortest.DefaultWait, time.Millisecond)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err = sys.Shutdown(ctx)
			took := time.Since(start)
			t.Logf("Shutdown with a 2 s context took %v", took)
			if c.hang {
				assert.ErrorIs(t, err, context.DeadlineExceeded, "the hung call kept a process running")
			} else {
				assert.NoError(t, err)
			}
			assert.Less(t, took, 2500*time.Millisecond)
			assert.False(t, plugintest.Running(plug), "the plugin process is stopped")
			if c.bin == "stray" {
				assert.Eventually(t, func() bool { return !plugintest.Running(h) }, actortest.DefaultWait, time.Millisecond,
					"and the helper in its process group")
			}
		})
	}
}

func TestAStartUnderWayHoldsNothingUp(t *testing.T) {
	// An executable that never completes the handshake: each start runs
	// until the start timeout (a minute here) unless something ends it.
	script := filepath.Join(t.TempDir(), "silent")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755))
	sum, err := plugin.Checksum(script)
	require.NoError(t, err)
	ref := upgrade.Ref{Module: "x", Version: "v1", Path: script, Checksum: sum}
	l := plugin.NewLoader(plugin.WithStartTimeout(time.Minute))
	before := plugintest.Children()

	// Load's context ends the start.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sys := newSys(t)
	start := time.Now()
	_, err = l.Load(ctx, sys.System, ref)
	assert.ErrorIs(t, err, plugin.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, before, plugintest.Children(), "the process started was killed")

	// Shutdown stops a start under way instead of waiting for it.
	loaded := make(chan error, 1)
	go func() {
		_, err := l.Load(context.Background(), sys.System, ref)
		loaded <- err
	}()
	require.Eventually(t, func() bool { return len(plugintest.Children()) > len(before) }, actortest.DefaultWait, time.Millisecond)
	start = time.Now()
	require.NoError(t, sys.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.ErrorIs(t, <-loaded, plugin.ErrUnavailable)
	assert.Equal(t, before, plugintest.Children())
}
