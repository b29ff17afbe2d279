package upgrade_test

import (
	"context"
	"encoding/json"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/internal/strictjson"
	"github.com/graftrt/graft/upgrade"
)

// Regression tests, one per way the upgrade transaction was found to
// break. Each names what used to happen.

// execute runs p over pids (no supervisor) and returns the report.
func execute(t *testing.T, sys *actortest.System, p upgrade.Plan, pids ...actor.PID) (*upgrade.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	return upgrade.Execute(ctx, sys.System, p, upgrade.Processes(sys.System, pids...))
}

// lazily runs a lazy plan over pids: when it waits for the processes to
// migrate, wake get a message each; then, unless every process did, the
// plan's deadline passes on the fake clock.
func lazily(t *testing.T, sys *actortest.System, p upgrade.Plan, wake []actor.PID, pids ...actor.PID) (*upgrade.Report, error) {
	t.Helper()
	p.Mode = upgrade.Lazy
	awaiting := make(chan int, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if a, ok := e.(upgrade.UpgradeAwaiting); ok {
			awaiting <- a.Pending
		}
	})()
	type result struct {
		rep *upgrade.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := execute(t, sys, p, pids...)
		done <- result{rep, err}
	}()
	select {
	case r := <-done: // nothing to wait for
		return r.rep, r.err
	case pending := <-awaiting:
		for _, pid := range wake {
			ask(t, sys, pid)
		}
		if pending > len(wake) {
			ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
			defer cancel()
			require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
			sys.Clock.Advance(max(p.Timeout, upgrade.DefaultTimeout))
		}
	}
	r := <-done
	return r.rep, r.err
}

// Accounts: a balance, as compiled-in v1 and v2 and as a "plugin-like" v4
// whose state is JSON (a jsonState, as a plugin version's codec.Raw),
// loaded in the order v1, v4, v2.
type (
	balV1 struct{ Balance int }
	balV2 struct {
		Balance int
		Owner   string
	}
	balV4 struct {
		Cents int64
		Owner string
	}
)

func accountVersions() (v1, v2, v3, v4 *actor.Version) {
	handle := func(ctx *actor.Context, s any, msg any) (any, error) {
		ctx.Reply(s)
		return s, nil
	}
	v1 = actor.Define("acct", "v1", actor.Funcs[balV1]{
		Init:   func(*actor.Context, any) (balV1, error) { return balV1{Balance: 10000}, nil },
		Handle: func(ctx *actor.Context, s balV1, m any) (balV1, error) { ctx.Reply(s); return s, nil },
	})
	v2 = actor.Define("acct", "v2", actor.Funcs[balV2]{Follows: "v1",
		Handle:     func(ctx *actor.Context, s balV2, m any) (balV2, error) { ctx.Reply(s); return s, nil },
		CodeChange: actor.Migrate(func(old balV1, _ any) (balV2, error) { return balV2{Balance: old.Balance}, nil }),
		Downgrade:  func(_ string, s balV2, _ any) (any, error) { return balV1{Balance: s.Balance}, nil },
	})
	v3 = actor.NewVersion("acct", "v3", jsonVersion{follows: "v2", handle: handle,
		up: func(old any) (any, error) { // from v2: a Go value
			b := old.(balV2)
			return raw(balV4{Cents: int64(b.Balance) * 100, Owner: b.Owner}), nil
		},
		down: func(st any) (any, error) { // to v2: decoded strictly by v2
			var b balV4
			if err := st.(jsonState).DecodeStrict(&b); err != nil {
				return nil, err
			}
			return balV2{Balance: int(b.Cents / 100), Owner: b.Owner}, nil
		}})
	v4 = actor.NewVersion("acct", "v4", jsonVersion{follows: "v3", handle: handle,
		up:   func(old any) (any, error) { return old, nil },
		down: func(st any) (any, error) { return st, nil }})
	return v1, v2, v3, v4
}

func raw(v any) jsonState {
	data, _ := json.Marshal(v)
	return jsonState(data)
}

// jsonState is a state encoded as JSON, as a plugin version holds it (a
// codec.Raw of the JSON codec, in the plugin module): Decode is
// json.Unmarshal and DecodeStrict the strict decoding that codec.Raw's
// DecodeStrict calls, so a typed version treats it as it treats a plugin's
// state (actor.StrictDecoder).
type jsonState []byte

func (j jsonState) Decode(into any) error       { return json.Unmarshal(j, into) }
func (j jsonState) DecodeStrict(into any) error { return strictjson.Unmarshal(j, into) }

// jsonVersion is an untyped version whose state is a jsonState, as a
// plugin version's is a codec.Raw.
type jsonVersion struct {
	follows  string
	handle   func(ctx *actor.Context, s, msg any) (any, error)
	up, down func(any) (any, error)
}

func (j jsonVersion) Init(*actor.Context, any) (any, error) { return raw(balV4{}), nil }
func (j jsonVersion) Handle(ctx *actor.Context, s, msg any) (any, error) {
	return j.handle(ctx, s, msg)
}
func (j jsonVersion) CodeChange(_ string, old, _ any) (any, error) { return j.up(old) }
func (j jsonVersion) Downgrade(_ string, s, _ any) (any, error)    { return j.down(s) }
func (j jsonVersion) Lineage() actor.Lineage                       { return actor.Lineage{Follows: j.follows} }

// Found: with v1 loaded, then a plugin v4, then a compiled-in v2 loaded for
// the first time, v4 → v2 counted as an upgrade (v2 loaded last): v2's
// CodeChange decoded v4's JSON leniently, the balance became 0, and the
// upgrade committed silently. Now the lineage says v4 → v2 goes down
// through v3 (refused while v3 is not known, naming it), and a typed
// version refuses a JSON state of another shape.
func TestRegressionDirectionFollowsLineageNotLoadOrder(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1, v2, v3, v4 := accountVersions()
	require.NoError(t, sys.Load(v1))
	pid := spawn(t, sys, "acct", 1)[0]
	require.NoError(t, sys.Stage(v2))
	require.NoError(t, sys.Stage(v3))
	rep, err := execute(t, sys, plan(upgrade.Atomic, v4), pid)
	require.NoError(t, err)
	require.Equal(t, upgrade.Committed, rep.Outcome)
	r, err := sys.Call(context.Background(), pid, "get")
	require.NoError(t, err)
	require.Equal(t, raw(balV4{Cents: 1000000}), r, "v1 up to v2 up to v3 up to v4")

	// Down to v2: v4's and v3's Downgrades run, in the versions left.
	rep, err = execute(t, sys, plan(upgrade.Atomic, v2), pid)
	require.NoError(t, err)
	assert.Equal(t, actor.Downward, rep.Schedule.Direction["acct"])
	assert.Equal(t, "v4 down to v3", rep.Schedule.Procs[0].Route[0].String())
	r, err = sys.Call(context.Background(), pid, "get")
	require.NoError(t, err)
	assert.Equal(t, balV2{Balance: 10000}, r, "no data lost")

	// The route through a version the system does not know is refused
	// before anything is touched, naming the missing version.
	sys3 := actortest.NewSystem(t)
	require.NoError(t, sys3.Stage(v1))
	require.NoError(t, sys3.Stage(v2))
	require.NoError(t, sys3.Stage(v3))
	require.NoError(t, sys3.Load(v4))
	p3 := spawn(t, sys3, "acct", 1)[0]
	require.True(t, sys3.Unstage(v3))
	rep, err = execute(t, sys3, plan(upgrade.Atomic, v2), p3)
	assert.ErrorIs(t, err, upgrade.ErrRefused)
	assert.ErrorIs(t, err, actor.ErrNoRoute)
	assert.ErrorContains(t, err, "passes v3, which is not loaded")
	assert.Equal(t, upgrade.Refused, rep.Outcome)
	cur, _ := sys3.Current("acct")
	assert.Same(t, v4, cur)

	// And a typed version never reads a JSON state of another shape: the
	// v1 state type given v4's JSON is refused, not read as 0.
	_, err = actor.MigrateState(v4, v1, []*actor.Version{v1, v2, v3, v4}, raw(balV4{Cents: 5}), nil)
	require.NoError(t, err, "the declared route down decodes each shape in its own version")
	direct := actor.Define("acct", "v1", actor.Funcs[balV1]{Handle: func(_ *actor.Context, s balV1, _ any) (balV1, error) { return s, nil }})
	bad := actor.Define("acct", "v5", actor.Funcs[balV1]{Follows: "v4",
		Handle:     func(_ *actor.Context, s balV1, _ any) (balV1, error) { return s, nil },
		CodeChange: actor.Migrate(func(old balV1, _ any) (balV1, error) { return old, nil })})
	_, err = actor.MigrateState(v4, bad, []*actor.Version{direct, v4, bad}, raw(balV4{Cents: 5}), nil)
	assert.ErrorIs(t, err, actor.ErrStateType, "balV1 cannot take {Cents, Owner}: refused, not zero")
	assert.ErrorContains(t, err, "unknown field")
}

// The OTP-derived case: 2 → 1 runs code_change({down, 1}) — v2's
// Downgrade — even when version 1 was never loaded in that system.
func TestRegressionDowngradeToAVersionNeverLoaded(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[1]))
	pid := spawn(t, sys, "m", 1)[0]
	rep, err := execute(t, sys, plan(upgrade.Atomic, m[0]), pid)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Equal(t, snapshot{"v1", acct{Trail: "-v2"}}, ask(t, sys, pid), "v2's Downgrade ran")
}

// Found: a lazy upgrade left idle processes on v1; every later atomic
// upgrade suspended and migrated them too, then failed at the commit with
// ErrNotPurged in a branch believed unreachable, reporting To=v3 and no
// error for everyone. Now stragglers migrate with the others along the
// lineage (v1 → v2 → v3), or the plan refuses or kills them by policy,
// and a dry run predicts the refusal.
func TestRegressionStragglersTakePartInTheTransaction(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 3)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 6)
	rep, err := lazily(t, sys, plan(upgrade.Lazy, m[1]), pids[:3], pids...)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Unconverged, rep.Outcome)
	assert.Equal(t, 3, rep.Count(upgrade.Pending))
	for _, pid := range pids[:3] {
		assert.Equal(t, "v2", ask(t, sys, pid).Version)
	}
	idle := pids[3:]
	for _, pid := range idle {
		v, _ := sys.VersionOf(pid)
		require.Equal(t, "v1", v.Version, "idle processes stay on v1")
	}

	refuse := plan(upgrade.Atomic, m[2])
	refuse.Stragglers = upgrade.RefuseStragglers
	refuse.DryRun = true
	rep, err = execute(t, sys, refuse, pids...)
	assert.ErrorIs(t, err, upgrade.ErrRefused, "the dry run predicts the refusal")
	assert.Equal(t, upgrade.Refused, rep.Outcome)
	refuse.DryRun = false
	_, err = execute(t, sys, refuse, pids...)
	assert.ErrorIs(t, err, upgrade.ErrRefused)

	rep, err = execute(t, sys, plan(upgrade.Atomic, m[2]), pids...)
	require.NoError(t, err)
	require.Equal(t, upgrade.Committed, rep.Outcome)
	for i, r := range rep.Processes {
		assert.Equal(t, upgrade.Migrated, r.Result, "process %d", i)
		assert.Equal(t, "v3", r.To)
		assert.NoError(t, r.Err)
	}
	for _, pid := range idle {
		assert.Equal(t, snapshot{"v3", acct{Trail: "+v2+v3"}}, ask(t, sys, pid), "v1 up to v2 up to v3, once")
	}
	assert.EqualValues(t, -1, sys.Activations("m", "v1"), "v1 left the table")

	// Killing them, by policy.
	sys2 := actortest.NewSystem(t)
	require.NoError(t, sys2.Load(m[0]))
	p2 := spawn(t, sys2, "m", 2)
	_, err = lazily(t, sys2, plan(upgrade.Lazy, m[1]), p2[:1], p2...)
	require.NoError(t, err)
	kill := plan(upgrade.Atomic, m[2])
	kill.Stragglers = upgrade.KillStragglers
	gone := sys2.Watch(p2[1])
	rep, err = execute(t, sys2, kill, p2...)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	<-gone.Done()
	assert.Equal(t, actor.Killed, gone.Reason())
}

// rolling runs a rolling plan over pids, letting each gate's observation
// pass on the fake clock.
func rolling(t *testing.T, sys *actortest.System, p upgrade.Plan, pids ...actor.PID) (*upgrade.Report, error) {
	t.Helper()
	p.Mode = upgrade.Rolling
	if p.Gate.Observe == 0 {
		p.Gate.Observe = time.Second
	}
	events := make(chan upgrade.Event, 1024)
	defer sys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(upgrade.Event); ok {
			events <- ev
		}
	})()
	type result struct {
		rep *upgrade.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := execute(t, sys, p, pids...)
		done <- result{rep, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	committed := false
	for {
		select {
		case r := <-done:
			return r.rep, r.err
		case ev := <-events:
			switch ev.(type) {
			case upgrade.UpgradeCommitted:
				committed = true
			case upgrade.WaveCommitted:
				if !committed {
					require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
					sys.Clock.Advance(p.Gate.Observe)
				}
			}
		case <-ctx.Done():
			t.Fatal("rolling plan did not finish")
		}
	}
}

// Found: an atomic plan over two modules reported rolled_back while the
// first module's new version was current, and its "rolled back" processes
// migrated at their next message; a lazy plan returned an error after the
// first module's version was made current. Now every module of a plan
// commits together, or none does.
func TestRegressionSeveralModulesCommitTogetherOrNotAtAll(t *testing.T) {
	sys := actortest.NewSystem(t)
	a, b := chain("a", 2), chain("b", 2)
	require.NoError(t, sys.Load(a[0]))
	require.NoError(t, sys.Load(b[0]))
	pa, pb := spawn(t, sys, "a", 3), spawn(t, sys, "b", 3)
	bad := ver("b", "v2", vs{follows: "v1", down: true, hook: func(string, acct) error { return errNo }})
	rep, err := execute(t, sys, plan(upgrade.Atomic, a[1], bad), append(pa, pb...)...)
	require.Error(t, err)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	for _, mod := range []string{"a", "b"} {
		cur, _ := sys.Current(mod)
		assert.Equal(t, "v1", cur.Name(), "module %s", mod)
	}
	for _, pid := range pa {
		assert.Equal(t, snapshot{"v1", acct{}}, ask(t, sys, pid), "rolled back, and it stays so at its next message")
	}

	// A lazy plan whose second module refuses changes neither.
	noRoute := ver("b", "x1", vs{})
	rep, err = execute(t, sys, upgrade.Plan{Mode: upgrade.Lazy, Changes: []upgrade.Change{{Module: "a", To: a[1]}, {Module: "b", To: noRoute}}}, append(pa, pb...)...)
	assert.ErrorIs(t, err, upgrade.ErrRefused)
	assert.Equal(t, upgrade.Refused, rep.Outcome)
	cur, _ := sys.Current("a")
	assert.Equal(t, "v1", cur.Name())

	// Both at once.
	rep, err = lazily(t, sys, plan(upgrade.Lazy, a[1], b[1]), append(pa, pb...), append(pa, pb...)...)
	require.NoError(t, err)
	assert.Equal(t, upgrade.Converged, rep.Outcome)
	for _, mod := range []string{"a", "b"} {
		cur, _ := sys.Current(mod)
		assert.Equal(t, "v2", cur.Name(), "module %s", mod)
	}
}

// Found: a failure at the last wave of a rolling upgrade left that wave's
// processes suspended for good (calls to them timed out). Now every
// prepared process resumes and every finished wave rolls back.
func TestRegressionRollingFailureAtTheLastWave(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 4)
	var n atomic.Int32
	failLast := ver("m", "v2", vs{follows: "v1", down: true, hook: func(dir string, _ acct) error {
		if dir == "up" && n.Add(1) == 4 { // the last process of the last wave
			return errNo
		}
		return nil
	}})
	rep, err := rolling(t, sys, upgrade.Plan{Waves: []float64{0.5, 1}, Changes: []upgrade.Change{{Module: "m", To: failLast}}}, pids...)
	require.Error(t, err)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	for _, pid := range pids {
		info, err := sys.Info(context.Background(), pid)
		require.NoError(t, err)
		assert.False(t, info.Suspended)
		assert.Equal(t, "v1", ask(t, sys, pid).Version, "a call answers, on v1")
	}
	assert.Equal(t, 3, rep.Count(upgrade.Restored), "the first wave rolled back, the last one aborted")
	assert.Equal(t, 1, rep.Count(upgrade.Failed))
	var rolledBack bool
	for _, e := range rep.Events {
		_, ok := e.(upgrade.UpgradeRolledBack)
		rolledBack = rolledBack || ok
	}
	assert.True(t, rolledBack)
}

// Found: a downgrade that failed while a gate rolled finished waves back
// was reported as done, the process running v2 while v1 was current; a
// Gate.Check panic escaped Upgrade and left the tree split; a gate failure
// emitted GateFailed but no UpgradeRolledBack. Now a gate panic is a
// failed gate, every rollback says so, and a process that cannot go back
// is killed (or kept, reported, by policy).
func TestRegressionRollingRollbackFailures(t *testing.T) {
	for _, policy := range []upgrade.RollbackFailurePolicy{upgrade.KillOnRollbackFailure, upgrade.KeepOnRollbackFailure} {
		sys := actortest.NewSystem(t)
		m := chain("m", 1)
		require.NoError(t, sys.Load(m[0]))
		pids := spawn(t, sys, "m", 4)
		stuck := ver("m", "v2", vs{follows: "v1", down: true, hook: func(dir string, a acct) error {
			if dir == "down" {
				return errNo
			}
			return nil
		}})
		p := upgrade.Plan{Waves: []float64{0.5, 1}, OnRollbackFailure: policy,
			Gate:    upgrade.Gate{Check: func(context.Context, upgrade.Wave) error { panic("gate exploded") }},
			Changes: []upgrade.Change{{Module: "m", To: stuck}}}
		rep, err := rolling(t, sys, p, pids...)
		require.ErrorContains(t, err, "gate check panicked: gate exploded")
		assert.Equal(t, upgrade.RolledBack, rep.Outcome)
		var gate, rolledBack bool
		for _, e := range rep.Events {
			switch e.(type) {
			case upgrade.GateFailed:
				gate = true
			case upgrade.UpgradeRolledBack:
				rolledBack = gate // after the gate failed
			}
		}
		assert.True(t, gate && rolledBack)
		cur, _ := sys.Current("m")
		assert.Equal(t, "v1", cur.Name())
		for i, r := range rep.Processes[:2] { // the first wave could not go back
			require.Error(t, r.Err, "process %d", i)
			if policy == upgrade.KillOnRollbackFailure {
				assert.Equal(t, upgrade.Killed, r.Result)
				_, alive := sys.VersionOf(r.PID)
				assert.False(t, alive)
			} else {
				assert.Equal(t, upgrade.Failed, r.Result)
				assert.Equal(t, "v2", r.To, "it stays on v2, and the report says so")
				v, _ := sys.VersionOf(r.PID)
				assert.Equal(t, actor.ProcessVersion{PID: r.PID, Module: "m", Version: "v2", Pinned: true}, v)
			}
		}
		for _, r := range rep.Processes[2:] {
			assert.Equal(t, upgrade.NotReached, r.Result, "never reached: reported with where it is")
			assert.Equal(t, "v1", r.From)
			assert.Equal(t, "v1", r.To)
		}
	}
}

// Found: a process that answered the suspend after the timeout made the
// upgrade roll back, yet later ran the rolled-back migration after
// Upgrade returned, and suspend/resume events were reported for it. Now a
// request given up on is never served; the plan rolls back (or skips the
// process, by policy), and the report says which.
func TestRegressionLateAnswersNeverMigrate(t *testing.T) {
	for _, skip := range []bool{false, true} {
		sys := actortest.NewSystem(t)
		busy := actor.Define("m", "v1", actor.Funcs[acct]{Handle: func(ctx *actor.Context, a acct, msg any) (acct, error) {
			if b, ok := msg.([2]chan struct{}); ok {
				close(b[0])
				<-b[1]
			}
			ctx.Reply(snapshot{ctx.Version(), a})
			return a, nil
		}})
		require.NoError(t, sys.Load(busy))
		pids := spawn(t, sys, "m", 3)
		var migrations atomic.Int32
		v2 := ver("m", "v2", vs{follows: "v1", hook: func(string, acct) error { migrations.Add(1); return nil }})
		entered, gate := make(chan struct{}), make(chan struct{})
		require.NoError(t, sys.Send(pids[0], [2]chan struct{}{entered, gate}))
		<-entered // busy in a handler: it cannot answer
		p := plan(upgrade.Atomic, v2)
		p.Timeout = time.Second
		if skip {
			p.OnTimeout = upgrade.SkipOnTimeout
		}
		got := events(sys)
		done := make(chan struct{})
		var rep *upgrade.Report
		var err error
		go func() {
			defer close(done)
			rep, err = execute(t, sys, p, pids...)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		require.NoError(t, sys.Clock.WaitForTimers(ctx, 1))
		for _, pid := range pids[1:] {
			_, _ = sys.Info(ctx, pid) // answered after the prepare
		}
		sys.Clock.Advance(time.Second)
		<-done
		cancel()
		close(gate)
		r, callErr := sys.Call(context.Background(), pids[0], get{})
		require.NoError(t, callErr)
		if !skip {
			require.Error(t, err)
			assert.Equal(t, upgrade.RolledBack, rep.Outcome)
			assert.Equal(t, upgrade.NoAnswer, rep.Processes[0].Result)
			assert.Equal(t, snapshot{"v1", acct{}}, r, "it never migrates")
		} else {
			require.NoError(t, err)
			assert.Equal(t, upgrade.Committed, rep.Outcome)
			assert.Equal(t, upgrade.Skipped, rep.Processes[0].Result)
			assert.Equal(t, snapshot{"v2", acct{Trail: "+v2"}}, r, "skipped: it picks v2 up at its next message")
		}
		for _, e := range got() {
			switch e := e.(type) {
			case upgrade.ProcessSuspended:
				assert.NotEqual(t, pids[0], e.PID, "it never suspended")
			case upgrade.ProcessResumed:
				assert.NotEqual(t, pids[0], e.PID, "nor resumed")
			}
		}
		want := int32(2) // the two that answered, prepared (then aborted or committed)
		if skip {
			want = 3 // and the skipped one, on its own, at its next message
		}
		assert.Equal(t, want, migrations.Load())
	}
}

// Found: a process's commit could fail after the point of no return in a
// branch believed unreachable. The commit checks that no module's current
// version changed since the plan's snapshot; if one did (a Load behind the
// plan's back), the plan rolls back, honestly.
func TestRegressionCommitRefusedRollsBack(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 3)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 2)
	entered, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	v3 := ver("m", "v3", vs{follows: "v2", upFrom: []string{"v1"}, down: true, hook: func(string, acct) error {
		if once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	}})
	done := make(chan error, 1)
	var rep *upgrade.Report
	go func() {
		var err error
		rep, err = execute(t, sys, plan(upgrade.Atomic, v3), pids...)
		done <- err
	}()
	<-entered
	require.NoError(t, sys.Load(m[1])) // behind the plan's back
	close(release)
	err := <-done
	assert.ErrorIs(t, err, actor.ErrChanged)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	for _, r := range rep.Processes {
		assert.Equal(t, upgrade.Restored, r.Result)
	}
	cur, _ := sys.Current("m")
	assert.Same(t, m[1], cur, "the plan did not make v3 current")
}

// Found: versions were never dropped: after 1,000 successive versions of
// one module, all 1,001 stayed in the module table. Now a version that is
// neither current nor previous, runs nowhere and lies on no route leaves
// the table (a bounded history stays for reports).
func TestRegressionRetiredVersionsLeaveTheTable(t *testing.T) {
	sys := actortest.NewSystem(t)
	vs := chain("m", 1000)
	require.NoError(t, sys.Load(vs[0]))
	pid := spawn(t, sys, "m", 1)[0]
	for _, v := range vs[1:] {
		rep, err := execute(t, sys, plan(upgrade.Atomic, v), pid)
		require.NoError(t, err)
		require.Equal(t, upgrade.Committed, rep.Outcome)
	}
	info, _ := sys.Module("m")
	assert.Len(t, info.Versions, 2, "current and previous")
	assert.Equal(t, "v1000", info.Current)
	assert.Equal(t, "v999", info.Previous)
	assert.Len(t, info.Retired, 16)
	assert.Equal(t, "v998", info.Retired[15])
}

// Found: ParsePlan accepted waves [0.5, 0.2, 1], [5, 1], [-1, 1] and the
// same module twice (ParsePlan's tests); Resolve staged the versions of
// earlier changes before refusing a later one. Now a refused spec stages
// nothing.
func TestRegressionResolveStagesNothingOnFailure(t *testing.T) {
	sys := actortest.NewSystem(t)
	a, b := chain("a", 2), chain("b", 2)
	require.NoError(t, sys.Load(a[0]))
	require.NoError(t, sys.Load(b[0]))
	spec, err := upgrade.ParsePlan([]byte(`{"changes": [{"module": "a", "version": "v2"}, {"module": "b", "version": "v9"}]}`))
	require.NoError(t, err)
	_, err = spec.Resolve(context.Background(), sys.System, upgrade.NewNative(a[1], b[1]))
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion)
	assert.EqualValues(t, -1, sys.Activations("a", "v2"), "a@v2 was not left staged")
}

// Found by the chaos run: a lazy plan returned as soon as the last
// process's Migrated event reached it, and a process tells of its
// migration before it publishes the new version (so that a listing that
// finds it there has heard of it). Right after Execute, VersionOf could
// show a process reported Migrated still on its old version. Here a
// subscriber after the plan's own holds the process between the two.
func TestRegressionLazyReportAgreesWithVersionOf(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 1)
	var slowed atomic.Bool
	defer sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(upgrade.UpgradeAwaiting); ok && !slowed.Swap(true) {
			t.Cleanup(sys.Subscribe(func(e actor.Event) { // called after the plan's subscriber
				if _, ok := e.(actor.Migrated); ok {
					for range 20_000 {
						runtime.Gosched()
					}
				}
			}))
			_ = sys.Send(pids[0], 0) // its next message: it migrates
		}
	})()
	rep, err := execute(t, sys, plan(upgrade.Lazy, m[1]), pids...)
	require.NoError(t, err)
	require.Equal(t, upgrade.Converged, rep.Outcome)
	require.Equal(t, upgrade.Migrated, rep.Processes[0].Result)
	v, ok := sys.VersionOf(pids[0])
	require.True(t, ok)
	assert.Equal(t, "v2", v.Version, "reported Migrated, so VersionOf says so")
}
