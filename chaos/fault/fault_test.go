package fault_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/chaos/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jsonExtra is an extra as a plugin version receives it: encoded.
type jsonExtra []byte

func (j jsonExtra) Decode(into any) error { return json.Unmarshal(j, into) }

func TestActMigration(t *testing.T) {
	assert.NoError(t, fault.ActMigration(nil))
	assert.NoError(t, fault.ActMigration("someone else's extra"))
	assert.ErrorIs(t, fault.ActMigration(fault.Migration{Fault: fault.Fail}), fault.ErrInjected)
	assert.ErrorIs(t, fault.ActMigration(&fault.Migration{Fault: fault.Fail}), fault.ErrInjected)
	assert.ErrorIs(t, fault.ActMigration(jsonExtra(`{"Fault": "fail"}`)), fault.ErrInjected, "through a plugin's codec")
	assert.NoError(t, fault.ActMigration(jsonExtra(`garbage`)))
	assert.Panics(t, func() { _ = fault.ActMigration(fault.Migration{Fault: fault.Panic}) })
	assert.NoError(t, fault.ActMigration(fault.Migration{Fault: fault.Slow, Delay: 1}))
}

func TestActAimed(t *testing.T) {
	down := fault.Migration{Fault: fault.Fail, On: fault.OnDowngrade}
	assert.NoError(t, fault.ActCodeChange(down))
	assert.ErrorIs(t, fault.ActDowngrade(down), fault.ErrInjected)
	assert.ErrorIs(t, fault.ActMigration(down), fault.ErrInjected, "ActMigration cannot tell: it acts")
	up := fault.Migration{Fault: fault.Fail, On: fault.OnCodeChange}
	assert.ErrorIs(t, fault.ActCodeChange(up), fault.ErrInjected)
	assert.NoError(t, fault.ActDowngrade(up))
	both := fault.Migration{Fault: fault.Fail}
	assert.ErrorIs(t, fault.ActCodeChange(both), fault.ErrInjected)
	assert.ErrorIs(t, fault.ActDowngrade(both), fault.ErrInjected)
	assert.NoError(t, fault.ActCodeChange(jsonExtra(`{"Fault": "fail", "On": "downgrade"}`)), "through a plugin's codec")
	assert.ErrorIs(t, fault.ActDowngrade(jsonExtra(`{"Fault": "fail", "On": "downgrade"}`)), fault.ErrInjected)
}

func TestAct(t *testing.T) {
	assert.NotPanics(t, func() { fault.Act(fault.Msg{Sender: 1, Seq: 1}) })
	assert.NotPanics(t, func() { fault.Act(fault.Msg{Fault: fault.Slow, Delay: 1}) })
	assert.Panics(t, func() { fault.Act(fault.Msg{Fault: fault.Panic}) })
	// A hang is bounded: the message may reach a compiled-in version
	// (after a downgrade), which must not block forever.
	assert.NotPanics(t, func() { fault.Act(fault.Msg{Fault: fault.Hang, Delay: 1}) })
}
