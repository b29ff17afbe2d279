package mailbox_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/mailbox"
)

// Queued copies the user lane without taking anything: the owner takes
// the same messages afterwards, in the same order, marks and insertions
// included, across segment boundaries, bounded or not.
func TestQueuedCopiesWithoutTaking(t *testing.T) {
	for _, capacity := range []int{0, 1000} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start()
		assert.Empty(t, m.Queued())
		var want []any
		for i := range 600 { // several segments
			_, _, err := m.PushUser(i)
			require.NoError(t, err)
			want = append(want, i)
		}
		// Take a few, as a running owner would have.
		for i := range 5 {
			msg, ok := m.NextUser()
			require.True(t, ok)
			assert.Equal(t, i, msg)
		}
		want = want[5:]
		_, err := pushSignal(&m, "sig")
		require.NoError(t, err)
		m.Suspend()
		_, mark := nextSignal(t, &m)
		m.InsertUser("exit", mark) // after everything queued so far
		want = append(want, "exit")
		_, _, err = m.PushUser("late")
		require.NoError(t, err)
		want = append(want, "late")

		got := m.Queued()
		assert.Equal(t, want, got, "capacity %d", capacity)
		assert.Equal(t, want, m.Queued(), "a second copy is the same")
		m.Resume()
		taken, _ := drain(&m)
		assert.Equal(t, want, taken, "capacity %d: the owner takes what Queued returned", capacity)
	}
}

// Pinned messages of a bounded mailbox come out as the messages they hold.
func TestQueuedUnpins(t *testing.T) {
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: 1})
	m.Start()
	_, _, err := m.PushUser("a")
	require.NoError(t, err)
	_, err = m.PushUserAlways("down")
	require.NoError(t, err)
	assert.Equal(t, []any{"a", "down"}, m.Queued())
}
