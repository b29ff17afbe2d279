package clusterchaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/cluster"
)

func name(node, target int) string { return fmt.Sprintf("{t%d, n%d}", target, node) }

// The coordinator's ledger and the nodes' records together must see every
// kind of problem, and excuse only what a killed incarnation took with it.
func TestTallyCatchesEveryKindOfProblem(t *testing.T) {
	l := newLedger()
	msg := func(seq uint64) fault.Msg { return fault.Msg{Origin: "t", Sender: 1, Target: 2, Seq: seq} }
	// Node 0 was killed once: seq 1-4 went to its first incarnation, the
	// rest to its last.
	l.sent(0, msg(1), 0, true) // counted nowhere: died with the node
	l.sent(0, msg(2), 0, true)
	l.dead(0, msg(2))           // reported here
	l.sent(0, msg(3), 0, false) // refused at send
	l.sent(0, msg(4), 0, true)  // handled, as the snapshot before the kill says
	l.sent(0, msg(5), 1, true)  // handled by the last incarnation
	l.sent(0, msg(6), 1, true)  // dead letter there
	l.sent(0, msg(7), 1, true)  // dead letter here
	l.dead(0, msg(7))
	last := map[recordKey][]uint8{{1, 2}: {0, 0, 0, 0, nodeHandled, nodeDead, 0}}
	snap := map[recordKey][]uint8{{1, 2}: {0, 0, 0, nodeHandled}}
	final := []uint32{1}
	sets := [][]map[recordKey][]uint8{{last, snap}}
	tl := l.tally(final, sets, name)
	assert.Equal(t, tally{sent: 6, refused: 1, handled: 2, deadHere: 2, deadThere: 1, toKilled: 3, unseen: 1}, tl, "all accounted")

	l.sent(0, msg(8), 1, true)  // nothing: lost
	l.sent(0, msg(9), 1, true)  // handled twice
	l.sent(0, msg(10), 1, true) // handled there and reported here
	l.dead(0, msg(10))
	l.sent(0, msg(11), 1, true) // reported here twice
	l.dead(0, msg(11))
	l.dead(0, msg(11))
	last[recordKey{1, 2}] = append(last[recordKey{1, 2}], 0, nodeHandled|nodeHandled2, nodeHandled, 0,
		nodeHandled) // and seq 12, never sent
	last[recordKey{1, 3}] = []uint8{nodeDead} // a stream never sent
	snap[recordKey{1, 2}][1] = nodeHandled    // seq 2: handled by the killed incarnation, and reported here
	tl = l.tally(final, sets, name)
	assert.Equal(t, int64(1), tl.pending, "lost")
	assert.Equal(t, []string{"{t2, n0} from sender 1 seq 8"}, tl.lostSample)
	assert.Equal(t, int64(6), tl.duplicated, "2, 9, 10, 11, 12 and the stream never sent")
	assert.Contains(t, tl.firstProblem, "counted 2 times")

	// A refused send that is still handled is a problem too; so is a
	// message of a killed incarnation counted twice.
	l2 := newLedger()
	l2.sent(0, msg(1), 0, false)
	l2.sent(0, msg(2), 0, true)
	l2.dead(0, msg(2))
	l2.dead(0, msg(2))
	tl = l2.tally([]uint32{1}, [][]map[recordKey][]uint8{{{{1, 2}: {nodeHandled}}}}, name)
	assert.Equal(t, int64(2), tl.duplicated)
	assert.Equal(t, "{t2, n0} from sender 1 seq 1: refused at send, yet handled or reported", tl.firstProblem)
}

// A node records only its coordinator's messages, order per process, and
// the dead letters whatever their wrapping.
func TestRecorder(t *testing.T) {
	var r recorder
	a, b := actor.NewPID(0, 1), actor.NewPID(0, 2)
	m := func(seq uint64) fault.Msg { return fault.Msg{Origin: "t", Sender: 0, Target: 1, Seq: seq} }
	r.handled(a, m(1)) // before the run: not the coordinator's yet
	assert.Empty(t, r.records("t"))
	r.reset("t")
	assert.False(t, r.watching.Load())
	r.handled(a, m(1))
	assert.True(t, r.watching.Load(), "the first call says the run watches")
	r.handled(a, m(3))
	r.handled(a, m(2)) // after 3, by the same process: out of order
	r.handled(b, m(4))
	r.handled(a, m(5)) // in order for a (after its 3), though b handled 4
	r.handled(b, m(4)) // twice
	// The node's own run's, another coordinator's, a probe:
	r.handled(a, fault.Msg{Sender: 0, Target: 1, Seq: 6})
	r.handled(a, fault.Msg{Origin: "other", Sender: 0, Target: 1, Seq: 6})
	r.handled(a, fault.Msg{Origin: "t", Untracked: true, Seq: 6})
	r.deadLetter(actor.DeadLetter{Message: m(6), Reason: actor.ErrMailboxFull})
	r.deadLetter(actor.DeadLetter{Message: cluster.ToName{Name: cluster.Name{Name: "w", Node: "n"}, Message: m(7)}, Reason: actor.ErrUnknownName})
	r.deadLetter(actor.DeadLetter{Message: m(7), Reason: errors.New("again")})
	r.deadLetter(actor.ProcessExited{})
	assert.Nil(t, r.records("other"))
	recs := r.records("t")
	require.Len(t, recs, 1)
	flags, disorder := expand(recs)
	assert.Equal(t, 1, disorder)
	assert.Equal(t, []uint8{nodeHandled, nodeHandled, nodeHandled, nodeHandled | nodeHandled2, nodeHandled, nodeDead, nodeDead | nodeDead2},
		flags[recordKey{0, 1}])
}

// Runs of flags cross and come back as they were.
func TestRunsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		st := make([]uint8, rng.IntN(50))
		for i := range st {
			if rng.IntN(3) > 0 {
				st[i] = uint8(rng.IntN(4)) // runs of equal flags, and zeros
			}
		}
		for len(st) > 0 && st[len(st)-1] == 0 {
			st = st[:len(st)-1] // trailing messages without flags are not sent
		}
		flags, _ := expand([]streamRecord{{Sender: 1, Target: 2, Runs: runsOf(st)}})
		want := st
		if len(want) == 0 {
			want = nil
		}
		assert.Equal(t, want, flags[recordKey{1, 2}])
	}
	// Runs no node writes are left out, not trusted.
	flags, _ := expand([]streamRecord{{Runs: []flagRun{{First: 0, Last: 3, Flags: 1}, {First: 5, Last: 4, Flags: 1}, {First: 1, Last: 1 << 40, Flags: 1}}}})
	assert.Empty(t, flags[recordKey{}])
}

func TestNodeSeeds(t *testing.T) {
	seen := map[uint64]bool{}
	for _, node := range []string{"b@h", "c@h"} {
		for start := range 3 {
			s := nodeSeed(42, node, start)
			assert.NotZero(t, s)
			assert.False(t, seen[s])
			seen[s] = true
			assert.Equal(t, s, nodeSeed(42, node, start), "the same seed again")
		}
	}
}
