package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// v2's state comes in as the bank holds it (JSON), and goes back the same.
func TestMigrationFromV2AndBack(t *testing.T) {
	m := Module()
	old := account.StateV2{ID: 4, Balance: 700, Seq: 9, History: []account.Entry{{Seq: 9, Op: "deposit", Amount: 100, Balance: 700}}}
	raw, err := codec.Encode(codec.JSON, old)
	require.NoError(t, err)
	s, err := m.CodeChange("v2", raw, codec.Raw{})
	require.NoError(t, err)
	assert.Equal(t, State{ID: 4, Balance: 700, Seq: 9, History: old.History}, s)

	s, _, err = handle(s, account.Withdraw(200), "2026-03-01")
	require.NoError(t, err)
	back, err := m.Downgrade("v2", s, codec.Raw{})
	require.NoError(t, err)
	assert.Equal(t, account.StateV2{ID: 4, Balance: 500, Seq: 10, History: s.History}, back)

	_, err = m.CodeChange("v1", mustEncode(t, account.StateV1{ID: 4}), codec.Raw{})
	assert.Error(t, err, "v1's state is not v2's: the bank migrates it through v2 first")
}

func TestHandle(t *testing.T) {
	s := State{ID: 1}
	s, r, err := handle(s, account.Deposit(account.DailyLimit+500), "2026-03-01")
	require.NoError(t, err)
	assert.Equal(t, account.Reply{ID: 1, Balance: account.DailyLimit + 500, Seq: 1, Version: "v4", History: s.History}, r)

	s, _, err = handle(s, account.Withdraw(account.DailyLimit), "2026-03-01")
	require.NoError(t, err)
	_, _, err = handle(s, account.Withdraw(1), "2026-03-01")
	assert.ErrorIs(t, err, account.ErrLimit)
	s, r, err = handle(s, account.Withdraw(1), "2026-03-02")
	require.NoError(t, err, "a new day, a new limit")
	assert.Equal(t, int64(499), r.Balance)
	assert.Equal(t, State{ID: 1, Balance: 499, Seq: 3, History: s.History, Day: "2026-03-02", Withdrawn: 1}, s)

	_, _, err = handle(s, account.Withdraw(500), "2026-03-02")
	assert.ErrorIs(t, err, account.ErrInsufficient)
	_, _, err = handle(s, account.Msg{Op: "close"}, "2026-03-02")
	assert.ErrorIs(t, err, account.ErrUnknownOp)

	s, r, err = handle(s, account.Restore(50, 1234), "2026-03-02")
	require.NoError(t, err)
	assert.Equal(t, account.Reply{ID: 1, Balance: 1234, Seq: 50, Version: "v4",
		History: []account.Entry{{Seq: 50, Op: account.OpRestore, Balance: 1234}}}, r)
	assert.Equal(t, int64(1234), s.Balance)
}

func mustEncode(t *testing.T, v any) codec.Raw {
	t.Helper()
	raw, err := codec.Encode(codec.JSON, v)
	require.NoError(t, err)
	return raw
}
