package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

func TestMetricsAfterAnUpgrade(t *testing.T) {
	r := newRig(t, 3)
	for _, pid := range r.accounts {
		require.NoError(t, r.sys.Send(pid, deposit{N: 1}))
		_, err := r.sys.Call(t.Context(), pid, get{})
		require.NoError(t, err)
	}
	upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v2"}]}`, "committed")
	upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v3"}]}`, "rolled_back")
	upgradeTo(t, r, `{"dry_run":true,"changes":[{"module":"acct","version":"v1"}]}`, "simulated")

	restarted := make(chan struct{}, 1)
	defer r.sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart {
			restarted <- struct{}{}
		}
	})()
	require.NoError(t, r.sys.Send(r.accounts[0], crash{}))
	<-restarted
	// A timer's message to the crashed incarnation: a dead letter, noproc.
	r.sys.SendAfter(r.accounts[0], time.Millisecond, "to the dead")
	r.sys.Clock.Advance(time.Millisecond)

	series := []string{
		`graft_upgrades_total{mode="atomic",outcome="committed"} 1`,
		`graft_upgrades_total{mode="atomic",outcome="rolled_back"} 1`,
		`graft_upgrades_total{mode="dry_run",outcome="simulated"} 1`,
		`graft_processes{module="acct",version="v2"} 3`,
		`graft_supervisor_restarts_total 1`,
		`graft_migration_failures_total{module="acct"}`,
		`graft_versions_loaded_total{module="acct"} 1`,
		`graft_upgrade_max_pause_seconds_count 2`,
		`graft_upgrade_duration_seconds_count 3`,
		`graft_process_exits_total{module="acct",reason="error"} 1`,
		`graft_mailbox_queued_messages{module="acct"} 0`,
		`graft_abandoned_goroutines 0`,
		`graft_dead_letters_total{reason="noproc"} 1`,
		`go_goroutines`,
	}
	// The collector counts events on a goroutine of its own: scrape until
	// it has seen them.
	var text string
	missing := func() []string {
		status, body := r.do(t, http.MethodGet, "/metrics", nil)
		require.Equal(t, http.StatusOK, status)
		text = string(body)
		var out []string
		for _, s := range series {
			if !strings.Contains(text, s) {
				out = append(out, s)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(missing()) == 0 }, actortest.DefaultWait, time.Millisecond)
	assert.Empty(t, missing())
	var handled float64
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "graft_messages_handled_total "); ok {
			handled = parseFloat(t, v)
		}
	}
	assert.GreaterOrEqual(t, handled, 6.0, "a deposit and a get per account, at least")

	// The collector lints clean.
	problems, err := testutil.GatherAndLint(r.srv.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems)
}
