package browser

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

const (
	workerModule = "worker"
	workers      = 20
)

// crash makes a worker panic: an exit reason its supervisor restarts.
type crash struct{}

// stateV2 is v2's state: v1's count, and whether it was migrated.
type stateV2 struct {
	Count    int
	Migrated bool
}

// service is a small supervised service under load: a one_for_one root
// with a simple_one_for_one pool of workers of a module in two versions.
type service struct {
	sys      *actor.System
	top      *supervisor.Handle
	pool     *supervisor.Handle
	v1, v2   *actor.Version
	sent     atomic.Uint64
	handled  atomic.Uint64
	handled2 atomic.Uint64 // by v2
}

func startService(t *testing.T) *service {
	t.Helper()
	s := &service{sys: actor.NewSystem()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, s.sys.Shutdown(ctx))
	})
	s.v1 = actor.Define(workerModule, "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, msg any) (int, error) {
			if _, ok := msg.(crash); ok {
				panic("crash asked for by the test")
			}
			s.handled.Add(1)
			return n + 1, nil
		},
	})
	s.v2 = actor.Define(workerModule, "v2", actor.Funcs[stateV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, st stateV2, msg any) (stateV2, error) {
			if _, ok := msg.(crash); ok {
				panic("crash asked for by the test")
			}
			s.handled.Add(1)
			s.handled2.Add(1)
			st.Count++
			return st, nil
		},
		CodeChange: actor.Migrate(func(n int, _ any) (stateV2, error) { return stateV2{Count: n, Migrated: true}, nil }),
		// A rolling upgrade needs the way back, to roll finished waves back.
		Downgrade: func(_ string, st stateV2, _ any) (any, error) { return st.Count, nil },
	})
	require.NoError(t, s.sys.Load(s.v1))

	pool := supervisor.Spec("pool", supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 50, Period: time.Minute},
		[]supervisor.ChildSpec{{ID: "worker", Start: supervisor.StartSpec{Module: workerModule}}})
	var err error
	s.top, err = supervisor.Start(s.sys, supervisor.Flags{Strategy: supervisor.OneForOne}, []supervisor.ChildSpec{pool})
	require.NoError(t, err)
	ctx := context.Background()
	kids, err := s.top.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, kids, 1)
	s.pool = supervisor.Of(s.sys, kids[0].PID)
	for range workers {
		_, err := s.pool.StartSimpleChild(ctx, nil)
		require.NoError(t, err)
	}
	return s
}

// load sends messages to every worker until stop is called. The workers
// are found through the system's snapshot, not by asking the pool: an
// upgrade holds the pool, and the load goes on through it. The pace is
// a ticker's (4,000 messages a second): a load generator, not a wait.
func (s *service) load() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, p := range s.sys.Snapshot() {
				if p.Module == workerModule && s.sys.Send(p.PID, "tick") == nil {
					s.sent.Add(1)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
