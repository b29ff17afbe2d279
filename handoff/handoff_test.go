package handoff

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Module "acct": v1 holds a balance; v2, following v1, a balance and a
// count of operations.
type (
	credit   struct{ N int }
	balance  struct{}
	later    struct{ N int } // a credit sent by a SendAfter timer
	acctV2St struct{ Balance, Ops int }
)

func acctV1(codec actor.Codec) *actor.Version {
	return actor.Define("acct", "v1", actor.Funcs[int]{
		Codec: codec,
		Types: []any{credit{}, balance{}, later{}},
		Handle: func(ctx *actor.Context, s int, msg any) (int, error) {
			switch m := msg.(type) {
			case credit:
				return s + m.N, nil
			case later:
				return s + m.N, nil
			case balance:
				ctx.Reply(s)
			}
			return s, nil
		},
	})
}

var acctV2 = actor.Define("acct", "v2", actor.Funcs[acctV2St]{
	Follows: "v1",
	Codec:   actor.JSON,
	Types:   []any{credit{}, balance{}, later{}},
	Handle: func(ctx *actor.Context, s acctV2St, msg any) (acctV2St, error) {
		switch m := msg.(type) {
		case credit:
			s.Balance += m.N
			s.Ops++
		case later:
			s.Balance += m.N
			s.Ops++
		case balance:
			ctx.Reply(s.Balance)
		}
		return s, nil
	},
	CodeChange: actor.Migrate(func(n int, _ any) (acctV2St, error) { return acctV2St{Balance: n}, nil }),
})

func bg(t testing.TB) context.Context {
	wait := actortest.DefaultWait
	if _, ok := t.(*testing.B); ok {
		wait = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

const accounts = 5

// oldNode starts the old side: accounts a0..a4 under a supervisor, each
// credited with its index.
func oldNode(t *testing.T, codec actor.Codec) (*actortest.System, *Node) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(acctV1(codec)))
	var specs []supervisor.ChildSpec
	for i := range accounts {
		name := "a" + string(rune('0'+i))
		specs = append(specs, supervisor.ChildSpec{ID: name,
			Start: supervisor.StartSpec{Module: "acct", Options: []actor.SpawnOption{actor.WithName(name)}}})
	}
	top, err := supervisor.Start(sys.System, supervisor.Flags{}, specs, actor.WithName("bank"))
	require.NoError(t, err)
	for i := range accounts {
		require.NoError(t, sys.SendNamed("a"+string(rune('0'+i)), credit{N: i}))
	}
	return sys, New(sys.System, Options{Trees: []*supervisor.Handle{top}, StepTimeout: actortest.DefaultWait})
}

// newNode is the new build: v1 staged, v2 current (or what versions says).
func newNode(t *testing.T, check func(context.Context) error, versions ...*actor.Version) (*actortest.System, *Node) {
	sys := actortest.NewSystem(t)
	if versions == nil {
		versions = []*actor.Version{acctV1(actor.JSON), acctV2}
	}
	for _, v := range versions[:len(versions)-1] {
		require.NoError(t, sys.Stage(v))
	}
	require.NoError(t, sys.Load(versions[len(versions)-1]))
	return sys, New(sys.System, Options{Check: check, StepTimeout: actortest.DefaultWait})
}

// pair runs both sides over an in-memory channel. breakAt, if set, closes
// the new side's end when it has received that many frames.
func pair(t testing.TB, oldN, newN *Node, breakAt int) (*Report, error, error) {
	a, b := net.Pipe()
	var recvErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var rw net.Conn = b
		if breakAt > 0 {
			rw = &breaker{Conn: b, left: breakAt}
		}
		recvErr = newN.receive(context.Background(), &channel{rw: rw})
	}()
	rep, err := oldN.run(bg(t), time.Now(), &channel{rw: a}, &Report{}, func() { a.Close() }, func(e error) error { return e })
	wg.Wait()
	return rep, err, recvErr
}

// breaker closes the connection once it has read left frame headers.
type breaker struct {
	net.Conn
	mu    sync.Mutex
	reads int
	left  int
}

func (b *breaker) Read(p []byte) (int, error) {
	b.mu.Lock()
	if len(p) == 4 {
		b.reads++
		if b.reads > b.left {
			b.mu.Unlock()
			b.Conn.Close()
			return 0, net.ErrClosed
		}
	}
	b.mu.Unlock()
	return b.Conn.Read(p)
}

func balanceOf(t *testing.T, sys *actortest.System, name string) any {
	v, err := sys.CallNamed(bg(t), name, balance{})
	require.NoError(t, err, name)
	return v
}

func suspendedAny(t *testing.T, sys *actortest.System) bool {
	for _, st := range sys.Snapshot() {
		info, err := sys.Info(bg(t), st.PID)
		if err == nil && info.Suspended {
			return true
		}
	}
	return false
}

// A committed handoff: every account runs v2 in the new system with its
// balance; what was queued while suspended, a pending timer and what
// reaches the old system afterwards by name (a forwarder) arrive too.
func TestHandoffCommits(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	newSys, newN := newNode(t, func(ctx context.Context) error { return nil })
	a1, _ := oldSys.Whereis("a1")
	oldSys.SendAfter(a1, time.Minute, later{N: 1000})

	// A message queued behind a busy suspension: sent once the suspend
	// step has begun.
	queued := make(chan struct{})
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok && ev.Step == StepTransfer && ev.Status == "begin" {
			require.NoError(t, oldSys.SendNamed("a2", credit{N: 100}))
			close(queued)
		}
	})()
	rep, err, recvErr := pair(t, oldN, newN, 0)
	require.NoError(t, err)
	require.NoError(t, recvErr)
	<-queued
	assert.Equal(t, Committed, rep.Outcome)
	require.Len(t, rep.Processes, accounts)
	for _, p := range rep.Processes {
		assert.Equal(t, "moved", p.Result)
		assert.Equal(t, "v1", p.From)
		assert.Equal(t, "v2", p.To)
		assert.False(t, p.NewPID.IsZero())
	}
	assert.Equal(t, 1, rep.Timers)
	assert.Positive(t, rep.Bytes)

	for i := range accounts {
		want := i
		if i == 2 {
			want += 100
		}
		assert.Equal(t, want, balanceOf(t, newSys, "a"+string(rune('0'+i))))
	}
	// The old process's names now forward to the new process.
	require.NoError(t, oldSys.SendNamed("a3", credit{N: 7}))
	assert.Equal(t, 10, balanceOf(t, oldSys, "a3"), "a call by name in the old process is answered by the new one")
	assert.Equal(t, 10, balanceOf(t, newSys, "a3"))
	// The timer was taken over: it fires in the new system.
	newSys.Clock.Advance(time.Minute)
	assert.Equal(t, 1001, balanceOf(t, newSys, "a1"))
	oldSys.Clock.Advance(time.Hour)
	assert.Equal(t, uint64(0), oldSys.DeadLetters())
	assert.Equal(t, uint64(0), newSys.DeadLetters())
	_, ok := newSys.Whereis("bank")
	assert.True(t, ok)
	assert.Len(t, newN.Trees(), 1)
	select {
	case <-oldN.Done():
	default:
		t.Fatal("the old node is not done after the commit")
	}
	oldN.Close()
	newN.Close()
}

// A failing health gate aborts: the new side stops what it rebuilt, the
// old side resumes every process with its state and queue.
func TestHandoffHealthGateAborts(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	newSys, newN := newNode(t, func(ctx context.Context) error { return errors.New("not ready") })
	queued := make(chan struct{})
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok && ev.Step == StepTransfer && ev.Status == "begin" {
			require.NoError(t, oldSys.SendNamed("a4", credit{N: 100}))
			close(queued)
		}
	})()
	rep, err, recvErr := pair(t, oldN, newN, 0)
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StepHealth, se.Step)
	assert.Contains(t, err.Error(), "not ready")
	require.Error(t, recvErr)
	assert.Equal(t, Aborted, rep.Outcome)
	<-queued
	for _, p := range rep.Processes {
		assert.Equal(t, "resumed", p.Result)
	}
	assert.Equal(t, 104, balanceOf(t, oldSys, "a4"))
	assert.False(t, suspendedAny(t, oldSys))
	assert.Equal(t, 0, newSys.ProcessCount())
	assert.Equal(t, uint64(0), oldSys.DeadLetters())
}

// A new build whose lineage has no route from a version in use refuses
// at prepare: nothing is suspended.
func TestHandoffRefusesLineageGap(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	v3 := actor.Define("acct", "v3", actor.Funcs[acctV2St]{Follows: "v2", Codec: actor.JSON,
		Handle: func(ctx *actor.Context, s acctV2St, msg any) (acctV2St, error) { return s, nil }})
	var suspended bool
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok && ev.Step == StepSuspend {
			suspended = true
		}
	})()
	_, newN := newNode(t, nil, acctV1(actor.JSON), v3)
	rep, err, recvErr := pair(t, oldN, newN, 0)
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StepPrepare, se.Step)
	require.ErrorIs(t, recvErr, actor.ErrNoRoute)
	assert.Contains(t, err.Error(), "v2")
	assert.Equal(t, Refused, rep.Outcome)
	assert.False(t, suspended)
	assert.False(t, suspendedAny(t, oldSys))
	assert.Equal(t, 3, balanceOf(t, oldSys, "a3"))
}

// A version without a codec in the old process refuses before anything
// is suspended, naming the module.
func TestHandoffRefusesVersionWithoutCodec(t *testing.T) {
	oldSys, oldN := oldNode(t, nil)
	_, newN := newNode(t, nil)
	rep, err, _ := pair(t, oldN, newN, 0)
	require.ErrorIs(t, err, actor.ErrNoCodec)
	assert.Contains(t, err.Error(), "acct@v1")
	assert.Equal(t, Refused, rep.Outcome)
	assert.False(t, suspendedAny(t, oldSys))
}

// The new side going away mid-transfer (its channel closed after the
// prepare) aborts: the old side resumes everything.
func TestHandoffNewSideGoneMidTransfer(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	_, newN := newNode(t, nil)
	rep, err, recvErr := pair(t, oldN, newN, 1) // reads prepare, then the channel breaks
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, []string{StepTransfer, StepRebuild}, se.Step)
	require.Error(t, recvErr)
	assert.Equal(t, Aborted, rep.Outcome)
	assert.False(t, suspendedAny(t, oldSys))
	assert.Equal(t, 2, balanceOf(t, oldSys, "a2"))
}

// A migration that fails in the new build aborts at the rebuild: the new
// side stops what it started, the old side resumes with every balance.
func TestHandoffFailingMigrationAborts(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	bad := actor.Define("acct", "v2", actor.Funcs[acctV2St]{
		Follows: "v1", Codec: actor.JSON, Types: []any{credit{}, balance{}, later{}},
		Handle: func(ctx *actor.Context, s acctV2St, msg any) (acctV2St, error) { return s, nil },
		CodeChange: actor.Migrate(func(n int, _ any) (acctV2St, error) {
			if n == 3 {
				return acctV2St{}, errors.New("account 3 does not migrate")
			}
			return acctV2St{Balance: n}, nil
		}),
	})
	newSys, newN := newNode(t, nil, acctV1(actor.JSON), bad)
	rep, err, recvErr := pair(t, oldN, newN, 0)
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StepRebuild, se.Step)
	assert.True(t, se.Remote)
	assert.Contains(t, err.Error(), "account 3 does not migrate")
	require.Error(t, recvErr)
	assert.Equal(t, Aborted, rep.Outcome)
	assert.Equal(t, 0, newSys.ProcessCount())
	assert.False(t, suspendedAny(t, oldSys))
	for i := range accounts {
		assert.Equal(t, i, balanceOf(t, oldSys, "a"+string(rune('0'+i))))
	}
}

// UpgradeServed's callback gets the committed report after the forward
// step and before the drain begins.
func TestServedComesBeforeTheDrain(t *testing.T) {
	oldSys, oldN := oldNode(t, actor.JSON)
	_, newN := newNode(t, func(ctx context.Context) error { return nil })
	var mu sync.Mutex
	var steps []string
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok {
			mu.Lock()
			steps = append(steps, ev.Step+" "+ev.Status)
			mu.Unlock()
		}
	})()
	var got *Report
	oldN.served = func(r *Report) {
		mu.Lock()
		steps = append(steps, "served")
		mu.Unlock()
		got = r
	}
	rep, err, recvErr := pair(t, oldN, newN, 0)
	require.NoError(t, err)
	require.NoError(t, recvErr)
	require.NotNil(t, got)
	assert.Equal(t, Committed, got.Outcome)
	assert.Len(t, got.Processes, len(rep.Processes))
	assert.Positive(t, got.Total)
	mu.Lock()
	assert.Equal(t, []string{StepForward + " done", "served", StepDrain + " begin", StepDrain + " done"}, steps[len(steps)-4:])
	mu.Unlock()
	oldN.Close()
	newN.Close()
}

type oops struct{ X int } // a message type no version lists

// twoTrees starts the old side with two trees, handed over in waves:
// "bank" (accounts a0..a4, as oldNode) and "vault" (v0 and v1, credited
// with 10 and 11).
func twoTrees(t *testing.T) (*actortest.System, *Node) {
	sys, n := oldNode(t, actor.JSON)
	specs := []supervisor.ChildSpec{
		{ID: "v0", Start: supervisor.StartSpec{Module: "acct", Options: []actor.SpawnOption{actor.WithName("v0")}}},
		{ID: "v1", Start: supervisor.StartSpec{Module: "acct", Options: []actor.SpawnOption{actor.WithName("v1")}}},
	}
	vault, err := supervisor.Start(sys.System, supervisor.Flags{}, specs, actor.WithName("vault"))
	require.NoError(t, err)
	require.NoError(t, sys.SendNamed("v0", credit{N: 10}))
	require.NoError(t, sys.SendNamed("v1", credit{N: 11}))
	return sys, New(sys.System, Options{Trees: append(n.Trees(), vault), Waves: true, StepTimeout: actortest.DefaultWait})
}

// In waves, the second tree serves while the first one crosses; then
// both are suspended, and every process moves with its state.
func TestHandoffInWavesCommits(t *testing.T) {
	oldSys, oldN := twoTrees(t)
	newSys, newN := newNode(t, nil)
	v0, _ := oldSys.Whereis("v0")
	var transfers []bool // at each transfer's begin: is v0 suspended?
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok && ev.Step == StepTransfer && ev.Status == "begin" {
			info, err := oldSys.Info(bg(t), v0)
			require.NoError(t, err)
			transfers = append(transfers, info.Suspended)
		}
	})()
	rep, err, recvErr := pair(t, oldN, newN, 0)
	require.NoError(t, err)
	require.NoError(t, recvErr)
	assert.Equal(t, []bool{false, true}, transfers, "the vault ran while the bank crossed, and was suspended for its own wave")
	assert.Equal(t, Committed, rep.Outcome)
	require.Len(t, rep.Processes, accounts+2)
	for i := range accounts {
		assert.Equal(t, i, balanceOf(t, newSys, "a"+string(rune('0'+i))))
	}
	assert.Equal(t, 10, balanceOf(t, newSys, "v0"))
	assert.Equal(t, 11, balanceOf(t, newSys, "v1"))
	assert.Len(t, newN.Trees(), 2)
	oldN.Close()
	newN.Close()
}

// A later wave that cannot cross aborts the whole handoff: the new side
// stops the trees of the earlier waves it rebuilt, and the old side
// resumes every wave with its state and queue.
func TestHandoffInWavesAbortsInALaterWave(t *testing.T) {
	oldSys, oldN := twoTrees(t)
	newSys, newN := newNode(t, nil)
	waves := 0
	defer oldSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok && ev.Step == StepTransfer && ev.Status == "begin" {
			if waves++; waves == 2 {
				// v1 is suspended: its queue holds a message its version
				// cannot encode when its wave is exported.
				require.NoError(t, oldSys.SendNamed("v1", oops{X: 1}))
			}
		}
	})()
	rep, err, recvErr := pair(t, oldN, newN, 0)
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StepTransfer, se.Step)
	require.ErrorIs(t, err, actor.ErrUnknownType)
	require.Error(t, recvErr)
	assert.Equal(t, Aborted, rep.Outcome)
	assert.Equal(t, 0, newSys.ProcessCount(), "the first wave's rebuilt tree was stopped")
	assert.False(t, suspendedAny(t, oldSys))
	for i := range accounts {
		assert.Equal(t, i, balanceOf(t, oldSys, "a"+string(rune('0'+i))))
	}
	assert.Equal(t, 10, balanceOf(t, oldSys, "v0"))
	assert.Equal(t, 11, balanceOf(t, oldSys, "v1"))
}
