package supervisor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

// acctV2Crashy is v2 that fails every message whose sequence number is a
// multiple of 7: a bad release.
func acctV2Crashy() *actor.Version {
	return actor.Define("acct", "v2", actor.Funcs[acctV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, s acctV2, msg any) (acctV2, error) {
			switch m := msg.(type) {
			case acctMsg:
				if m.Seq%7 == 0 {
					return s, errors.New("v2 cannot handle this")
				}
			case acctGet:
				ctx.Reply(acctStats{ID: s.ID, Version: "v2"})
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(old acctV1, _ any) (acctV2, error) {
			return acctV2{ID: old.ID, Count: int64(old.Count), Last: make([]int, acctSenders)}, nil
		}),
		Downgrade: func(to string, s acctV2, extra any) (any, error) {
			return acctV1{ID: s.ID, Count: int(s.Count), Last: map[int]int{}}, nil
		},
	})
}

// runRolling runs a rolling upgrade, driving the fake clock past each
// gate unless hold is set (then only crashes end a gate).
func runRolling(t *testing.T, f *fleet, plan upgrade.Plan, hold bool) (*upgrade.Report, error) {
	t.Helper()
	waves := make(chan upgrade.WaveCommitted, 16)
	defer f.sys.Subscribe(func(e actor.Event) {
		if w, ok := e.(upgrade.WaveCommitted); ok {
			waves <- w
		}
	})()
	type result struct {
		rep *upgrade.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := f.sup.Upgrade(context.Background(), plan)
		done <- result{rep, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	for {
		select {
		case r := <-done:
			return r.rep, r.err
		case w := <-waves:
			if w.Index == len(plan.Waves)-1 || hold {
				continue // the last wave has no gate
			}
			// The gate's timer is the only one pending after a wave.
			require.NoError(t, f.sys.Clock.WaitForTimers(ctx, 1), "no gate timer")
			f.sys.Clock.Advance(time.Second)
		case <-ctx.Done():
			t.Fatal("rolling upgrade did not finish")
		}
	}
}

func TestCanaryStopsABadVersionAtTheFirstWave(t *testing.T) {
	f := newFleet(t, 100)
	stop := make(chan struct{})
	wg := f.loadWith(t, stop, false)
	defer func() { close(stop); wg.Wait() }()
	// The gate's observation never ends on the clock: the first crash of a
	// canary on v2 fails it.
	rep, err := runRolling(t, f, upgrade.Plan{
		Mode: upgrade.Rolling, Waves: []float64{0.05, 0.5, 1},
		Changes: []upgrade.Change{{Module: "acct", To: acctV2Crashy()}},
	}, true)
	require.Error(t, err)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	var gateFailed, rolledBack, waves int
	for _, e := range rep.Events {
		switch e.(type) {
		case upgrade.GateFailed:
			gateFailed++
		case upgrade.UpgradeRolledBack:
			rolledBack++
		case upgrade.WaveCommitted:
			waves++
		}
	}
	assert.Equal(t, 1, gateFailed)
	assert.Equal(t, 1, rolledBack, "a failed gate is a rollback")
	assert.Equal(t, 1, waves, "stopped at the first wave")
	// The canaries that crashed are reported as exited on v2, the others
	// restored to v1; the rest were never reached.
	counts := map[upgrade.Result]int{}
	for _, p := range rep.Processes {
		counts[p.Result]++
		assert.Equal(t, "v1", p.From)
		switch p.Result {
		case upgrade.Exited:
			assert.Equal(t, "v2", p.To)
			assert.Error(t, p.Err)
		case upgrade.Restored, upgrade.NotReached:
			assert.Equal(t, "v1", p.To)
		default:
			t.Errorf("%v: %v %v", p.PID, p.Result, p.Err)
		}
	}
	assert.Equal(t, 5, counts[upgrade.Exited]+counts[upgrade.Restored], "the canary wave: 5%% of 100")
	assert.Positive(t, counts[upgrade.Exited])
	cur, _ := f.sys.Current("acct")
	assert.Equal(t, "v1", cur.Name())
	// Every process runs v1: rolled back, or restarted on v1 after its crash.
	children, err := f.sup.WhichChildren(context.Background())
	require.NoError(t, err)
	for _, c := range children {
		if !c.PID.IsZero() && c.Version != "" {
			assert.Equal(t, "v1", c.Version, "child %v", c.PID)
		}
	}
}

func TestRollingUpgradeOfAGoodVersionProceeds(t *testing.T) {
	f := newFleet(t, 100)
	stop := make(chan struct{})
	wg := f.load(t, stop)
	rep, err := runRolling(t, f, upgrade.Plan{
		Mode: upgrade.Rolling, Waves: []float64{0.01, 0.1, 1},
		Changes: []upgrade.Change{{Module: "acct", To: acctV2Version(nil)}},
		Gate: upgrade.Gate{Check: func(_ context.Context, w upgrade.Wave) error {
			if w.Index == 0 && len(w.Processes) != 1 {
				return errors.New("the canary wave is 1% of 100")
			}
			return nil
		}},
	}, false)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	f.check(t, "v2", 1) // nothing lost, order kept, migrated once
}
