package chaos_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/supervisor"
)

// realSystem is a test system on the wall clock (plans observe their
// waves for real).
func realSystem(t *testing.T) *actortest.System {
	return actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithClock(actor.RealClock{})),
		actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.WarnLevel)))
}

// countingTree starts n workers of a counting "orders" module (v1 and v2)
// named orders-0..n-1 under a one_for_one supervisor.
func countingTree(t *testing.T, sys *actor.System, n int) (*supervisor.Handle, []*actor.Version) {
	t.Helper()
	orders := []*actor.Version{countingVersion("orders", "v1", ""), countingVersion("orders", "v2", "v1")}
	require.NoError(t, sys.Load(orders[0]))
	var specs []supervisor.ChildSpec
	for i := range n {
		name := fmt.Sprint("orders-", i)
		specs = append(specs, supervisor.ChildSpec{ID: name, Handoff: true,
			Start: supervisor.StartSpec{Module: "orders", Options: []actor.SpawnOption{actor.WithName(name)}}})
	}
	root, err := supervisor.Start(sys, supervisor.Flags{Intensity: 1000, Period: 1e9}, specs)
	require.NoError(t, err)
	return root, orders
}

// Stop ends the schedule the way reaching Faults does: the run settles and
// checks. OnHandled sees every message Run sees, from before the load, and
// messages from another node (Origin) are left to the caller's accounts.
func TestStopEndsTheRunAndOnHandledWatchesToo(t *testing.T) {
	sys := realSystem(t)
	root, orders := countingTree(t, sys.System, 6)
	stop := make(chan struct{})
	var mu sync.Mutex
	seen := map[int]int{} // tracked fault.Msg of the run's own, by sender
	foreign := 0
	var once, busy sync.Once
	watching, loaded := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	var res *chaos.Result
	var runErr error
	go func() {
		defer close(done)
		res, runErr = chaos.Run(context.Background(), sys.System, root, chaos.Config{
			Seed: 7, Stop: stop, Module: "orders", Versions: orders, Rate: 2000, Senders: 1, UpgradeTimeout: 100e6,
			Weights: map[chaos.Kind]int{chaos.Kill: 1, chaos.Panic: 1, chaos.Upgrade: 1},
			OnHandled: func(pid actor.PID, msg any) {
				once.Do(func() { close(watching) })
				m, ok := msg.(fault.Msg)
				if !ok || m.Untracked || m.Seq == 0 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if m.Origin != "" {
					foreign++
					return
				}
				seen[m.Sender]++
				if seen[m.Sender] == 300 {
					busy.Do(func() { close(loaded) })
				}
			},
		})
	}()
	<-watching
	// A message from "another node" to a worker: the hook sees it, the
	// run's ledger does not count it.
	for {
		err := sys.SendNamed("orders-0", fault.Msg{Origin: "b@host", Sender: 0, Target: 0, Seq: 1})
		if err == nil {
			break
		}
		require.ErrorIs(t, err, actor.ErrUnknownName) // restarting
	}
	<-loaded // a while under load and faults
	close(stop)
	<-done
	require.NoError(t, runErr)
	require.NoError(t, res.Err(), res.String())
	assert.Positive(t, res.TotalFaults())
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range seen {
		total += n
	}
	assert.Equal(t, res.Handled, int64(total), "the hook saw every handled message of the run")
	assert.LessOrEqual(t, foreign, 1, "the other node's message, once at most (its worker may have been killed first)")
}

// A panic in OnHandled is the caller's bug: Run goes on watching, and
// reports it.
func TestOnHandledPanicFailsTheHostCheck(t *testing.T) {
	sys := realSystem(t)
	root, orders := countingTree(t, sys.System, 2)
	var n atomic.Int64
	res, err := chaos.Run(context.Background(), sys.System, root, chaos.Config{
		Seed: 8, Faults: 20, Module: "orders", Versions: orders, Rate: 1000, Senders: 1,
		Weights: map[chaos.Kind]int{chaos.Panic: 1},
		OnHandled: func(actor.PID, any) {
			if n.Add(1) == 3 {
				panic("observer bug")
			}
		},
	})
	require.NoError(t, err)
	assert.Greater(t, n.Load(), int64(3), "still called after the panic")
	assert.Zero(t, res.Lost, "Run's own accounting went on")
	require.Error(t, res.Err())
	assert.Contains(t, res.Err().Error(), "Config.OnHandled panicked: observer bug")
}
