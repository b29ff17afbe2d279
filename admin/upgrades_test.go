package admin_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/admin"
)

// upgradeTo runs plan through the API to its end and checks its state.
func upgradeTo(t *testing.T, r *rig, plan, want string) admin.Upgrade {
	t.Helper()
	status, b := r.do(t, http.MethodPost, "/api/v1/upgrades?wait=1", plan)
	require.Equal(t, http.StatusOK, status, string(b))
	var u admin.Upgrade
	require.NoError(t, json.Unmarshal(b, &u))
	require.Equal(t, want, u.State, "%+v", u)
	return u
}

func TestUpgradeThroughTheAPI(t *testing.T) {
	r := newRig(t, 4)
	for _, pid := range r.accounts {
		require.NoError(t, r.sys.Send(pid, deposit{N: 10}))
	}
	next := r.events(t, "")

	status, b := r.do(t, http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v2"}]}`)
	require.Equal(t, http.StatusAccepted, status, string(b))
	var u admin.Upgrade
	require.NoError(t, json.Unmarshal(b, &u))
	assert.Equal(t, "1", u.ID)

	// The stream carries the steps, each marked with the upgrade.
	var types []string
	migrated := 0
	for {
		e := next()
		if e.Upgrade != "" {
			assert.Equal(t, u.ID, e.Upgrade)
		}
		switch e.Type {
		case "ProcessMigrated":
			migrated++
			assert.Equal(t, "v1", e.Data["from"])
			assert.Equal(t, "v2", e.Data["to"])
		case "PlanAccepted", "UpgradeCommitted", "UpgradeFinished":
			types = append(types, e.Type)
		}
		if e.Type == "UpgradeFinished" {
			assert.Equal(t, "committed", e.Data["outcome"])
			break
		}
	}
	assert.Equal(t, 4, migrated)
	assert.Equal(t, []string{"PlanAccepted", "UpgradeCommitted", "UpgradeFinished"}, types)

	r.getJSON(t, "/api/v1/upgrades/1", &u)
	require.True(t, u.Done())
	assert.Equal(t, "committed", u.State)
	require.NotNil(t, u.Report)
	assert.Equal(t, map[string]int{"migrated": 4}, u.Report.Counts)
	assert.NotNil(t, u.Finished)
	var steps []string
	for _, s := range u.Steps {
		steps = append(steps, s.Type)
	}
	assert.Equal(t, []string{"PlanAccepted", "PlanPrepared", "UpgradeCommitted", "UpgradeFinished"}, steps, "the plan's steps are kept, not each process's")
	for _, pid := range r.accounts {
		got, err := r.sys.Call(t.Context(), pid, get{})
		require.NoError(t, err)
		assert.Equal(t, int64(10), got, "state migrated, nothing lost")
	}

	// A failing migration rolls back; the API says so.
	u = upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v3"}]}`, "rolled_back")
	assert.Contains(t, u.Error, "v3 cannot read this state")
	assert.Contains(t, u.Report.Reason, "v3 cannot read this state")
	cur, _ := r.sys.Current("acct")
	assert.Equal(t, "v2", cur.Name())

	// Dry run, then the downgrade: the lineage decides the direction.
	u = upgradeTo(t, r, `{"dry_run":true,"changes":[{"module":"acct","version":"v1"}]}`, "simulated")
	assert.Equal(t, "down", u.Report.Modules[0].Direction)
	cur, _ = r.sys.Current("acct")
	assert.Equal(t, "v2", cur.Name(), "a dry run changes nothing")
	upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v1"}]}`, "committed")
	got, err := r.sys.Call(t.Context(), r.accounts[0], get{})
	require.NoError(t, err)
	assert.Equal(t, int64(10), got)

	var ups []admin.Upgrade
	r.getJSON(t, "/api/v1/upgrades", &ups)
	require.Len(t, ups, 4)
	assert.Equal(t, "4", ups[0].ID, "newest first")
	status, b = r.do(t, http.MethodPost, "/api/v1/upgrades/1/cancel", nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, errorOf(t, b), "has ended")
}

func TestCancelBeforeTheCommitRollsBack(t *testing.T) {
	r := newRig(t, 4)
	next := r.events(t, "")
	// A rolling upgrade whose gate observes for an hour of the fake clock:
	// it waits there until cancelled.
	status, b := r.do(t, http.MethodPost, "/api/v1/upgrades",
		`{"mode":"rolling","waves":[0.5,1],"gate":{"observe":"1h"},"changes":[{"module":"acct","version":"v2"}]}`)
	require.Equal(t, http.StatusAccepted, status, string(b))
	for e := next(); e.Type != "WaveCommitted"; e = next() {
	}
	status, b = r.do(t, http.MethodPost, "/api/v1/upgrades", `{"changes":[{"module":"acct","version":"v3"}]}`)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, errorOf(t, b), "upgrade 1 is in progress")

	status, b = r.do(t, http.MethodPost, "/api/v1/upgrades/1/cancel", nil)
	require.Equal(t, http.StatusAccepted, status, string(b))
	for e := next(); e.Type != "UpgradeFinished"; e = next() {
	}
	var u admin.Upgrade
	r.getJSON(t, "/api/v1/upgrades/1", &u)
	for !u.Done() { // the report is filled right after the last event
		r.getJSON(t, "/api/v1/upgrades/1", &u)
	}
	assert.Equal(t, "rolled_back", u.State, "%+v", u.Report)
	for _, pid := range r.accounts {
		v, ok := r.sys.VersionOf(pid)
		require.True(t, ok, "%+v", u.Report.Procs)
		assert.Equal(t, "v1", v.Version, "every wave rolled back")
	}
}

// A plan from v1 to v3 passes through v2, which it does not name: the
// compiled-in versions were staged when the API started.
func TestAPlanRoutesThroughVersionsItDoesNotName(t *testing.T) {
	r := newRig(t, 2)
	u := upgradeTo(t, r, `{"changes":[{"module":"acct","version":"v3"}]}`, "rolled_back")
	assert.Contains(t, u.Error, "v3 cannot read this state", "v1 → v2 ran, then v3's step failed")
	var mods []admin.Module
	r.getJSON(t, "/api/v1/modules", &mods)
	var names []string
	for _, m := range mods {
		if m.Name == "acct" {
			for _, v := range m.Versions {
				names = append(names, v.Name)
			}
		}
	}
	assert.ElementsMatch(t, []string{"v1", "v2", "v3"}, names)
}
