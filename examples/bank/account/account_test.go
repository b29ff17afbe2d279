package account_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/upgrade/upgradetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The admin API shows every compiled-in version's state.
var (
	_ admin.StateInspector = account.StateV1{}
	_ admin.StateInspector = account.StateV2{}
	_ admin.StateInspector = account.StateV3{}
)

// The lineage's migrations, checked offline over generated states: every
// step runs, up then down gives the state back, no step modifies its
// input, and each version decodes only its own state shape.
func TestMigrations(t *testing.T) {
	history := func(r *rand.Rand) []account.Entry {
		var h []account.Entry
		for i := range r.IntN(account.HistoryLen + 1) {
			h = append(h, account.Entry{Seq: uint64(i + 1), Op: account.OpDeposit, Amount: r.Int64N(100), Balance: r.Int64N(1000)})
		}
		return h
	}
	upgradetest.Check(t, upgradetest.Lineage{
		Versions: []*actor.Version{account.V1, account.V2, account.V3},
		State: func(version string, r *rand.Rand) any {
			id, balance, seq := 1+r.IntN(1000), r.Int64N(1_000_000), r.Uint64N(10_000)
			switch version {
			case "v1":
				return account.StateV1{ID: id, Balance: balance, Seq: seq}
			case "v2":
				return account.StateV2{ID: id, Balance: balance, Seq: seq, History: history(r)}
			}
			return account.StateV3{ID: id, Balance: balance, Seq: seq, History: history(r),
				Withdrawn: map[string]int64{"2026-01-01": r.Int64N(1000)}}
		},
	})
}

func TestRecordKeepsTheLastEntries(t *testing.T) {
	var h []account.Entry
	for i := range uint64(8) {
		prev := h
		h = account.Record(h, account.Entry{Seq: i + 1})
		assert.Len(t, prev, min(int(i), account.HistoryLen), "the old history is left as it was")
	}
	require.Len(t, h, account.HistoryLen)
	assert.Equal(t, uint64(4), h[0].Seq)
	assert.Equal(t, uint64(8), h[account.HistoryLen-1].Seq)
}

func TestNames(t *testing.T) {
	assert.Equal(t, "account:42", account.Name(42))
	id, ok := account.ParseName("account:42")
	assert.True(t, ok)
	assert.Equal(t, 42, id)
	for _, bad := range []string{"account:", "account:x", "account:-1", "audit", "accounts:4"} {
		_, ok := account.ParseName(bad)
		assert.False(t, ok, bad)
	}
}

func call(t *testing.T, sys *actortest.System, pid actor.PID, m account.Msg) (account.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	r, err := sys.Call(ctx, pid, m)
	if err != nil {
		return account.Reply{}, err
	}
	return r.(account.Reply), nil
}

// Every compiled-in version does the same arithmetic, refuses the same
// things without changing anything, and takes a restore.
func TestVersionsAgree(t *testing.T) {
	for _, v := range []*actor.Version{account.V1, account.V2, account.V3} {
		t.Run(v.Name(), func(t *testing.T) {
			sys := actortest.NewSystem(t)
			require.NoError(t, sys.Load(v))
			pid, err := sys.Spawn(account.Module, 7)
			require.NoError(t, err)

			r, err := call(t, sys, pid, account.Deposit(500))
			require.NoError(t, err)
			assert.Equal(t, account.Reply{ID: 7, Balance: 500, Seq: 1, Version: v.Name(), History: r.History}, r)
			r, err = call(t, sys, pid, account.Withdraw(200))
			require.NoError(t, err)
			assert.Equal(t, int64(300), r.Balance)
			assert.Equal(t, uint64(2), r.Seq)

			_, err = call(t, sys, pid, account.Withdraw(301))
			assert.ErrorIs(t, err, account.ErrInsufficient)
			_, err = call(t, sys, pid, account.Deposit(0))
			assert.ErrorIs(t, err, account.ErrAmount)
			_, err = call(t, sys, pid, account.Msg{Op: "close"})
			assert.ErrorIs(t, err, account.ErrUnknownOp)
			r, err = call(t, sys, pid, account.Balance())
			require.NoError(t, err)
			assert.Equal(t, int64(300), r.Balance, "refusals change nothing")
			assert.Equal(t, uint64(2), r.Seq)

			r, err = call(t, sys, pid, account.Restore(40, 9000))
			require.NoError(t, err)
			assert.Equal(t, int64(9000), r.Balance)
			assert.Equal(t, uint64(40), r.Seq)
			if v != account.V1 {
				assert.Equal(t, []account.Entry{{Seq: 40, Op: account.OpRestore, Balance: 9000}}, r.History)
			}
		})
	}
}

// v3's bug: an account that migrated to v3 crashes on its first
// withdrawal (its state is gone with it); one that started on v3 does not.
func TestV3CrashesAccountsThatMigrated(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(account.V2))
	migrated, err := sys.Spawn(account.Module, 1)
	require.NoError(t, err)
	_, err = call(t, sys, migrated, account.Deposit(100))
	require.NoError(t, err)
	require.NoError(t, sys.Load(account.V3))
	fresh, err := sys.Spawn(account.Module, 2)
	require.NoError(t, err)

	r, err := call(t, sys, migrated, account.Deposit(50))
	require.NoError(t, err, "deposits work: only withdrawals touch the map")
	assert.Equal(t, "v3", r.Version)
	_, err = call(t, sys, fresh, account.Deposit(100))
	require.NoError(t, err)
	r, err = call(t, sys, fresh, account.Withdraw(30))
	require.NoError(t, err)
	assert.Equal(t, int64(70), r.Balance)

	probe := actortest.NewProbe(t, sys.System)
	probe.Monitor(migrated)
	_, err = call(t, sys, migrated, account.Withdraw(30))
	var exit *actor.ExitError
	require.ErrorAs(t, err, &exit)
	var panicked *actor.PanicError
	require.ErrorAs(t, exit.Reason, &panicked)
	assert.Contains(t, panicked.Error(), "nil map")
	probe.ExpectDown(migrated, exit.Reason)
}

func TestV3DailyLimit(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(account.V3))
	pid, err := sys.Spawn(account.Module, 1)
	require.NoError(t, err)
	_, err = call(t, sys, pid, account.Deposit(2*account.DailyLimit))
	require.NoError(t, err)
	_, err = call(t, sys, pid, account.Withdraw(account.DailyLimit))
	require.NoError(t, err)
	_, err = call(t, sys, pid, account.Withdraw(1))
	assert.ErrorIs(t, err, account.ErrLimit)
	sys.Clock.Advance(24 * time.Hour) // the next day
	r, err := call(t, sys, pid, account.Withdraw(1))
	require.NoError(t, err)
	assert.Equal(t, int64(account.DailyLimit-1), r.Balance)
}

func TestSpawnNeedsAnID(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(account.V1))
	_, err := sys.Spawn(account.Module, "42")
	assert.ErrorContains(t, err, "positive int")
	_, err = sys.Spawn(account.Module, 0)
	assert.ErrorContains(t, err, "positive int")
}

func TestInspectState(t *testing.T) {
	s := account.StateV3{ID: 3, Balance: 120, Seq: 4, History: []account.Entry{{Seq: 4, Op: "deposit", Amount: 20, Balance: 120}},
		Withdrawn: map[string]int64{"2026-01-01": 75}}
	assert.Equal(t, account.View{ID: 3, Balance: 120, Seq: 4, History: s.History, Withdrawn: 75}, s.InspectState())
	assert.Equal(t, account.View{ID: 3, Balance: 120, Seq: 4}, account.StateV1{ID: 3, Balance: 120, Seq: 4}.InspectState())
}
