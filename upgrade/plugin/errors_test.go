package plugin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

// The host's errors for module "bank" (see testdata/bank), tied to the
// plugin's own by their codes.
var (
	ErrInsufficient = errors.New("insufficient funds")
	ErrFrozen       = errors.New("account frozen")
	ErrNegative     = errors.New("negative balance")

	bankErrors = map[string]error{"insufficient": ErrInsufficient, "frozen": ErrFrozen, "negative": ErrNegative}
)

type BankMsg struct {
	Op     string
	Amount int
}

func bankCall(sys *actortest.System, pid actor.PID, op string, amount int) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return sys.Call(ctx, pid, BankMsg{Op: op, Amount: amount})
}

func TestErrorsKeepTheirIdentityAcrossTheBoundary(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader(plugin.WithErrors("bank", bankErrors))
	require.NoError(t, sys.Load(load(t, sys, l, "bank", "bank", "v1")))
	pid, err := sys.Spawn("bank", 10)
	require.NoError(t, err)

	// A call answered with a registered error.
	_, err = bankCall(sys, pid, "withdraw", 25)
	require.ErrorIs(t, err, ErrInsufficient)
	var re *plugin.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "insufficient", re.Code)
	assert.Equal(t, "withdrawing 25 of 10: bank: insufficient funds", err.Error(), "the plugin's message")
	assert.Equal(t, "bank@v1", re.Version)
	r, err := bankCall(sys, pid, "withdraw", 4)
	require.NoError(t, err, "an error reply does not stop the process")
	left, err := codec.Decode[int](r.(codec.Raw))
	require.NoError(t, err)
	assert.Equal(t, 6, left)

	// An error without a code, and a code the host did not register.
	_, err = bankCall(sys, pid, "refuse", 0)
	require.ErrorAs(t, err, &re)
	assert.Empty(t, re.Code)
	assert.Nil(t, errors.Unwrap(err))
	_, err = bankCall(sys, pid, "audit", 0)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "audit", re.Code, "the code crosses even if the host has no error for it")
	assert.Nil(t, errors.Unwrap(err))

	// A handler's error: the exit reason.
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, BankMsg{Op: "freeze"}))
	<-w.Done()
	require.ErrorIs(t, w.Reason(), ErrFrozen)
	var he *plugin.HandlerError
	require.ErrorAs(t, w.Reason(), &he)
	assert.Equal(t, "frozen", he.Code)
	assert.Contains(t, he.Message, "account 6: bank: account frozen")

	// Init's error.
	_, err = sys.Spawn("bank", -5)
	assert.ErrorIs(t, err, ErrNegative)
	assert.NotErrorIs(t, err, ErrInsufficient)

	// A loader that registered nothing: the codes still cross.
	sys2 := newSys(t)
	require.NoError(t, sys2.Load(load(t, sys2, plugin.NewLoader(), "bank", "bank", "v1")))
	pid, err = sys2.Spawn("bank", 0)
	require.NoError(t, err)
	_, err = bankCall(sys2, pid, "withdraw", 1)
	assert.NotErrorIs(t, err, ErrInsufficient)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "insufficient", re.Code)
}

func TestAPluginOfProtocol2StillLoads(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(), "rogue-v2", "rogue", "v1")))
	pid, err := sys.Spawn("rogue", nil)
	require.NoError(t, err)
	_, err = sys.Call(context.Background(), pid, "anything")
	var re *plugin.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "refused by v2", re.Message)
	assert.Empty(t, re.Code, "protocol 2 has no error codes")
}
