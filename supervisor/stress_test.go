package supervisor_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// TestUpgradesUnderKills runs atomic upgrades and dry runs back and forth
// while processes are killed at random (one at a time) and messages flow,
// from fixed seeds. Every upgrade commits (a kill during an upgrade is an
// exit, not a failure); afterwards every instance is alive again and runs
// the current version, including those restarted while an upgrade was
// being set up (caught up after the commit).
func TestUpgradesUnderKills(t *testing.T) {
	const n, rounds = 300, 12
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(acctV1Version))
	sup, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 100000, Period: time.Hour},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "acct"}}})
	require.NoError(t, err)
	for i := range n {
		_, err := sup.StartSimpleChild(context.Background(), i)
		require.NoError(t, err)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	v2 := acctV2Version(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // messages to whoever is alive; errors are the sender's to see
		r := rand.New(rand.NewPCG(1, 1))
		for {
			select {
			case <-stop:
				return
			default:
			}
			pids := sys.Processes()
			for range 50 {
				_ = sys.Send(pids[r.IntN(len(pids))], acctMsg{Sender: 0, Seq: 1})
			}
			ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
			_, _ = sup.CountChildren(ctx)
			cancel()
		}
	})
	wg.Go(func() { // kills
		r := rand.New(rand.NewPCG(2, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			children, err := sup.WhichChildren(context.Background())
			if err != nil || len(children) == 0 {
				continue
			}
			victim := children[r.IntN(len(children))].PID
			gone := sys.Watch(victim)
			if sys.Kill(victim) == nil {
				<-gone.Done() // one kill at a time, each complete before the next
			}
		}
	})
	versions := []*actor.Version{v2, acctV1Version}
	for round := range rounds {
		dry := rng.IntN(3) == 0
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		to := versions[round%2]
		if cur, _ := sys.Current("acct"); cur == to {
			cancel()
			continue
		}
		rep, err := sup.Upgrade(ctx, upgrade.Plan{DryRun: dry, Changes: []upgrade.Change{{Module: "acct", To: to}}, Timeout: time.Hour})
		cancel()
		require.NoError(t, err, "round %d", round)
		if !dry {
			assert.Equal(t, upgrade.Committed, rep.Outcome, "round %d", round)
		}
	}
	close(stop)
	wg.Wait()
	// The last kill is complete; a call to the supervisor now comes after
	// its exit signal, so the restart has happened when it returns.
	_, err = sup.CountChildren(context.Background())
	require.NoError(t, err)

	cur, _ := sys.Current("acct")
	children, err := sup.WhichChildren(context.Background())
	require.NoError(t, err)
	assert.Len(t, children, n, "every instance restarted after its kill")
	for _, c := range children {
		assert.Equal(t, cur.Name(), c.Version, "child %v", c.PID)
	}
}
