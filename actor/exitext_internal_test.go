package actor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A process that never needed a procExt exits without one; a Watch that
// finds it after its exit (it looked the process up just before) is done
// at once with the exit reason: here the one Terminate chose, not the
// crash that began the exit.
func TestLateWatchOfAProcessThatExitedWithoutProcExt(t *testing.T) {
	sys := NewSystem()
	defer func() { require.NoError(t, sys.Shutdown(context.Background())) }()
	chosen := ShutdownReason{Detail: "chosen by Terminate"}
	require.NoError(t, sys.Load(Define("crasher", "v1", Funcs[int]{
		Handle:          func(_ *Context, s int, _ any) (int, error) { return s, errors.New("boom") },
		TerminateReason: func(*Context, int, error) error { return chosen },
	})))
	pid, err := sys.Spawn("crasher", nil)
	require.NoError(t, err)
	p := sys.lookup(pid)
	require.NotNil(t, p)
	require.Nil(t, p.ext.Load(), "an idle process without links holds no procExt")

	require.NoError(t, sys.Send(pid, "crash"))
	require.Eventually(t, func() bool { return p.ext.Load() == exitedExt }, 5*time.Second, time.Millisecond,
		"the exit took no procExt of its own")
	require.False(t, sys.Alive(pid))

	w := &Exited{done: make(chan struct{})}
	p.addWatch(w)
	select {
	case <-w.Done():
	default:
		require.Fail(t, "a Watch of a finished exit is done at once")
	}
	assert.Equal(t, chosen, w.Reason())
	assert.NoError(t, exitedExt.reason, "exitedExt is never written")
	assert.Empty(t, exitedExt.waiters)
}

// Ending an idle process without links, monitors or subscribers allocates
// nothing: the exit signal is served on the caller's goroutine without
// being queued (exitIdle), and the exit takes no procExt.
func TestExitOfAnIdleProcessAllocatesNothing(t *testing.T) {
	sys := NewSystem()
	defer func() { require.NoError(t, sys.Shutdown(context.Background())) }()
	require.NoError(t, sys.Load(Define("idle", "v1", Funcs[int]{
		Handle: func(_ *Context, s int, _ any) (int, error) { return s, nil },
	})))
	const runs = 100
	pids := make([]PID, runs+1) // AllocsPerRun calls once more, to warm up
	for i := range pids {
		pid, err := sys.Spawn("idle", nil)
		require.NoError(t, err)
		pids[i] = pid
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if err := sys.Exit(pids[i], Shutdown); err != nil {
			panic(err)
		}
		i++
	})
	assert.Zero(t, allocs, "allocations per exit")
	for _, pid := range pids {
		assert.False(t, sys.Alive(pid))
	}
}
