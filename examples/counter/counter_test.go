package counter_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/examples/counter"
)

func get(t *testing.T, sys *actortest.System, pid actor.PID) counter.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	r, err := sys.Call(ctx, pid, counter.Get{})
	require.NoError(t, err)
	return r.(counter.Stats)
}

func TestMigrationsLoseNothing(t *testing.T) {
	v1 := counter.StateV1{Count: 7, OutOfOrder: 2, Last: map[int]uint64{0: 3, 4: 1, 9: 12}}
	v2, err := counter.Upgrade(v1, nil)
	require.NoError(t, err)
	assert.Equal(t, counter.StateV2{Handled: 7, OutOfOrder: 2, Next: map[int]uint64{0: 4, 4: 2, 9: 13}}, v2)
	assert.Equal(t, v1, counter.Downgrade(v2))

	empty, err := counter.Upgrade(counter.StateV1{}, nil)
	require.NoError(t, err)
	assert.NotNil(t, empty.Next, "a migrated state is ready to use")
	assert.NotNil(t, counter.Downgrade(counter.StateV2{}).Last)
}

// Both versions flag a gap and a step back, and nothing else.
func TestOrderCheck(t *testing.T) {
	for _, v := range []*actor.Version{counter.V1, counter.V2} {
		t.Run(v.Name(), func(t *testing.T) {
			sys := actortest.NewSystem(t)
			require.NoError(t, sys.Load(v))
			pid, err := sys.Spawn(counter.Module, nil)
			require.NoError(t, err)
			for _, m := range []counter.Inc{
				{Sender: 1, Seq: 1}, {Sender: 2, Seq: 1}, {Sender: 1, Seq: 2},
				{Sender: 1, Seq: 4}, // gap
				{Sender: 1, Seq: 3}, // step back
				{Sender: 1, Seq: 5}, {Sender: 2, Seq: 2},
			} {
				require.NoError(t, sys.Send(pid, m))
			}
			s := get(t, sys, pid)
			assert.Equal(t, counter.Stats{
				Version: v.Name(), Handled: 7, OutOfOrder: 2, Last: map[int]uint64{1: 5, 2: 2},
			}, s)
		})
	}
}

// Messages queued before an upgrade are handled by the new version, after
// the migration, in order.
func TestQueuedMessagesCrossTheUpgrade(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counter.V1))
	pid, err := sys.Spawn(counter.Module, nil)
	require.NoError(t, err)
	ctx := context.Background()
	for seq := uint64(1); seq <= 100; seq++ {
		require.NoError(t, sys.Send(pid, counter.Inc{Sender: 1, Seq: seq}))
	}
	assert.Equal(t, int64(100), get(t, sys, pid).Handled)

	require.NoError(t, sys.Suspend(ctx, pid))
	for seq := uint64(101); seq <= 200; seq++ {
		require.NoError(t, sys.Send(pid, counter.Inc{Sender: 1, Seq: seq}))
	}
	require.NoError(t, sys.Load(counter.V2))
	info, err := sys.Info(ctx, pid)
	require.NoError(t, err)
	assert.Equal(t, "v1", info.Version, "a suspended process has not migrated yet")
	assert.Equal(t, 100, info.Queued)
	require.NoError(t, sys.Resume(ctx, pid))

	s := get(t, sys, pid)
	assert.Equal(t, counter.Stats{Version: "v2", Handled: 200, Last: map[int]uint64{1: 200}}, s)
	assert.EqualValues(t, 0, sys.Activations(counter.Module, "v1"))
	assert.EqualValues(t, 1, sys.Activations(counter.Module, "v2"))
}

func TestUnknownMessageStopsTheProcess(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counter.V2))
	pid, err := sys.Spawn(counter.Module, nil)
	require.NoError(t, err)
	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(pid)
	require.NoError(t, sys.Send(pid, "hello"))
	probe.ExpectDown(pid, counter.ErrUnknownMessage)
}

// The direction of a migration follows the lineage the versions declare,
// not the order the system loaded them in: with V2 loaded first, loading
// V1 is still a downgrade, and V2's Downgrade hands the state back.
func TestLineageDecidesDirection(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counter.V2))
	pid, err := sys.Spawn(counter.Module, nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(pid, counter.Inc{Sender: 1, Seq: 1}))
	require.NoError(t, sys.Load(counter.V1))
	s := get(t, sys, pid)
	assert.Equal(t, counter.Stats{Version: "v1", Handled: 1, Last: map[int]uint64{1: 1}}, s)
	assert.Equal(t, actor.Downward, actor.DirectionOf(counter.V2, counter.V1, nil))
}
