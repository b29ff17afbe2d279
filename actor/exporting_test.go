package actor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/mailbox"
)

// The "ledger" module for exports: v1 keeps a sum, v2 (following v1) a
// sum and a count of entries; both take add and total.
type (
	add      struct{ N int }
	total    struct{}
	ledgerV2 struct{ Sum, Entries int }
	secret   struct{} // a message type no version declares
)

// recorder keeps what ledger processes handled, in order.
type recorder struct {
	mu   sync.Mutex
	seen []int
}

func (r *recorder) add(n int) {
	r.mu.Lock()
	r.seen = append(r.seen, n)
	r.mu.Unlock()
}

func (r *recorder) all() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.seen...)
}

func ledgerV1(rec *recorder, codec actor.Codec) *actor.Version {
	return actor.Define("ledger", "v1", actor.Funcs[int]{
		Codec: codec,
		Types: []any{add{}, total{}},
		Init: func(ctx *actor.Context, args any) (int, error) {
			n, _ := args.(int)
			return n, nil
		},
		Handle: func(ctx *actor.Context, s int, msg any) (int, error) {
			switch m := msg.(type) {
			case add:
				rec.add(m.N)
				return s + m.N, nil
			case total:
				ctx.Reply(s)
			}
			return s, nil
		},
	})
}

func ledger2(rec *recorder) *actor.Version {
	return actor.Define("ledger", "v2", actor.Funcs[ledgerV2]{
		Follows: "v1",
		Codec:   actor.JSON,
		Types:   []any{add{}, total{}},
		Handle: func(ctx *actor.Context, s ledgerV2, msg any) (ledgerV2, error) {
			switch m := msg.(type) {
			case add:
				rec.add(m.N)
				s.Sum += m.N
				s.Entries++
			case total:
				ctx.Reply(s)
			}
			return s, nil
		},
		CodeChange: actor.Migrate(func(n int, _ any) (ledgerV2, error) { return ledgerV2{Sum: n}, nil }),
	})
}

// tick is how often a test looks at a count that no event reports (a
// call queued by another goroutine), within actortest.DefaultWait.
const tick = time.Millisecond

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	t.Cleanup(cancel)
	return ctx
}

// A version without a codec makes CheckExport refuse, naming it, and
// touches nothing: the process is not suspended.
func TestCheckExportNamesVersionsWithoutCodec(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	require.NoError(t, sys.Load(ledgerV1(rec, nil)))
	pid, err := sys.Spawn("ledger", 1)
	require.NoError(t, err)
	err = sys.CheckExport([]actor.PID{pid})
	require.ErrorIs(t, err, actor.ErrNoCodec)
	assert.Contains(t, err.Error(), "ledger@v1")
	info, err := sys.Info(waitCtx(t), pid)
	require.NoError(t, err)
	assert.False(t, info.Suspended)
}

// Export reads a suspended process's state and queued messages as bytes
// without changing anything; after ResumeAll the process handles every
// queued message, in order, on its original state.
func TestExportChangesNothing(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	require.NoError(t, sys.Load(ledgerV1(rec, actor.JSON)))
	pids := make([]actor.PID, 3)
	for i := range pids {
		var err error
		pids[i], err = sys.Spawn("ledger", 10*i, actor.WithName(string(rune('a'+i))))
		require.NoError(t, err)
	}
	ctx := waitCtx(t)
	require.NoError(t, sys.SuspendAll(ctx, pids))
	for i := range 5 {
		require.NoError(t, sys.Send(pids[1], add{N: i}))
	}
	calls := make(chan any, 1)
	go func() {
		v, err := sys.Call(context.Background(), pids[1], total{})
		if err != nil {
			v = err
		}
		calls <- v
	}()
	require.Eventually(t, func() bool { st, _ := sys.Stat(pids[1]); return st.Queued == 6 }, actortest.DefaultWait, tick)

	ex, err := sys.Export(ctx, pids[1])
	require.NoError(t, err)
	assert.Equal(t, "b", ex.Name)
	assert.Equal(t, "ledger", ex.Module)
	assert.Equal(t, "v1", ex.Version)
	assert.Equal(t, "json", ex.Codec)
	assert.JSONEq(t, "10", string(ex.State))
	assert.Equal(t, 6, ex.Covered)
	assert.Equal(t, 1, ex.Calls)
	require.Len(t, ex.Queued, 5)
	for i, m := range ex.Queued {
		v, err := actor.DecodeMessage(ledgerV1(rec, actor.JSON), m)
		require.NoError(t, err)
		assert.Equal(t, add{N: i}, v)
	}
	assert.Empty(t, rec.all(), "nothing handled while suspended")

	require.NoError(t, sys.ResumeAll(ctx, pids))
	assert.Equal(t, 20, <-calls, "the call queued behind the messages sees them all")
	assert.Equal(t, []int{0, 1, 2, 3, 4}, rec.all())
}

// SuspendAll is all or nothing: a process suspended already (by someone
// else) makes it fail and resume the others.
func TestSuspendAllIsAllOrNothing(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(ledgerV1(&recorder{}, actor.JSON)))
	a, err := sys.Spawn("ledger", 0)
	require.NoError(t, err)
	b, err := sys.Spawn("ledger", 0)
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, sys.Suspend(ctx, b))
	err = sys.SuspendAll(ctx, []actor.PID{a, b})
	require.ErrorIs(t, err, actor.ErrAlreadySuspended)
	info, err := sys.Info(ctx, a)
	require.NoError(t, err)
	assert.False(t, info.Suspended, "a was resumed")
	info, err = sys.Info(ctx, b)
	require.NoError(t, err)
	assert.True(t, info.Suspended, "b keeps its own suspension")

	err = sys.SuspendAll(ctx, []actor.PID{a, actor.PID{}})
	require.ErrorIs(t, err, actor.NoProc)
	info, err = sys.Info(ctx, a)
	require.NoError(t, err)
	assert.False(t, info.Suspended)
}

// Export refuses a process that is not suspended, and a queued message of
// a type the version does not declare; the process is left as it was.
func TestExportRefusals(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	require.NoError(t, sys.Load(ledgerV1(rec, actor.JSON)))
	pid, err := sys.Spawn("ledger", 0)
	require.NoError(t, err)
	ctx := waitCtx(t)
	_, err = sys.Export(ctx, pid)
	require.ErrorIs(t, err, actor.ErrNotSuspended)

	require.NoError(t, sys.SuspendAll(ctx, []actor.PID{pid}))
	require.NoError(t, sys.Send(pid, add{N: 1}))
	require.NoError(t, sys.Send(pid, secret{}))
	_, err = sys.Export(ctx, pid)
	require.ErrorIs(t, err, actor.ErrUnknownType)
	assert.Contains(t, err.Error(), "secret")
	require.NoError(t, sys.ResumeAll(ctx, []actor.PID{pid}))
	v, err := sys.Call(ctx, pid, total{})
	require.NoError(t, err)
	assert.Equal(t, 1, v)
}

// A process exported from one system is restored in another whose
// current version follows the exported one: the state migrates along the
// lineage, the queued messages are handled first, before anything sent to
// the new process, and the pending Continue step before them.
func TestRestoreMigratesAndQueuesFirst(t *testing.T) {
	old := actortest.NewSystem(t)
	recOld, recNew := &recorder{}, &recorder{}
	require.NoError(t, old.Load(ledgerV1(recOld, actor.JSON)))
	pid, err := old.Spawn("ledger", 5)
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, old.SuspendAll(ctx, []actor.PID{pid}))
	require.NoError(t, old.Send(pid, add{N: 1}))
	require.NoError(t, old.Send(pid, add{N: 2}))
	ex, err := old.Export(ctx, pid)
	require.NoError(t, err)

	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Stage(ledgerV1(recNew, actor.JSON)))
	require.NoError(t, sys.Load(ledger2(recNew)))
	require.NoError(t, sys.CheckRestore("ledger", "v1", "json"))
	np, err := sys.Spawn("ledger", nil, actor.WithName("l"), actor.WithRestore(&actor.Restore{
		Version: ex.Version, Codec: ex.Codec, State: ex.State, Queued: ex.Queued,
	}))
	require.NoError(t, err)
	require.NoError(t, sys.Send(np, add{N: 3}))
	v, err := sys.CallNamed(ctx, "l", total{})
	require.NoError(t, err)
	assert.Equal(t, ledgerV2{Sum: 11, Entries: 3}, v, "v1's 5 became v2's {5 0}, then 1, 2, 3")
	assert.Equal(t, []int{1, 2, 3}, recNew.all())
	assert.Empty(t, recOld.all())
	pv, ok := sys.VersionOf(np)
	require.True(t, ok)
	assert.Equal(t, "v2", pv.Version)
}

// A restore without a route is refused, naming the gap, and spawns
// nothing: the version is unknown here, or a version between is missing.
func TestRestoreRefusesLineageGaps(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	v3 := actor.Define("ledger", "v3", actor.Funcs[ledgerV2]{
		Follows: "v2", Codec: actor.JSON,
		Handle: func(ctx *actor.Context, s ledgerV2, msg any) (ledgerV2, error) { return s, nil },
	})
	require.NoError(t, sys.Stage(ledgerV1(rec, actor.JSON)))
	require.NoError(t, sys.Load(v3))
	err := sys.CheckRestore("ledger", "v1", "json")
	require.ErrorIs(t, err, actor.ErrNoRoute)
	assert.Contains(t, err.Error(), "v2")
	err = sys.CheckRestore("ledger", "v0", "json")
	require.ErrorIs(t, err, actor.ErrNoRoute)
	assert.Contains(t, err.Error(), "ledger@v0")
	err = sys.CheckRestore("nope", "v1", "json")
	require.ErrorIs(t, err, actor.ErrUnknownModule)
	err = sys.CheckRestore("ledger", "v3", "gob")
	require.Error(t, err)

	_, err = sys.Spawn("ledger", nil, actor.WithRestore(&actor.Restore{Version: "v1", Codec: "json", State: []byte("1")}))
	require.ErrorIs(t, err, actor.ErrNoRoute)
	// A state that does not decode strictly.
	_, err = sys.Spawn("ledger", nil, actor.WithRestore(&actor.Restore{Version: "v3", Codec: "json", State: []byte(`{"Sum":1}`)}))
	require.ErrorIs(t, err, actor.ErrStateType)
	assert.Equal(t, 0, sys.ProcessCount())
}

// Evict ends a suspended process without Terminate and without dead
// letters: its queue comes back, calls with their callers waiting.
func TestEvictReturnsTheQueue(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	require.NoError(t, sys.Load(ledgerV1(rec, actor.JSON)))
	letters := deadLetters(sys)
	pid, err := sys.Spawn("ledger", 0, actor.WithName("x"))
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, sys.SuspendAll(ctx, []actor.PID{pid}))
	require.NoError(t, sys.Send(pid, add{N: 7}))
	answer := make(chan any, 1)
	go func() {
		v, err := sys.Call(context.Background(), pid, total{})
		if err != nil {
			v = err
		}
		answer <- v
	}()
	require.Eventually(t, func() bool { st, _ := sys.Stat(pid); return st.Queued == 2 }, actortest.DefaultWait, tick)
	w := sys.Watch(pid)
	got, err := sys.Evict(ctx, pid)
	require.NoError(t, err)
	assert.False(t, sys.Alive(pid), "Evict returns once the process has exited")
	<-w.Done()
	assert.Equal(t, actor.ErrHandedOver, w.Reason())
	require.Len(t, got, 2)
	assert.Equal(t, add{N: 7}, got[0].Msg)
	assert.False(t, got[0].Reply.Valid())
	assert.Equal(t, total{}, got[1].Msg)
	require.True(t, got[1].Reply.Valid())
	got[1].Reply.Reply(42)
	assert.Equal(t, 42, <-answer)
	_, ok := sys.Whereis("x")
	assert.False(t, ok)
	assert.Empty(t, letters())
	assert.Empty(t, rec.all())
	assert.True(t, errors.Is(sys.Send(pid, add{N: 1}), actor.NoProc))
}

// DescribeSpawn reads the settings of spawn options and Options makes
// them again; one-spawn options are left out.
func TestDescribeSpawn(t *testing.T) {
	var info any
	s := actor.DescribeSpawn([]actor.SpawnOption{actor.WithName("n"), actor.WithMailbox(8, mailbox.DropOldest),
		actor.WithTrapExit(), actor.WithHandoff(), actor.WithStartInfo(&info), nil})
	assert.Equal(t, actor.SpawnSettings{Name: "n", Mailbox: mailbox.Options{Capacity: 8, Overflow: mailbox.DropOldest},
		TrapExit: true, Handoff: true}, s)
	assert.Equal(t, s, actor.DescribeSpawn(s.Options()))
	assert.Empty(t, actor.SpawnSettings{}.Options())
}

// EvictTo moves the name to the heir before the process goes: a send by
// name always finds one of them.
func TestEvictToMovesTheName(t *testing.T) {
	sys := actortest.NewSystem(t)
	rec := &recorder{}
	require.NoError(t, sys.Load(ledgerV1(rec, actor.JSON)))
	pid, err := sys.Spawn("ledger", 0, actor.WithName("x"))
	require.NoError(t, err)
	heir, err := sys.Spawn("ledger", 0)
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, sys.SuspendAll(ctx, []actor.PID{pid}))
	require.NoError(t, sys.SendNamed("x", add{N: 1}))
	letters, err := sys.EvictTo(ctx, pid, heir)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	assert.False(t, sys.Alive(pid))
	got, ok := sys.Whereis("x")
	require.True(t, ok)
	assert.Equal(t, heir, got)
	require.NoError(t, sys.SendNamed("x", add{N: 2}))
	v, err := sys.CallNamed(ctx, "x", total{})
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	// A heir with a name of its own is refused, and nothing changes.
	other, err := sys.Spawn("ledger", 0, actor.WithName("y"))
	require.NoError(t, err)
	_, err = sys.EvictTo(ctx, heir, other)
	require.ErrorIs(t, err, actor.ErrInvalidName)
	got, _ = sys.Whereis("x")
	assert.Equal(t, heir, got)
	assert.True(t, sys.Alive(heir))
}

// EvictAll evicts many processes at once, moving names to their heirs;
// each outcome is its own.
func TestEvictAll(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(ledgerV1(&recorder{}, actor.JSON)))
	ctx := waitCtx(t)
	var pids, heirs []actor.PID
	for i := range 3 {
		pid, err := sys.Spawn("ledger", 0, actor.WithName("e"+string(rune('0'+i))))
		require.NoError(t, err)
		heir, err := sys.Spawn("ledger", 0)
		require.NoError(t, err)
		pids, heirs = append(pids, pid), append(heirs, heir)
	}
	require.NoError(t, sys.SuspendAll(ctx, pids))
	require.NoError(t, sys.SendNamed("e1", add{N: 5}))
	gone := pids[2]
	require.NoError(t, sys.Stop(ctx, gone)) // cannot be evicted any more
	letters, errs := sys.EvictAll(ctx, pids, heirs)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], actor.NoProc)
	assert.Empty(t, letters[0])
	require.Len(t, letters[1], 1)
	assert.Equal(t, add{N: 5}, letters[1][0].Msg)
	for i := range 2 {
		got, ok := sys.Whereis("e" + string(rune('0'+i)))
		require.True(t, ok)
		assert.Equal(t, heirs[i], got)
		assert.False(t, sys.Alive(pids[i]))
	}
}
