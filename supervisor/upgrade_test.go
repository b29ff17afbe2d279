package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// Module "acct": v1 keeps a count and per-sender sequence numbers in a map;
// v2 keeps them in a struct of int64 and a slice (a state-shape change).
type (
	acctMsg struct{ Sender, Seq int }
	acctGet struct{}
	acctV1  struct {
		ID       int
		Count    int
		Last     map[int]int
		Disorder int
	}
	acctV2 struct {
		ID         int
		Count      int64
		Last       []int
		Disorder   int
		Migrations int
	}
	acctStats struct {
		ID, Count, Disorder, Migrations int
		Version                         string
	}
)

const acctSenders = 4

var acctV1Version = actor.Define("acct", "v1", actor.Funcs[acctV1]{
	Init: func(_ *actor.Context, args any) (acctV1, error) {
		return acctV1{ID: args.(int), Last: map[int]int{}}, nil
	},
	Handle: func(ctx *actor.Context, s acctV1, msg any) (acctV1, error) {
		switch m := msg.(type) {
		case acctMsg:
			if s.Last[m.Sender]+1 != m.Seq {
				s.Disorder++
			}
			s.Last[m.Sender] = m.Seq
			s.Count++
		case acctGet:
			ctx.Reply(acctStats{ID: s.ID, Count: s.Count, Disorder: s.Disorder, Version: "v1"})
		}
		return s, nil
	},
})

// acctV2Version builds v2; fail, when set, decides the fate of the
// migration of a given id (nil: succeed).
func acctV2Version(fail func(id int) error) *actor.Version {
	return actor.Define("acct", "v2", actor.Funcs[acctV2]{
		Follows: "v1",
		// A process restarted while v2 is current starts here.
		Init: func(_ *actor.Context, args any) (acctV2, error) {
			id, _ := args.(int)
			return acctV2{ID: id, Last: make([]int, acctSenders)}, nil
		},
		Handle: func(ctx *actor.Context, s acctV2, msg any) (acctV2, error) {
			switch m := msg.(type) {
			case acctMsg:
				if s.Last[m.Sender]+1 != m.Seq {
					s.Disorder++
				}
				s.Last[m.Sender] = m.Seq
				s.Count++
			case acctGet:
				ctx.Reply(acctStats{ID: s.ID, Count: int(s.Count), Disorder: s.Disorder, Migrations: s.Migrations, Version: "v2"})
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(old acctV1, _ any) (acctV2, error) {
			if fail != nil {
				if err := fail(old.ID); err != nil {
					return acctV2{}, err
				}
			}
			s := acctV2{ID: old.ID, Count: int64(old.Count), Last: make([]int, acctSenders), Disorder: old.Disorder, Migrations: 1}
			for k, v := range old.Last {
				s.Last[k] = v
			}
			return s, nil
		}),
		Downgrade: func(_ string, s acctV2, _ any) (any, error) {
			old := acctV1{ID: s.ID, Count: int(s.Count), Last: map[int]int{}, Disorder: s.Disorder}
			for k, v := range s.Last {
				if v != 0 {
					old.Last[k] = v
				}
			}
			return old, nil
		},
	})
}

type fleet struct {
	sys  *actortest.System
	sup  *supervisor.Handle
	pids []actor.PID
	sent []atomic.Int64 // per actor
}

// newFleet starts n acct actors under a simple_one_for_one supervisor.
func newFleet(t *testing.T, n int) *fleet {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(acctV1Version))
	sup, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 1000, Period: time.Minute},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "acct"}}})
	require.NoError(t, err)
	f := &fleet{sys: sys, sup: sup, sent: make([]atomic.Int64, n)}
	for i := range n {
		pid, err := sup.StartSimpleChild(context.Background(), i)
		require.NoError(t, err)
		f.pids = append(f.pids, pid)
	}
	return f
}

// load sends from several senders to random actors until stop is closed;
// each sender numbers its messages per actor.
func (f *fleet) load(t *testing.T, stop <-chan struct{}) *sync.WaitGroup {
	return f.loadWith(t, stop, true)
}

// loadWith is load; strict false tolerates sends to processes that
// crashed (a bad release's), which then are not counted.
func (f *fleet) loadWith(t *testing.T, stop <-chan struct{}, strict bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	for s := range acctSenders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			seq := make([]int, len(f.pids))
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 64 {
					i := rng.IntN(len(f.pids))
					seq[i]++
					if err := f.sys.Send(f.pids[i], acctMsg{Sender: s, Seq: seq[i]}); err != nil {
						if strict {
							t.Errorf("send: %v", err)
							return
						}
						continue
					}
					f.sent[i].Add(1)
				}
				// A round trip per batch keeps the load at the pace the
				// actors handle it (a suspended one answers after it
				// resumes). Its context has a deadline, so no timer goes
				// on the fake clock.
				ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
				_, err := f.sys.Call(ctx, f.pids[rng.IntN(len(f.pids))], acctGet{})
				cancel()
				if err != nil && strict {
					t.Errorf("call: %v", err)
					return
				}
			}
		})
	}
	return &wg
}

// check asks every actor for its stats and checks that nothing was lost,
// duplicated or reordered, and that each is on version want with
// migrations migrations.
func (f *fleet) check(t *testing.T, want string, migrations int) {
	t.Helper()
	for i, pid := range f.pids {
		r, err := f.sys.Call(context.Background(), pid, acctGet{})
		require.NoError(t, err)
		st := r.(acctStats)
		if st.Count != int(f.sent[i].Load()) || st.Disorder != 0 || st.Version != want || st.Migrations != migrations {
			t.Fatalf("actor %d: %+v, sent %d, want version %s with %d migrations", i, st, f.sent[i].Load(), want, migrations)
		}
	}
}

func TestAtomicUpgradeUnderLoad(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	f := newFleet(t, n)
	stop := make(chan struct{})
	wg := f.load(t, stop)
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	rep, err := f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: acctV2Version(nil)}}})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Len(t, rep.Processes, n)
	for _, p := range rep.Processes {
		require.NoError(t, p.Err)
		require.Equal(t, "v1", p.From)
		require.Equal(t, "v2", p.To)
	}
	f.check(t, "v2", 1)
	assert.EqualValues(t, n, f.sys.Activations("acct", "v2"))
	assert.EqualValues(t, 0, f.sys.Activations("acct", "v1"))
	// The plan's steps, in order (each process's part is in
	// rep.Processes, and on the bus for subscribers).
	require.Len(t, rep.Events, 3)
	assert.IsType(t, upgrade.PlanAccepted{}, rep.Events[0])
	assert.IsType(t, upgrade.PlanPrepared{}, rep.Events[1])
	assert.IsType(t, upgrade.UpgradeCommitted{}, rep.Events[2])
}

func TestAtomicUpgradeRollsBackOnAnyFailure(t *testing.T) {
	const culprit = 137
	gate, entered := make(chan struct{}), make(chan struct{})
	failures := map[string]func(id int) error{
		"error": func(id int) error {
			if id == culprit {
				return errors.New("cannot migrate")
			}
			return nil
		},
		"panic": func(id int) error {
			if id == culprit {
				panic("migration exploded")
			}
			return nil
		},
		"timeout": func(id int) error {
			if id == culprit {
				close(entered)
				<-gate // stuck until the test lets it go, after the timeout
			}
			return nil
		},
	}
	for name, fail := range failures {
		t.Run(name, func(t *testing.T) {
			n := 10000
			if testing.Short() {
				n = 2000
			}
			f := newFleet(t, n)
			stop := make(chan struct{})
			wg := f.load(t, stop)
			type result struct {
				rep *upgrade.Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := f.sup.Upgrade(context.Background(), upgrade.Plan{
					Changes: []upgrade.Change{{Module: "acct", To: acctV2Version(fail)}},
					Timeout: time.Second,
				})
				done <- result{rep, err}
			}()
			var res result
			if name == "timeout" {
				ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
				defer cancel()
				failed := make(chan struct{}, 1)
				defer f.sys.Subscribe(func(e actor.Event) {
					if pf, ok := e.(upgrade.ProcessFailed); ok && pf.PID == f.pids[culprit] {
						failed <- struct{}{}
					}
				})()
				<-entered // the walk is over: the only timer is the round's
				require.NoError(t, f.sys.Clock.WaitForTimers(ctx, 1))
				f.sys.Clock.Advance(time.Second)
				// Once the plan has given up on the stuck migration, let it
				// return (before, its answer could still make it in time).
				<-failed
				close(gate)
				// The rollback waits for its own answers on a new timer;
				// they come once the stuck migration has returned.
				select {
				case res = <-done:
				case <-ctx.Done():
					t.Fatal("rollback did not finish")
				}
			} else {
				res = <-done
			}
			close(stop)
			wg.Wait()
			require.Error(t, res.err)
			assert.Equal(t, upgrade.RolledBack, res.rep.Outcome)
			failed := res.rep.Failed()
			require.NotEmpty(t, failed)
			if name == "timeout" {
				// Whoever had not answered when the deadline passed is
				// reported; the stuck process may have answered since.
				assert.Contains(t, fmt.Sprint(failed), "did not answer")
			} else {
				require.Len(t, failed, 1)
				assert.Equal(t, f.pids[culprit], failed[0].PID)
			}
			f.check(t, "v1", 0) // original state and version, nothing lost
			assert.EqualValues(t, n, f.sys.Activations("acct", "v1"))
			cur, _ := f.sys.Current("acct")
			assert.Equal(t, "v1", cur.Name())
		})
	}
}

func TestLazyUpgradeConvergesAndDowngradeRoundTrip(t *testing.T) {
	f := newFleet(t, 200)
	ctx := context.Background()
	v2 := acctV2Version(nil)

	// Dry run: nothing changes.
	rep, err := f.sup.Upgrade(ctx, upgrade.Plan{DryRun: true, Changes: []upgrade.Change{{Module: "acct", To: v2}}})
	require.NoError(t, err)
	assert.Equal(t, upgrade.Simulated, rep.Outcome)
	assert.Empty(t, rep.Failed())
	f.check(t, "v1", 0)

	// Lazy: commit at once; converged when every actor has had a message.
	stop := make(chan struct{})
	wg := f.load(t, stop)
	rep, err = f.sup.Upgrade(ctx, upgrade.Plan{Mode: upgrade.Lazy, Changes: []upgrade.Change{{Module: "acct", To: v2}}})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, upgrade.Converged, rep.Outcome)
	f.check(t, "v2", 1)

	// Downgrade, atomic: the Downgrade of v2 runs, and v1's state is equal
	// to what it would be without the round trip (counts and sequences).
	rep, err = f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: acctV1Version}}})
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	f.check(t, "v1", 0)

	// A version without a Downgrade declares no step down: the plan back
	// is refused before anything is touched.
	noDown := actor.Define("acct", "v3", actor.Funcs[acctV1]{Follows: "v1", Handle: acctHandleNop})
	_, err = f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: noDown}}})
	require.NoError(t, err)
	rep, err = f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: acctV1Version}}})
	assert.ErrorIs(t, err, upgrade.ErrRefused)
	assert.ErrorIs(t, err, actor.ErrNoRoute)
	assert.Equal(t, upgrade.Refused, rep.Outcome)
}

func acctHandleNop(_ *actor.Context, s acctV1, _ any) (acctV1, error) { return s, nil }

func TestOverlappingUpgradeFails(t *testing.T) {
	f := newFleet(t, 10)
	gate, entered := make(chan struct{}), make(chan struct{})
	v2 := acctV2Version(func(id int) error {
		if id == 0 {
			close(entered)
			<-gate
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.sup.Upgrade(context.Background(), upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: v2}}})
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	select { // the first upgrade is migrating
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the first upgrade never migrated")
	}
	_, err := f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: v2}}})
	assert.ErrorIs(t, err, upgrade.ErrInProgress)
	close(gate)
	require.NoError(t, <-done)
}

// Found: a sys-suspended supervisor in the subtree made Upgrade block until
// the caller's deadline. Now the plan is refused at once and nothing is
// touched; the supervisor stays suspended, as its suspender left it.
func TestUpgradeRefusesASuspendedSupervisor(t *testing.T) {
	f := newFleet(t, 5)
	ctx := context.Background()
	require.NoError(t, f.sys.Suspend(ctx, f.sup.PID()))
	rep, err := f.sup.Upgrade(ctx, upgrade.Plan{Changes: []upgrade.Change{{Module: "acct", To: acctV2Version(nil)}}})
	require.ErrorIs(t, err, upgrade.ErrRefused)
	assert.ErrorContains(t, err, "is suspended")
	assert.Equal(t, upgrade.Refused, rep.Outcome)
	cur, _ := f.sys.Current("acct")
	assert.Equal(t, "v1", cur.Name())
	info, err := f.sys.Info(ctx, f.sup.PID())
	require.NoError(t, err)
	assert.True(t, info.Suspended, "still suspended: the plan did not resume what it did not suspend")
	require.NoError(t, f.sys.Resume(ctx, f.sup.PID()))
	f.check(t, "v1", 0)
}
