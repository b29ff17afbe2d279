package bank_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/bank"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/supervisor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait for an event; it is not a sleep.
const wait = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// start runs a bank in a new system, closed and shut down at cleanup.
func start(t *testing.T, o bank.Options) (*actor.System, *bank.Bank) {
	t.Helper()
	sys := actor.NewSystem(actor.WithLogger(zaptest.NewLogger(t)))
	b, err := bank.Start(sys, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, b.Close(ctx))
		assert.NoError(t, sys.Shutdown(ctx))
	})
	return sys, b
}

func open(t *testing.T, b *bank.Bank, deposit int64) int {
	t.Helper()
	r, err := b.Open(testCtx(t))
	require.NoError(t, err)
	if deposit > 0 {
		_, err = b.Deposit(testCtx(t), r.ID, deposit)
		require.NoError(t, err)
	}
	return r.ID
}

func balance(t *testing.T, b *bank.Bank, id int) int64 {
	t.Helper()
	r, err := b.Balance(testCtx(t), id)
	require.NoError(t, err)
	return r.Balance
}

func TestOperations(t *testing.T) {
	sys, b := start(t, bank.Options{})
	ctx := testCtx(t)
	a, c := open(t, b, 1000), open(t, b, 0)
	pid, ok := sys.Whereis(account.Name(a))
	require.True(t, ok, "each account is a process registered by its id")
	st, _ := sys.Stat(pid)
	assert.Equal(t, account.Module, st.Module)

	r, err := b.Withdraw(ctx, a, 300)
	require.NoError(t, err)
	assert.Equal(t, account.Reply{ID: a, Balance: 700, Seq: 2, Version: "v1"}, r)
	_, err = b.Withdraw(ctx, c, 1)
	assert.True(t, bank.Refused(err), "insufficient funds: %v", err)
	assert.ErrorIs(t, err, account.ErrInsufficient)
	_, err = b.Deposit(ctx, a, -5)
	assert.True(t, bank.Refused(err))

	tr, err := b.Transfer(ctx, a, c, 200)
	require.NoError(t, err)
	assert.Equal(t, int64(500), tr.From.Balance)
	assert.Equal(t, int64(200), tr.To.Balance)
	_, err = b.Transfer(ctx, c, a, 201)
	assert.ErrorIs(t, err, account.ErrInsufficient, "nothing moves")
	_, err = b.Transfer(ctx, a, a, 1)
	assert.ErrorIs(t, err, bank.ErrSameAccount)
	_, err = b.Transfer(ctx, a, 99, 1)
	assert.ErrorIs(t, err, bank.ErrNoAccount)
	_, err = b.Deposit(ctx, 99, 1)
	assert.ErrorIs(t, err, bank.ErrNoAccount)

	assert.Equal(t, []bank.Account{{ID: a, Balance: 500, Seq: 3}, {ID: c, Balance: 200, Seq: 1}}, b.Accounts())
	tot := b.Totals()
	assert.Equal(t, bank.Totals{Accounts: 2, Balances: 700, In: 1200, Out: 500}, tot)
	assert.True(t, tot.Balanced())
}

// restarts returns a channel that receives the PID of every account its
// supervisor restarts.
func restarts(t *testing.T, sys *actor.System) <-chan actor.PID {
	ch := make(chan actor.PID, 100)
	t.Cleanup(sys.Subscribe(func(ev actor.Event) {
		if s, ok := ev.(supervisor.ChildStarted); ok && s.Restart && s.ID == "account" {
			ch <- s.PID
		}
	}))
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("timed out waiting")
	}
	var zero T
	return zero // t.Fatal has ended the test's goroutine
}

// A killed account restarts empty and is restored from the journal before
// anything else reaches it.
func TestKilledAccountIsRestored(t *testing.T) {
	sys, b := start(t, bank.Options{AuditEvery: -1})
	a := open(t, b, 1000)
	_, err := b.Withdraw(testCtx(t), a, 400)
	require.NoError(t, err)
	restarted := restarts(t, sys)
	old, _ := sys.Whereis(account.Name(a))
	require.NoError(t, sys.Kill(old))
	pid := recv(t, restarted)
	assert.NotEqual(t, old, pid)

	r, err := b.Deposit(testCtx(t), a, 50)
	require.NoError(t, err)
	assert.Equal(t, int64(650), r.Balance)
	assert.Equal(t, uint64(3), r.Seq)
	assert.Equal(t, bank.Totals{Accounts: 1, Balances: 650, In: 1050, Out: 400}, b.Totals())
}

// The audit worker restores a restarted account at once, without waiting
// for an operation.
func TestAuditRestoresAtOnce(t *testing.T) {
	sys, b := start(t, bank.Options{AuditEvery: -1})
	a := open(t, b, 1000)
	restarted := restarts(t, sys)
	old, _ := sys.Whereis(account.Name(a))
	require.NoError(t, sys.Kill(old))
	pid := recv(t, restarted)
	// The audit was told of the restart before this test was; once it
	// answers a call, it has restored the account.
	_, err := sys.CallNamed(testCtx(t), bank.AuditName, bank.AuditReport{})
	require.NoError(t, err)
	r, err := sys.Call(testCtx(t), pid, account.Balance())
	require.NoError(t, err)
	assert.Equal(t, int64(1000), r.(account.Reply).Balance)
}

// An account that does not answer in time is killed, so that the change
// it was asked for cannot happen later unrecorded; nothing changed.
func TestUnansweredOperationChangesNothing(t *testing.T) {
	sys, b := start(t, bank.Options{AnswerWithin: 250 * time.Millisecond, AuditEvery: -1})
	a := open(t, b, 1000)
	pid, _ := sys.Whereis(account.Name(a))
	require.NoError(t, sys.Suspend(testCtx(t), pid))
	done, restarted := sys.Watch(pid), restarts(t, sys)
	_, err := b.Deposit(testCtx(t), a, 500)
	assert.ErrorIs(t, err, bank.ErrNoAnswer)
	recv(t, done.Done())
	assert.ErrorIs(t, done.Reason(), actor.Killed)
	recv(t, restarted)

	assert.Equal(t, int64(1000), balance(t, b, a), "the deposit died with the process")
	assert.True(t, b.Totals().Balanced())
}

// A transfer whose deposit fails puts the money back.
func TestFailedTransferIsRefunded(t *testing.T) {
	sys, b := start(t, bank.Options{AnswerWithin: 250 * time.Millisecond, AuditEvery: -1})
	from, to := open(t, b, 1000), open(t, b, 100)
	pid, _ := sys.Whereis(account.Name(to))
	require.NoError(t, sys.Suspend(testCtx(t), pid))
	_, err := b.Transfer(testCtx(t), from, to, 300)
	assert.ErrorIs(t, err, bank.ErrNoAnswer)
	assert.Equal(t, int64(1000), balance(t, b, from))
	assert.Equal(t, int64(100), balance(t, b, to))
	tot := b.Totals()
	assert.True(t, tot.Balanced())
	assert.Equal(t, int64(1100), tot.Balances)
	assert.Equal(t, int64(1400), tot.In, "the deposits and the refund")
}

func TestClose(t *testing.T) {
	sys, b := start(t, bank.Options{})
	a := open(t, b, 100)
	require.NoError(t, b.Close(testCtx(t)))
	require.NoError(t, b.Close(testCtx(t)), "a second Close does nothing")
	_, err := b.Deposit(testCtx(t), a, 1)
	assert.ErrorIs(t, err, bank.ErrClosed)
	_, err = b.Open(testCtx(t))
	assert.ErrorIs(t, err, bank.ErrClosed)
	_, ok := sys.Whereis(bank.TopName)
	assert.False(t, ok, "the tree has stopped")
}
