package chaos_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// osProcess is an OS process standing in for a plugin's: a loader lists
// it while it runs (through upgrade.RegisterLoaderProcesses, as a
// plugin.Loader does), and reaps it when it exits.
type osProcess struct {
	pid    int
	exited chan struct{}
	err    error // set before exited is closed
	done   atomic.Bool
}

func startProcess(t *testing.T) *osProcess {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	p := &osProcess{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.done.Store(true)
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// ospid is the process's PID, 0 once it has exited (as a plugin host
// lists a version whose process is not running).
func (p *osProcess) ospid() int {
	if p.done.Load() {
		return 0
	}
	return p.pid
}

// tree is a system running module "orders" (one version) under a
// supervisor of four workers.
func tree(t *testing.T) (*actor.System, *supervisor.Handle) {
	t.Helper()
	sys := actor.NewSystem(actor.WithLogger(zap.NewNop()))
	require.NoError(t, sys.Load(countingVersion("orders", "v1", "")))
	var specs []supervisor.ChildSpec
	for i := range 4 {
		specs = append(specs, supervisor.ChildSpec{ID: fmt.Sprint("orders-", i), Start: supervisor.StartSpec{Module: "orders"}})
	}
	root, err := supervisor.Start(sys, supervisor.Flags{Intensity: 1000, Period: 1e9}, specs)
	require.NoError(t, err)
	return sys, root
}

// The plugin faults need no plugin package: Run finds the processes
// serving versions out of process in upgrade.LoaderProcesses, kills them
// there, and checks after Shutdown that none is left.
func TestPluginKillFindsProcessesThroughTheLoaders(t *testing.T) {
	sys, root := tree(t)
	p := startProcess(t)
	upgrade.RegisterLoaderProcesses(sys, func() []upgrade.LoaderProcess {
		return []upgrade.LoaderProcess{{Module: "orders", Version: "v1", OSPID: p.ospid()}}
	})
	res, err := chaos.Run(context.Background(), sys, root, chaos.Config{
		Seed: 1, Faults: 1, Module: "orders", Weights: map[chaos.Kind]int{chaos.PluginKill: 1},
		Rate: 1000, Shutdown: true,
	})
	require.NoError(t, err)
	require.NoError(t, res.Err())
	assert.Equal(t, 1, res.Faults[chaos.PluginKill])
	<-p.exited
	assert.EqualError(t, p.err, "signal: killed", "SIGKILLed")
	assert.Contains(t, res.String(), "1 plugin processes seen, all gone")
}

// A process a loader still runs for a version that is neither current nor
// in use breaks an invariant, and one that outlives the system another.
func TestStrayLoaderProcessesAreViolations(t *testing.T) {
	sys, root := tree(t)
	p := startProcess(t)
	upgrade.RegisterLoaderProcesses(sys, func() []upgrade.LoaderProcess {
		return []upgrade.LoaderProcess{{Module: "orders", Version: "v0", OSPID: p.ospid()}}
	})
	res, err := chaos.Run(context.Background(), sys, root, chaos.Config{
		Seed: 1, Faults: 5, Module: "orders", Weights: map[chaos.Kind]int{chaos.Kill: 1},
		Rate: 1000, Shutdown: true,
	})
	require.NoError(t, err)
	require.Error(t, res.Err())
	var failed []string
	for _, c := range res.Checks {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Detail)
		}
	}
	require.Len(t, failed, 2, strings.Join(failed, "\n"))
	assert.Contains(t, failed[0], fmt.Sprintf("running for a version neither current nor in use: orders@v0 (OS PID %d)", p.pid))
	assert.Contains(t, failed[1], fmt.Sprintf("plugin processes alive: %d", p.pid))
}
