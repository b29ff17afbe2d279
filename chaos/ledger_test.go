package chaos

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/graftrt/graft/chaos/fault"
)

// The ledger is what catches a lost, duplicated or reordered message; it
// must see each of them.
func TestLedgerCatchesEveryKindOfProblem(t *testing.T) {
	l := newLedger()
	msg := func(seq uint64) fault.Msg { return fault.Msg{Target: 1, Sender: 2, Seq: seq} }
	l.mark(msg(1), handled) // before Send returned: the order of marks does not matter
	l.mark(msg(1), sent)
	l.mark(msg(2), sent)
	l.mark(msg(2), dead)
	l.mark(msg(3), refused)
	l.mark(msg(3), dead) // a refused send may also be a dead letter
	l.mark(fault.Msg{Untracked: true, Seq: 9}, sent)
	tl := l.tally()
	assert.Equal(t, tally{sent: 2, refused: 1, handled: 1, dead: 1}, tl, "all accounted")

	l.mark(msg(4), sent) // never handled: lost
	l.mark(msg(5), sent)
	l.mark(msg(5), handled)
	l.mark(msg(5), handled) // twice
	l.mark(msg(6), sent)
	l.mark(msg(6), handled)
	l.mark(msg(6), dead) // both
	l.mark(msg(7), sent)
	l.mark(msg(7), handled)
	l.mark(msg(1), handled) // a duplicate, and out of order
	tl = l.tally()
	assert.Equal(t, int64(1), tl.pending, "lost")
	assert.Equal(t, []msgID{{1, 2, 4}}, tl.lostSample)
	assert.Equal(t, int64(2), tl.duplicates, "5 twice, and 1 again")
	assert.Equal(t, int64(1), tl.handledAndDead)
	assert.Equal(t, int64(1), tl.disorder)
	assert.Contains(t, tl.firstProblem, "seq 1: handled or reported twice")
}

func TestResultReportsFailuresWithTheSeed(t *testing.T) {
	r := &Result{Seed: 7, Faults: map[Kind]int{Kill: 2}, Upgrades: map[string]int{"atomic committed": 1}}
	r.add(checkAccounted, true, "fine")
	assert.NoError(t, r.Err())
	r.violate(checkRollback, "an upgrade whose migrations were told to %s committed", "fail")
	r.violate(checkRollback, "only the first is kept")
	assert.EqualError(t, r.Err(), "chaos: seed 7: migration faults roll back: an upgrade whose migrations were told to fail committed")
	s := r.String()
	assert.Contains(t, s, "seed 7, 2 faults")
	assert.Contains(t, s, "kill=2")
	assert.Contains(t, s, "atomic:committed=1")
	assert.Contains(t, s, "FAIL migration faults roll back")
	assert.Contains(t, s, "reproduce the schedule with Seed: 7")
}
