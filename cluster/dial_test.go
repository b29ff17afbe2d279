package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/cluster"
)

// Requests to a node this one is not connected to, from many goroutines
// at once, share one working connection: Ergo does not serialize dials,
// and two dials at once could leave this end with a connection the far
// end had refused, through which nothing went until the tick ended it
// (seen in TestClusterChaos: a node took none of the load for a tick
// time). Each round connects anew; a broken connection shows as requests
// that get no answer.
func TestConcurrentDials(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b := joinLocal(t, "b@localhost", reg)
	lost := func(sys *actor.System) chan struct{} {
		ch := make(chan struct{}, 100)
		t.Cleanup(sys.Subscribe(func(e actor.Event) {
			if _, ok := e.(cluster.ConnectionLost); ok {
				ch <- struct{}{}
			}
		}))
		return ch
	}
	lostA, lostB := lost(sysA.System), lost(sysB.System)
	nobody := cluster.Name{Name: "nobody", Node: b.Name()}
	for round := range 30 {
		start := make(chan struct{})
		errs := make(chan error, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				<-start
				// A working connection answers at once; a broken one
				// never does.
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_, err := a.Whereis(ctx, nobody)
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.ErrorIs(t, err, actor.ErrUnknownName, "round %d: answered", round)
		}
		require.NoError(t, a.Disconnect(b.Name()))
		within(t, lostA)
		within(t, lostB)
	}
}
