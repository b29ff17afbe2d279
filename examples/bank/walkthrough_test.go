package bank_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/examples/bank"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// service is the bank as cmd/bank runs it: under load, with the admin API
// on a free loopback port.
type service struct {
	sys   *actor.System
	bank  *bank.Bank
	load  *bank.Load
	admin *admin.Server
	made  int64 // operations the load has been waited for, so far
}

func serve(t *testing.T, accounts int) *service {
	t.Helper()
	sys, b := start(t, bank.Options{AuditEvery: 100 * time.Millisecond})
	srv, err := admin.Start(sys, admin.Options{
		Addr:        "127.0.0.1:0",
		Supervisors: []*supervisor.Handle{b.Supervisor()},
		Versions:    []*actor.Version{account.V1, account.V2, account.V3},
		Files:       plugin.NewLoader(plugin.WithErrors(account.Module, account.Errors)),
		Ready:       b.Ready,
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close(context.Background())) })
	load, err := bank.StartLoad(testCtx(t), b, bank.LoadOptions{Accounts: accounts, Rate: 400, Seed: 2})
	require.NoError(t, err)
	t.Cleanup(load.Stop)
	return &service{sys: sys, bank: b, load: load, admin: srv}
}

// underLoad waits until the load has made another 200 operations.
func (s *service) underLoad(t *testing.T) {
	t.Helper()
	s.made += 200
	require.NoError(t, s.load.Await(testCtx(t), s.made))
}

// request sends an admin API request with the bearer token and decodes
// the answer into out, checking the status.
func (s *service) request(t *testing.T, method, path string, body any, status int, out any) {
	t.Helper()
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(testCtx(t), method, s.admin.URL()+path, in)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin.Token())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, string(data))
	require.NoError(t, json.Unmarshal(data, out), string(data))
}

// upgrade posts a plan and waits for the upgrade to end (?wait=1).
func (s *service) upgrade(t *testing.T, plan upgrade.PlanSpec) admin.Upgrade {
	t.Helper()
	var u admin.Upgrade
	s.request(t, "POST", "/api/v1/upgrades?wait=1", plan, http.StatusOK, &u)
	require.True(t, u.Done(), "%+v", u)
	require.NotNil(t, u.Report, "%+v", u)
	return u
}

// check stops the load and compares its books with every account.
func (s *service) check(t *testing.T) {
	t.Helper()
	s.load.Stop()
	books, err := s.load.Check(testCtx(t))
	require.NoError(t, err)
	n := len(s.load.Accounts())
	assert.Equal(t, bank.Books{Checked: n, Money: books.Money}, books, "nothing lost")
	c := s.load.Counts()
	t.Logf("load: %+v; books: %+v", c, books)
	assert.Equal(t, c.Sent, c.Handled()+c.Failed)
	tot := s.bank.Totals()
	assert.True(t, tot.Balanced())
	assert.Equal(t, books.Money, tot.Balances)
	assert.Zero(t, tot.Mismatches)
}

func change(version string) []upgrade.ChangeSpec {
	return []upgrade.ChangeSpec{{Module: account.Module, Version: version}}
}

// The demo's walk-through, driven from outside through the admin API while
// the load runs: upgrade to v2, a canary of v3 that its gate stops and
// rolls back, a downgrade to v1. The books show nothing lost.
func TestWalkThroughTheAdminAPI(t *testing.T) {
	s := serve(t, 20)

	s.underLoad(t)
	u := s.upgrade(t, upgrade.PlanSpec{Changes: change("v2")})
	assert.Equal(t, "committed", u.State)
	assert.Equal(t, map[string]int{"migrated": 20}, u.Report.Counts)
	assert.Equal(t, map[string]int{"v2": 20}, versions(s.sys))

	s.underLoad(t)
	crashed := crashCanaries(t, s.sys, s.bank, s.load.Accounts())
	u = s.upgrade(t, upgrade.PlanSpec{
		Mode: "rolling", Waves: []float64{0.1, 1}, Gate: &upgrade.GateSpec{Observe: "2s"},
		Changes: change("v3"),
	})
	crashed()
	assert.Equal(t, "rolled_back", u.State)
	assert.Contains(t, u.Error, "crashes on the new version")
	// Canaries that did not crash went back to v2; crashed ones restart on
	// v2, the current version (one may still be starting).
	vs := versions(s.sys)
	assert.Zero(t, vs["v3"]+vs["v3*"], "%v", vs)
	cur, _ := s.sys.Current(account.Module)
	assert.Equal(t, "v2", cur.Name())

	s.underLoad(t)
	u = s.upgrade(t, upgrade.PlanSpec{Changes: change("v1")})
	assert.Equal(t, "committed", u.State)
	assert.Equal(t, map[string]int{"v1": 20}, versions(s.sys))

	// The list of upgrades, newest first.
	var list []admin.Upgrade
	s.request(t, "GET", "/api/v1/upgrades", nil, http.StatusOK, &list)
	var states []string
	for _, u := range list {
		states = append(states, u.State)
	}
	assert.Equal(t, []string{"committed", "rolled_back", "committed"}, states)

	// An account's state, as an operator sees it.
	id := s.load.Accounts()[0]
	pid, ok := s.sys.Whereis(account.Name(id))
	require.True(t, ok)
	var p admin.Process
	s.request(t, "GET", "/api/v1/processes/"+pid.String()+"?state=1", nil, http.StatusOK, &p)
	var view account.View
	require.NoError(t, json.Unmarshal(p.State, &view))
	assert.Equal(t, id, view.ID)
	assert.Equal(t, "v1", p.Version)

	s.underLoad(t)
	s.check(t)
}

// A version built while the bank runs: v4 is compiled now, its checksum
// computed, and the bank upgraded to it through the admin API (from v1,
// through v2), then back to v1; the books show nothing lost.
func TestPluginBuiltWhileRunning(t *testing.T) {
	s := serve(t, 10)
	s.underLoad(t)

	v4, err := plugintest.Build(t.TempDir(), "account-v4", "./account/v4", nil)
	require.NoError(t, err)
	u := s.upgrade(t, upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{
		Module: account.Module, Version: "v4", Path: v4.Path, Checksum: v4.Checksum,
	}}})
	require.Equal(t, "committed", u.State, u.Error)
	assert.Equal(t, map[string]int{"v4": 10}, versions(s.sys))
	running := 0
	for _, p := range plugin.Processes(s.sys) {
		if p.Version == "v4" && p.OSPID != 0 {
			running++
		}
	}
	assert.Equal(t, 1, running, "v4 runs in a process of its own")
	r, err := s.bank.Balance(testCtx(t), s.load.Accounts()[0])
	require.NoError(t, err)
	assert.Equal(t, "v4", r.Version)
	_, err = s.bank.Withdraw(testCtx(t), r.ID, account.DailyLimit/2) // more than any balance here, less than the limit
	assert.ErrorIs(t, err, account.ErrInsufficient, "a refusal keeps its identity across the plugin boundary")
	assert.True(t, bank.Refused(err))

	s.underLoad(t)
	u = s.upgrade(t, upgrade.PlanSpec{Changes: change("v1")})
	require.Equal(t, "committed", u.State, u.Error)
	assert.Equal(t, map[string]int{"v1": 10}, versions(s.sys))

	s.underLoad(t)
	s.check(t)
}

// versions counts the account processes by version ("v3*" for pinned
// ones).
func versions(sys *actor.System) map[string]int {
	out := map[string]int{}
	for _, p := range sys.Snapshot() {
		if p.Module == account.Module {
			v := p.Version
			if p.Pinned {
				v += "*"
			}
			out[v]++
		}
	}
	return out
}

// crashCanaries makes sure every account on v3 meets its bug while the
// gate watches: it withdraws a cent from every account as soon as a wave
// runs v3, and puts the cent back where the withdrawal was made (so the
// load's books stay right). The returned function waits for it.
func crashCanaries(t *testing.T, sys *actor.System, b *bank.Bank, ids []int) (wait func()) {
	var wg sync.WaitGroup
	t.Cleanup(sys.Subscribe(func(ev actor.Event) {
		if _, ok := ev.(upgrade.WaveCommitted); !ok {
			return
		}
		wg.Go(func() {
			ctx := context.Background()
			for _, id := range ids {
				if _, err := b.Withdraw(ctx, id, 1); err != nil {
					continue // a canary: it crashed, nothing was taken
				}
				for {
					if _, err := b.Deposit(ctx, id, 1); err == nil || !assert.ErrorIs(t, err, bank.ErrUnavailable) {
						break
					}
				}
			}
		})
	}))
	return wg.Wait
}
