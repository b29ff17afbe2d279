package mailbox

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A producer that reserved a slot of a mailbox and was descheduled before
// writing it, while the mailbox closed and its lane went whole to another
// (CloseBacklog, Adopt): the adopting owner refuses the empty slot when it
// reaches it instead of waiting behind it (nobody would wake it: the
// producer's mailbox is closed), takes what follows, and the late write
// fails, so that its sender tries again elsewhere and nothing arrives
// twice.
func TestAdoptedLaneRefusesAStalledProducersSlot(t *testing.T) {
	for _, before := range []int{0, 1, 3, 300} { // the stalled slot inline, in a small segment, in a full one
		var a Mailbox
		a.Start()
		for i := range before {
			_, _, err := a.PushUser(i)
			require.NoError(t, err)
		}
		// The stalled producer: a reservation, no write.
		_, _, err := a.PushUser("placeholder")
		require.NoError(t, err)
		tail := a.tail.Load()
		stalled := &tail.slots()[tail.reserve.Load()-1-tail.base.Load()]
		stalled.state.Store(slotEmpty)
		stalled.msg = nil
		_, _, err = a.PushUser("after")
		require.NoError(t, err)

		for range before / 2 { // the first owner took some
			_, ok := a.NextUser()
			require.True(t, ok)
		}
		_, b := a.CloseBacklog()
		var m Mailbox
		m.Start()
		m.Adopt(b)
		_, _, err = m.PushUser("new")
		require.NoError(t, err)

		var got []any
		for {
			v, ok := m.NextUser()
			if !ok {
				break
			}
			got = append(got, v)
		}
		want := []any{}
		for i := before / 2; i < before; i++ {
			want = append(want, i)
		}
		want = append(want, "after", "new")
		assert.Equal(t, want, got, "before=%d: the rest, the stalled slot skipped", before)
		assert.False(t, stalled.state.CompareAndSwap(slotEmpty, slotReady), "before=%d: the late write is refused", before)
	}
}

// heldMessages counts the messages the lane's segments still reference
// in slots the owner has taken (ready slots before the owner's position).
func heldMessages(m *Mailbox) int {
	n := 0
	for seg := m.first(); seg != nil; seg = seg.next.Load() {
		for i := range seg.slots() {
			s := &seg.slots()[i]
			if s.state.Load() == slotReady && s.msg != nil && seg.base.Load()+uint64(i) < m.pos {
				n++
			}
		}
	}
	return n
}

// An idle mailbox references no message it handed out, whether its owner
// took one at a time (going idle after each: tidy looks only at what it
// took since the last time) or bursts that fill and pass segments.
func TestIdleMailboxHoldsNoTakenMessage(t *testing.T) {
	var m Mailbox
	m.Start()
	step := 0
	for _, burst := range []int{1, 1, 1, 2, 1, 3, 40, 1, 1, 300, 1, 700, 1, 1} {
		for range burst {
			_, _, err := m.PushUser(step)
			require.NoError(t, err)
			step++
		}
		for range burst {
			_, ok := m.NextUser()
			require.True(t, ok)
		}
		require.True(t, m.Idle(), "burst %d", burst)
		require.Zero(t, heldMessages(&m), "after a burst of %d", burst)
		m.Start() // the next push's owner
	}
}
