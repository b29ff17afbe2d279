package actor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// tagged is a load message: who sent it, its per-sender sequence number,
// and how many version swaps had completed when it was sent.
type tagged struct {
	Sender, Seq int
	Published   int64
}

type handled struct {
	Sender, Seq int
	Version     string
	Published   int64
}

// Two versions of module "acct" whose states have different shapes.
type acctV1 struct {
	Count      int
	Last       map[int]int // sender -> last sequence number
	Migrations int
	Disorder   int
}

type acctV2 struct {
	Total      int64
	Last       []int // indexed by sender
	Migrations int
	Disorder   int
}

type acctStats struct {
	Count, Migrations, Disorder int
	Version                     string
}

type pickupRig struct {
	mu       sync.Mutex
	log      []handled
	switched chan string // a version the actor handled its first message with
	tokens   []chan struct{}
}

func (r *pickupRig) record(ctx *actor.Context, m tagged, last *string) {
	r.mu.Lock()
	r.log = append(r.log, handled{Sender: m.Sender, Seq: m.Seq, Version: ctx.Version(), Published: m.Published})
	r.mu.Unlock()
	if v := ctx.Version(); v != *last {
		*last = v
		r.switched <- v
	}
	<-r.tokens[m.Sender] // let the sender send one more
}

func (r *pickupRig) versions(senders int) (v1, v2 *actor.Version) {
	start := "v1" // the actor starts on v1
	lastSeen := &start
	v1 = actor.Define("acct", "v1", actor.Funcs[acctV1]{
		Init: func(*actor.Context, any) (acctV1, error) { return acctV1{Last: map[int]int{}}, nil },
		Handle: func(ctx *actor.Context, s acctV1, msg any) (acctV1, error) {
			switch m := msg.(type) {
			case tagged:
				if s.Last[m.Sender]+1 != m.Seq {
					s.Disorder++
				}
				s.Last[m.Sender] = m.Seq
				s.Count++
				r.record(ctx, m, lastSeen)
			case string: // stats
				ctx.Reply(acctStats{Count: s.Count, Migrations: s.Migrations, Disorder: s.Disorder, Version: "v1"})
			}
			return s, nil
		},
	})
	v2 = actor.Define("acct", "v2", actor.Funcs[acctV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, s acctV2, msg any) (acctV2, error) {
			switch m := msg.(type) {
			case tagged:
				if s.Last[m.Sender]+1 != m.Seq {
					s.Disorder++
				}
				s.Last[m.Sender] = m.Seq
				s.Total++
				r.record(ctx, m, lastSeen)
			case string:
				ctx.Reply(acctStats{Count: int(s.Total), Migrations: s.Migrations, Disorder: s.Disorder, Version: "v2"})
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(old acctV1, _ any) (acctV2, error) {
			s := acctV2{Total: int64(old.Count), Last: make([]int, senders), Migrations: old.Migrations + 1, Disorder: old.Disorder}
			for k, v := range old.Last {
				s.Last[k] = v
			}
			return s, nil
		}),
		Downgrade: func(to string, s acctV2, _ any) (any, error) {
			old := acctV1{Count: int(s.Total), Last: map[int]int{}, Migrations: s.Migrations + 1, Disorder: s.Disorder}
			for k, v := range s.Last {
				if v != 0 {
					old.Last[k] = v
				}
			}
			return old, nil
		},
	})
	return v1, v2
}

// TestPerMessageVersionPickup swaps the current version of a module 100
// times (v1 <-> v2, with a change of state shape each way) while several
// senders keep an actor busy. Every message must be handled exactly once,
// in per-sender order, by the version current when it was dequeued, and
// the state must migrate exactly once per swap.
func TestPerMessageVersionPickup(t *testing.T) {
	const senders, swaps, window = 4, 100, 64
	sys := actortest.NewSystem(t)
	rig := &pickupRig{switched: make(chan string, swaps+1)}
	for range senders {
		rig.tokens = append(rig.tokens, make(chan struct{}, window))
	}
	v1, v2 := rig.versions(senders)
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("acct", nil)
	require.NoError(t, err)

	var done atomic.Int64 // swaps completed (Load returned)
	stop := make(chan struct{})
	sent := make([]int, senders)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				case rig.tokens[s] <- struct{}{}: // at most window in flight
				}
				require.NoError(t, sys.Send(pid, tagged{Sender: s, Seq: seq, Published: done.Load()}))
				sent[s] = seq
			}
		})
	}

	for k := 1; k <= swaps; k++ {
		next := v2
		if k%2 == 0 {
			next = v1
		}
		require.NoError(t, sys.Load(next))
		done.Store(int64(k))
		// The next message the actor dequeues runs on next; wait for it so
		// that every swap is observed (two swaps with no message between
		// them would cancel out).
		assert.Equal(t, next.Name(), <-rig.switched, "swap %d", k)
	}
	close(stop)
	wg.Wait()

	st, err := call(t, sys, pid, "stats")
	require.NoError(t, err)
	stats := st.(acctStats)

	total := 0
	for _, n := range sent {
		total += n
	}
	assert.Equal(t, total, stats.Count, "every message handled")
	assert.Zero(t, stats.Disorder, "per-sender order kept")
	assert.Equal(t, swaps, stats.Migrations, "state migrated exactly once per swap")
	assert.Equal(t, "v1", stats.Version) // 100 swaps: back on v1

	rig.mu.Lock()
	defer rig.mu.Unlock()
	require.Len(t, rig.log, total)
	seen := make(map[[2]int]int, total)
	generation := int64(0) // swaps the actor has observed so far
	last := "v1"
	for i, h := range rig.log {
		seen[[2]int{h.Sender, h.Seq}]++
		if h.Version != last {
			generation++
			last = h.Version
		}
		// Sent after swap Published had completed: it must be handled by
		// that version or a later one, never an older one.
		if h.Published > generation {
			t.Fatalf("message %d (%+v) handled by generation %d, older than the %d swaps done when it was sent", i, h, generation, h.Published)
		}
	}
	assert.Equal(t, int64(swaps), generation, "the version changed exactly at each swap")
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("message %v handled %d times", k, n)
		}
	}
	assert.EqualValues(t, 1, sys.Activations("acct", "v1"))
	assert.EqualValues(t, 0, sys.Activations("acct", "v2"))
}

// counterVersion is a module "ctr" version with int state; change, when
// set, is its CodeChange.
// counterVersion makes version name of "ctr"; "vN" follows "vN-1".
func counterVersion(name string, change func(from string, old, extra any) (int, error)) *actor.Version {
	return actor.Define("ctr", name, actor.Funcs[int]{
		Follows:    previous(name),
		Handle:     counterHandle,
		CodeChange: change,
	})
}

func counterHandle(ctx *actor.Context, n int, msg any) (int, error) {
	n++
	ctx.Reply(fmt.Sprintf("%s:%d", ctx.Version(), n))
	return n, nil
}

// previous returns the name of the version before "vN": "vN-1" ("" for
// v1 and names of another form).
func previous(name string) string {
	var n int
	if _, err := fmt.Sscanf(name, "v%d", &n); err != nil || n <= 1 {
		return ""
	}
	return fmt.Sprintf("v%d", n-1)
}

func TestFailedMigrationKeepsVersionAndState(t *testing.T) {
	bad := map[string]*actor.Version{
		"error": counterVersion("v2", func(string, any, any) (int, error) { return 0, errors.New("no way") }),
		"panic": counterVersion("v2", func(string, any, any) (int, error) { panic("migration exploded") }),
		"wrong state type": actor.Define("ctr", "v2", actor.Funcs[string]{
			Follows: "v1",
			Handle:  func(*actor.Context, string, any) (string, error) { return "", nil },
			// no CodeChange: the int state is kept and does not fit
		}),
	}
	for name, v2 := range bad {
		t.Run(name, func(t *testing.T) {
			sys := actortest.NewSystem(t)
			var mu sync.Mutex
			var failed []actor.MigrationFailed
			defer sys.Subscribe(func(e actor.Event) {
				if f, ok := e.(actor.MigrationFailed); ok {
					mu.Lock()
					failed = append(failed, f)
					mu.Unlock()
				}
			})()
			require.NoError(t, sys.Load(counterVersion("v1", nil)))
			pid, err := sys.Spawn("ctr", nil)
			require.NoError(t, err)
			ts := sys
			r, err := call(t, ts, pid, "x")
			require.NoError(t, err)
			assert.Equal(t, "v1:1", r)

			require.NoError(t, sys.Load(v2))
			for i := 2; i <= 5; i++ {
				r, err = call(t, ts, pid, "x")
				require.NoError(t, err, "the actor keeps handling messages")
				assert.Equal(t, fmt.Sprintf("v1:%d", i), r, "on the version that built its state, with its state")
			}
			mu.Lock()
			require.Len(t, failed, 1, "reported once, not retried per message")
			f := failed[0]
			mu.Unlock()
			assert.Equal(t, pid, f.PID)
			assert.Equal(t, "v1", f.From)
			assert.Equal(t, "v2", f.To)
			var me *actor.MigrationError
			assert.ErrorAs(t, f.Err, &me)
			assert.EqualValues(t, 1, sys.Activations("ctr", "v1"))
			assert.EqualValues(t, 0, sys.Activations("ctr", "v2"))

			// A later good version that migrates from v1 directly (around
			// the broken v2) is picked up, from v1.
			var from atomic.Value
			v3 := actor.Define("ctr", "v3", actor.Funcs[int]{Follows: "v2", UpgradesFrom: []string{"v1"},
				Handle: counterHandle,
				CodeChange: func(f string, old, _ any) (int, error) {
					from.Store(f)
					return old.(int) * 100, nil
				}})
			require.NoError(t, sys.Load(v3))
			r, err = call(t, ts, pid, "x")
			require.NoError(t, err)
			assert.Equal(t, "v3:501", r)
			assert.Equal(t, "v1", from.Load())
			assert.EqualValues(t, -1, sys.Activations("ctr", "v1"), "retired and no longer previous: it left the table")
			assert.EqualValues(t, 1, sys.Activations("ctr", "v3"))
		})
	}
}

func TestActivationsFollowProcesses(t *testing.T) {
	sys := actortest.NewSystem(t)
	ts := sys
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	var pids []actor.PID
	for range 3 {
		pid, err := sys.Spawn("ctr", nil)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	assert.EqualValues(t, 3, sys.Activations("ctr", "v1"))
	require.NoError(t, sys.Load(counterVersion("v2", func(_ string, old, _ any) (int, error) { return old.(int), nil })))
	assert.EqualValues(t, 3, sys.Activations("ctr", "v1"), "loading migrates nobody by itself")
	_, err := call(t, ts, pids[0], "x")
	require.NoError(t, err)
	assert.EqualValues(t, 2, sys.Activations("ctr", "v1"))
	assert.EqualValues(t, 1, sys.Activations("ctr", "v2"))
	require.NoError(t, sys.Stop(context.Background(), pids[1]))
	assert.EqualValues(t, 1, sys.Activations("ctr", "v1"), "an exit ends the activation")
	assert.EqualValues(t, -1, sys.Activations("ctr", "v9"))

	mods := sys.Modules()
	require.Len(t, mods, 1)
	assert.Equal(t, "ctr", mods[0].Name)
	assert.Equal(t, "v2", mods[0].Current)
	assert.Equal(t, "v1", mods[0].Previous)
	assert.Equal(t, map[string]int64{"v1": 1, "v2": 1}, mods[0].Activations)
	require.Len(t, mods[0].Versions, 2)
	assert.Equal(t, "v1", mods[0].Versions[1].Lineage().Follows, "versions by name, with their lineage")
	info, err := sys.Info(context.Background(), pids[2])
	require.NoError(t, err)
	assert.Equal(t, "v1", info.Version, "info shows the version that built the state")
}

// Moving between versions follows the declared lineage, never load order:
// a version without a Downgrade cannot be left downwards, and one loaded
// after a newer one still takes its declared place.
func TestLineageDecidesTheDirection(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := counterVersion("v1", nil)
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) { return old.(int) + 10, nil })
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Load(v2))
	r, err := call(t, sys, pid, "x")
	require.NoError(t, err)
	assert.Equal(t, "v2:11", r, "upgrade ran v2's CodeChange")
	assert.ErrorIs(t, sys.Load(v1), actor.ErrNoRoute, "v2 has no Downgrade: v1 is refused while v2 is in use")
	cur, _ := sys.Current("ctr")
	assert.Same(t, v2, cur)

	// v4 is loaded before v3, which it follows: v3 is still below v4.
	sys2 := actortest.NewSystem(t)
	v3 := actor.Define("ctr", "v3", actor.Funcs[int]{Follows: "v2", Handle: counterHandle,
		CodeChange: func(_ string, old, _ any) (int, error) { return old.(int) + 100, nil }})
	v4 := actor.Define("ctr", "v4", actor.Funcs[int]{Follows: "v3", Handle: counterHandle,
		CodeChange: func(_ string, old, _ any) (int, error) { return old.(int) + 1000, nil },
		Downgrade:  func(_ string, n int, _ any) (any, error) { return n - 1000, nil }})
	require.NoError(t, sys2.Load(v1))
	p, err := sys2.Spawn("ctr", nil)
	require.NoError(t, err)
	require.NoError(t, sys2.Stage(v2))
	require.NoError(t, sys2.Stage(v3))
	require.NoError(t, sys2.Load(v4))
	r, err = call(t, sys2, p, "x")
	require.NoError(t, err)
	assert.Equal(t, "v4:1111", r, "v1 up to v2 up to v3 up to v4")
	assert.Equal(t, actor.Downward, actor.DirectionOf(v4, v3, nil))
	require.NoError(t, sys2.Load(v3), "v3 was loaded after v4 and is still a downgrade")
	r, err = call(t, sys2, p, "x")
	require.NoError(t, err)
	assert.Equal(t, "v3:112", r, "v4's Downgrade ran, not v3's CodeChange")
}

// A version retires exactly when it is no longer current and its last
// activation ends; its release hook runs once.
func TestRetirementWhenLastActivationEnds(t *testing.T) {
	sys := actortest.NewSystem(t)
	var retiredV1 atomic.Int32
	var events []actor.VersionRetired
	var mu sync.Mutex
	defer sys.Subscribe(func(e actor.Event) {
		if r, ok := e.(actor.VersionRetired); ok {
			mu.Lock()
			events = append(events, r)
			mu.Unlock()
		}
	})()
	up := func(_ string, old, _ any) (int, error) { return old.(int), nil }
	require.NoError(t, sys.Load(counterVersion("v1", nil), actor.OnRetire(func() { retiredV1.Add(1) })))
	a, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	b, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)

	require.NoError(t, sys.Load(counterVersion("v2", up)))
	assert.Zero(t, retiredV1.Load(), "two processes still hold v1")
	_, err = call(t, sys, a, "x") // a migrates
	require.NoError(t, err)
	assert.Zero(t, retiredV1.Load(), "b still holds v1")
	require.NoError(t, sys.Stop(context.Background(), b))
	assert.EqualValues(t, 1, retiredV1.Load(), "retired when the last activation ended")
	mu.Lock()
	assert.Equal(t, []actor.VersionRetired{{Module: "ctr", Version: "v1"}}, events)
	mu.Unlock()

	// A version nobody holds retires as soon as it stops being current.
	require.NoError(t, sys.Load(counterVersion("v3", up)))
	require.NoError(t, sys.Load(counterVersion("v4", up)))
	mods := sys.Modules()
	require.Len(t, mods, 1)
	assert.Equal(t, "v4", mods[0].Current)
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for _, e := range events {
		names = append(names, e.Version)
	}
	assert.Equal(t, []string{"v1", "v3"}, names, "v3 had no activation; v2 is still held by a")
}

// tempErr is a migration failure that says it may pass (a plugin
// restarting).
type tempErr struct{}

func (tempErr) Error() string   { return "try again" }
func (tempErr) Temporary() bool { return true }

func TestTemporaryMigrationFailureIsRetriedAtTheNextMessage(t *testing.T) {
	sys := actortest.NewSystem(t)
	var attempts atomic.Int32
	v1 := actor.Define("tmp", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, _ any) (int, error) { ctx.Reply(ctx.Version()); return n, nil },
	})
	v2 := actor.Define("tmp", "v2", actor.Funcs[int]{
		Follows: "v1",
		Handle:  func(ctx *actor.Context, n int, _ any) (int, error) { ctx.Reply(ctx.Version()); return n, nil },
		CodeChange: func(string, any, any) (int, error) {
			if attempts.Add(1) == 1 {
				return 0, fmt.Errorf("wrapped: %w", tempErr{})
			}
			return 0, nil
		},
	})
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("tmp", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Load(v2))
	got, err := sys.Call(context.Background(), pid, "which")
	require.NoError(t, err)
	assert.Equal(t, "v1", got, "the first attempt failed: still v1")
	got, err = sys.Call(context.Background(), pid, "which")
	require.NoError(t, err)
	assert.Equal(t, "v2", got, "a temporary failure is retried, not skipped")
	assert.Equal(t, int32(2), attempts.Load())
}

// A migration at a message can take long (a plugin's round trip, a plugin
// process starting), and another version can be made current while it
// runs: the process then drops the result and migrates to the version
// current when the migration returned, before it handles the message. It
// never moves to the version that stopped being current (a plan that read
// its version meanwhile would report it wrongly).
func TestPickupOutlastedByAChangeOfCurrentVersion(t *testing.T) {
	type trail struct{ Steps []string }
	// v3 migrates from v1 in one step: a process that kept the dropped v2
	// result would show +v2 before +v3.
	versions := func(inV2 func() error) (v1, v2, v3 *actor.Version) {
		handle := func(ctx *actor.Context, s trail, _ any) (trail, error) {
			ctx.Reply(fmt.Sprint(ctx.Version(), " ", s.Steps))
			return s, nil
		}
		up := func(name string, hook func() error) func(trail, any) (trail, error) {
			return func(s trail, _ any) (trail, error) {
				if hook != nil {
					if err := hook(); err != nil {
						return s, err
					}
				}
				return trail{Steps: append(slices.Clone(s.Steps), "+"+name)}, nil
			}
		}
		v1 = actor.Define("pk", "v1", actor.Funcs[trail]{Handle: handle})
		v2 = actor.Define("pk", "v2", actor.Funcs[trail]{Follows: "v1", Handle: handle, CodeChange: actor.Migrate(up("v2", inV2))})
		v3 = actor.Define("pk", "v3", actor.Funcs[trail]{Follows: "v2", UpgradesFrom: []string{"v1"}, Handle: handle,
			CodeChange: actor.Migrate(up("v3", nil))})
		return v1, v2, v3
	}
	for _, tc := range []struct {
		name string
		fail bool   // the migration to v2 fails once it returns
		next string // made current while it runs
		want string // the version and trail the message is handled with
	}{
		{name: "to a third version", next: "v3", want: "v3 [+v3]"},
		{name: "back to its own", next: "v1", want: "v1 []"},
		{name: "failing meanwhile", fail: true, next: "v3", want: "v3 [+v3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := actortest.NewSystem(t)
			entered, release := make(chan struct{}), make(chan struct{})
			var once atomic.Bool
			v1, v2, v3 := versions(func() error {
				if once.CompareAndSwap(false, true) {
					close(entered)
					<-release
					if tc.fail {
						return errors.New("refused")
					}
				}
				return nil
			})
			byName := map[string]*actor.Version{"v1": v1, "v3": v3}
			require.NoError(t, sys.Load(v1))
			require.NoError(t, sys.Stage(v3))
			pid, err := sys.Spawn("pk", nil)
			require.NoError(t, err)
			var mu sync.Mutex
			var moves []string
			defer sys.Subscribe(func(e actor.Event) {
				if m, ok := e.(actor.Migrated); ok && m.PID == pid {
					mu.Lock()
					moves = append(moves, m.From+"->"+m.To)
					mu.Unlock()
				}
			})()
			require.NoError(t, sys.Load(v2))
			// v2 does not retire once it is no longer current (a plan to v2
			// holds it so): the migration to it could complete.
			unhold, err := sys.Hold(v2)
			require.NoError(t, err)
			defer unhold()

			replied := make(chan any, 1)
			go func() {
				r, err := call(t, sys, pid, "which?")
				assert.NoError(t, err)
				replied <- r
			}()
			<-entered // migrating to v2, current when the message was taken
			require.NoError(t, sys.Load(byName[tc.next]))
			close(release)
			assert.Equal(t, tc.want, <-replied)
			v, ok := sys.VersionOf(pid)
			require.True(t, ok)
			assert.Equal(t, tc.next, v.Version)
			mu.Lock()
			defer mu.Unlock()
			var want []string
			if tc.next != "v1" {
				want = []string{"v1->" + tc.next}
			}
			assert.Equal(t, want, moves, "no move to v2 was reported")
		})
	}
}
