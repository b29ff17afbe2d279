package chaos

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/chaos/fault"
)

// The ledger is what catches a lost, duplicated or reordered message; it
// must see each of them.
func TestLedgerCatchesEveryKindOfProblem(t *testing.T) {
	sys := actortest.NewSystem(t)
	pid, other := actortest.NewProbe(t, sys.System).PID(), actortest.NewProbe(t, sys.System).PID()
	l := newLedger()
	msg := func(seq uint64) fault.Msg { return fault.Msg{Target: 1, Sender: 2, Seq: seq} }
	l.mark(msg(1), handled, pid) // before Send returned: the order of marks does not matter
	l.mark(msg(1), sent, pid)
	l.mark(msg(2), sent, pid)
	l.mark(msg(2), dead, pid)
	l.mark(msg(3), refused, pid)
	l.mark(msg(3), dead, pid) // a refused send may also be a dead letter
	l.mark(fault.Msg{Untracked: true, Seq: 9}, sent, pid)
	l.mark(fault.Msg{Origin: "b@host", Target: 1, Sender: 2, Seq: 10}, handled, pid) // another node's
	tl := l.tally()
	assert.Equal(t, tally{sent: 2, refused: 1, handled: 1, dead: 1}, tl, "all accounted")

	l.mark(msg(4), sent, pid) // never handled: lost
	l.mark(msg(5), sent, pid)
	l.mark(msg(5), handled, pid)
	l.mark(msg(5), handled, pid) // twice
	l.mark(msg(6), sent, pid)
	l.mark(msg(6), handled, pid)
	l.mark(msg(6), dead, pid) // both
	l.mark(msg(7), sent, pid)
	l.mark(msg(7), handled, pid)
	l.mark(msg(1), handled, pid) // a duplicate, and out of order
	// A previous incarnation finishing an older message after its
	// replacement handled a newer one is not a break of order: order is
	// per process.
	l.mark(msg(8), sent, pid)
	l.mark(msg(9), sent, pid)
	l.mark(msg(9), handled, other)
	l.mark(msg(8), handled, pid)
	tl = l.tally()
	assert.Equal(t, int64(1), tl.pending, "lost")
	assert.Equal(t, []msgID{{1, 2, 4}}, tl.lostSample)
	assert.Equal(t, int64(2), tl.duplicates, "5 twice, and 1 again")
	assert.Equal(t, int64(1), tl.handledAndDead)
	assert.Equal(t, int64(1), tl.disorder)
	assert.Contains(t, tl.firstProblem, "seq 1: handled or reported twice")
}

func TestResultReportsFailuresWithTheSeed(t *testing.T) {
	r := newResult(7)
	r.Faults[Kill] = 2
	r.Upgrades["atomic committed"] = 1
	r.Policies["stragglers kill"] = 1
	r.violate(checkRollback, "a plan whose migrations were told to %s committed", "fail")
	r.violate(checkRollback, "only the first is kept")
	r.add(checkAccounted, true, "fine")
	r.pass(checkRollback, "not kept: it failed")
	r.pass(checkPlans, "3 plans")
	r.order()
	assert.Equal(t, []string{checkAccounted, checkPlans, checkRollback},
		[]string{r.Checks[0].Name, r.Checks[1].Name, r.Checks[2].Name}, "in the fixed order")
	assert.EqualError(t, r.Err(), "chaos: seed 7: "+checkRollback+": a plan whose migrations were told to fail committed (first of 2)")
	s := r.String()
	assert.Contains(t, s, "seed 7, 2 faults")
	assert.Contains(t, s, "kill=2")
	assert.Contains(t, s, "atomic:committed=1")
	assert.Contains(t, s, "plans by policy: stragglers:kill=1")
	assert.Contains(t, s, "plans that met stragglers, by policy: none")
	assert.Contains(t, s, "FAIL "+checkRollback)
	assert.Contains(t, s, "reproduce the schedule with Seed: 7")
}
