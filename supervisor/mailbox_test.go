package supervisor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/mailbox"
	"github.com/graftrt/graft/supervisor"
)

// A supervisor with a bounded DropOldest mailbox never loses a child's
// exit: the ExitMsg a trapped exit becomes is not evicted by the messages
// that flood in after it.
func TestBoundedSupervisorKeepsExitMessages(t *testing.T) {
	r := newRig(t)
	h, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{spec("a", supervisor.Permanent)},
		actor.WithMailbox(2, mailbox.DropOldest))
	require.NoError(t, err)
	r.next(t) // started
	old := children(t, h)["a"]
	ctx := context.Background()
	require.NoError(t, r.Suspend(ctx, h.PID()))
	w := r.Watch(old) // before: a Watch made mid-exit would not wait for it
	require.NoError(t, r.Send(old, die{Reason: errors.New("boom")}))
	<-w.Done()
	// The exit signal is served while suspended; its ExitMsg waits in the
	// user lane. Info round-trips the system lane after it.
	_, err = r.Info(ctx, h.PID())
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, r.Send(h.PID(), i))
	}
	require.NoError(t, r.Resume(ctx, h.PID()))
	assert.IsType(t, supervisor.ChildExited{}, r.next(t))
	st := r.next(t).(supervisor.ChildStarted)
	assert.True(t, st.Restart)
	assert.NotEqual(t, old, children(t, h)["a"])
}
