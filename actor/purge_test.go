package actor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// threeVersions sets up module "ctr" with p1 on v1 and p2 on v2 (current).
func threeVersions(t *testing.T) (sys *actortest.System, v1, v2, v3 *actor.Version, p1, p2 actor.PID) {
	sys = actortest.NewSystem(t)
	keep := func(_ string, old, _ any) (int, error) { return old.(int), nil }
	v1, v2, v3 = counterVersion("v1", nil), counterVersion("v2", keep), counterVersion("v3", keep)
	require.NoError(t, sys.Load(v1))
	var err error
	p1, err = sys.Spawn("ctr", nil)
	require.NoError(t, err)
	p2, err = sys.Spawn("ctr", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Load(v2))
	_, err = call(t, sys, p2, "x") // p2 migrates to v2; p1 stays on v1
	require.NoError(t, err)
	return
}

func TestThirdVersionIsRefusedWhileOldInUse(t *testing.T) {
	sys, _, _, v3, p1, p2 := threeVersions(t)
	err := sys.Load(v3)
	assert.ErrorIs(t, err, actor.ErrNotPurged)
	cur, _ := sys.Current("ctr")
	assert.Equal(t, "v2", cur.Name(), "nothing changed")

	// With PurgeFirst, the holders of v1 (only p1) are killed first.
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(p1)
	require.NoError(t, sys.Load(v3, actor.WithPurge(actor.PurgeFirst)))
	probe.ExpectDown(p1, actor.Killed)
	r, err := call(t, sys, p2, "x")
	require.NoError(t, err, "p2 held the outgoing current version: it lives")
	assert.Equal(t, "v3:2", r)
	assert.EqualValues(t, -1, sys.Activations("ctr", "v1"), "no longer in use nor previous: it left the table")
}

func TestSoftPurgeWaitsAndReportsStragglers(t *testing.T) {
	sys, v1, v2, _, p1, _ := threeVersions(t)
	assert.Error(t, sys.Purge(context.Background(), v2, false, 0), "the current version cannot be purged")
	assert.ErrorIs(t, sys.Purge(context.Background(), counterVersion("v9", nil), false, 0), actor.ErrNotStaged, "unknown version")

	done := make(chan error, 1)
	go func() { done <- sys.Purge(context.Background(), v1, false, time.Second) }()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
	sys.Clock.Advance(time.Second)
	err := <-done
	var se *actor.StragglersError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, []actor.PID{p1}, se.PIDs, "the process still on v1, by PID")

	// Once p1 has had a message it has left v1: the purge completes.
	go func() { done <- sys.Purge(context.Background(), v1, false, time.Minute) }()
	require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
	_, err = call(t, sys, p1, "x")
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.EqualValues(t, 0, sys.Activations("ctr", "v1"))
}

// A held version stays in the table: an Unstage (a plan that did not
// commit, giving back what it named) leaves a version another plan holds,
// and Hold stages and holds in one step, however it races an Unstage.
func TestUnstageLeavesAHeldVersion(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := actor.Define("held", "v1", actor.Funcs[int]{Handle: func(_ *actor.Context, s int, _ any) (int, error) { return s, nil }})
	v2 := actor.Define("held", "v2", actor.Funcs[int]{Follows: "v1", Handle: func(_ *actor.Context, s int, _ any) (int, error) { return s, nil }})
	require.NoError(t, sys.Load(v1))
	release, err := sys.Hold(v2)
	require.NoError(t, err)
	assert.False(t, sys.Unstage(v2), "held by a plan")
	assert.GreaterOrEqual(t, sys.Activations("held", "v2"), int64(0), "still known")
	release()
	assert.True(t, sys.Unstage(v2), "no longer held")

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				release, err := sys.Hold(v2)
				if !assert.NoError(t, err) {
					return
				}
				sys.Unstage(v2)
				release()
			}
		})
	}
	wg.Go(func() {
		for range 2000 {
			sys.Unstage(v2)
		}
	})
	wg.Wait()
}
