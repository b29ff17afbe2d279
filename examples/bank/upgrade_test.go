package bank_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/bank"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/upgrade"
)

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

// The walk-through of the demo, at the supervisor API: under load, every
// account goes to v2, a canary of v3 is stopped by its gate and rolled
// back, every account goes down to v1; the load's books match every
// account.
func TestUpgradesUnderLoadLoseNothing(t *testing.T) {
	sys, b := start(t, bank.Options{AuditEvery: 100 * time.Millisecond})
	ctx := testCtx(t)
	load, err := bank.StartLoad(ctx, b, bank.LoadOptions{Accounts: 20, Rate: 400, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(load.Stop)
	top := b.Supervisor()
	// Each step starts once the load has made another 200 operations.
	var made int64
	underLoad := func() {
		made += 200
		require.NoError(t, load.Await(ctx, made))
	}
	to := func(v *actor.Version) []upgrade.Change { return []upgrade.Change{{Module: account.Module, To: v}} }

	underLoad()
	rep, err := top.Upgrade(ctx, upgrade.Plan{Changes: to(account.V2)})
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Equal(t, map[string]int{"v2": 20}, versions(sys))

	underLoad()
	crashed := crashCanaries(t, sys, b, load.Accounts())
	rep, err = top.Upgrade(ctx, upgrade.Plan{
		Mode: upgrade.Rolling, Waves: []float64{0.1, 1}, Gate: upgrade.Gate{Observe: 2 * time.Second},
		Changes: to(account.V3),
	})
	crashed()
	assert.ErrorContains(t, err, "crashes on the new version")
	require.NotNil(t, rep)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	assert.Equal(t, map[string]int{"v2": 20}, versions(sys), "canaries that did not crash went back to v2, crashed ones restarted on it")
	cur, _ := sys.Current(account.Module)
	assert.Equal(t, "v2", cur.Name())

	underLoad()
	rep, err = top.Upgrade(ctx, upgrade.Plan{Changes: to(account.V1)})
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Equal(t, map[string]int{"v1": 20}, versions(sys))

	underLoad()
	load.Stop()
	books, err := load.Check(ctx)
	require.NoError(t, err)
	assert.Equal(t, bank.Books{Checked: 20, Money: books.Money}, books, "nothing lost")
	c := load.Counts()
	t.Logf("load: %+v; books: %+v", c, books)
	assert.Equal(t, c.Sent, c.Handled()+c.Failed)
	assert.Positive(t, c.Done)
	tot := b.Totals()
	assert.True(t, tot.Balanced())
	assert.Equal(t, books.Money, tot.Balances)
	assert.Zero(t, tot.Mismatches, "no account ever differed from the journal")
}
