package plugin_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// A version loaded for a plan that does not make it current (refused,
// only dry-run, rolled back) can no longer become current through that
// plan: its plugin process stops when the plan ends, and starts again if a
// later plan uses the version.
func TestAPluginProcessStopsWhenItsPlanDoesNotMakeItCurrent(t *testing.T) {
	for name, c := range map[string]struct {
		bin     string
		plan    upgrade.Plan // without its change
		outcome upgrade.Outcome
		again   bool // a valid plan then makes the version current
	}{
		"refused: invalid plan":    {"tally-v2", upgrade.Plan{Timeout: -time.Second}, upgrade.Refused, true},
		"refused: no step from v1": {"tally-v2-alone", upgrade.Plan{}, upgrade.Refused, false},
		"dry run":                  {"tally-v2", upgrade.Plan{DryRun: true}, upgrade.Simulated, true},
		"rolled back":              {"tally-v2-exits", upgrade.Plan{}, upgrade.RolledBack, false},
	} {
		t.Run(name, func(t *testing.T) {
			sys := newSys(t)
			require.NoError(t, sys.Load(tallyV1))
			h, pids := fleet(t, sys, 3)
			for _, pid := range pids {
				require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 1}))
			}
			before := plugintest.Children()
			v2 := load(t, sys, plugin.NewLoader(), c.bin, "tally", "v2")
			loaded := osPID(t, sys, "v2")
			require.True(t, plugintest.Running(loaded), "Load starts the plugin process")
			require.Equal(t, []upgrade.LoaderProcess{{Module: "tally", Version: "v2", OSPID: loaded}},
				upgrade.LoaderProcesses(sys.System), "listed for code that does not import package plugin")

			plan := c.plan
			plan.Changes = []upgrade.Change{{Module: "tally", To: v2}}
			rep, _ := h.Upgrade(context.Background(), plan)
			require.Equal(t, c.outcome, rep.Outcome)
			assert.False(t, plugintest.Running(loaded), "the plan is over: the process it started for v2 stopped")
			assert.Zero(t, osPID(t, sys, "v2"))
			assert.Equal(t, []upgrade.LoaderProcess{{Module: "tally", Version: "v2"}}, upgrade.LoaderProcesses(sys.System))
			assert.Equal(t, before, plugintest.Children(), "no plugin process left")
			for _, pid := range pids {
				assert.Equal(t, Stats{Version: "v1", Handled: 1}, stats(t, sys, pid))
			}
			if !c.again {
				return
			}
			rep = upgradeTo(t, h, v2, upgrade.Atomic)
			assert.Equal(t, upgrade.Committed, rep.Outcome)
			assert.NotZero(t, osPID(t, sys, "v2"), "a new process serves the version")
			for _, pid := range pids {
				assert.Equal(t, Stats{Version: "v2", Handled: 1, Migrations: []string{"v1>v2"}}, stats(t, sys, pid))
			}
		})
	}
}

// A plan given by reference (an admin API's, say) that is refused while
// it is resolved leaves nothing behind: the versions it loaded leave the
// system, and their plugin processes stop.
func TestARefusedPlanSpecStopsWhatItLoaded(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(tallyV1))
	fleet(t, sys, 2)
	before := plugintest.Children()
	exe := bins["tally-v2-alone"]
	spec := upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "tally", Version: "v2", Path: exe.Path, Checksum: exe.Checksum}}}
	_, err := spec.Resolve(context.Background(), sys.System, plugin.NewLoader())
	require.Error(t, err, "no step from v1 to this v2")
	assert.Empty(t, plugin.Processes(sys.System), "the version left the system")
	assert.Equal(t, before, plugintest.Children(), "its process stopped")
	assert.EqualValues(t, -1, sys.Activations("tally", "v2"))
}
