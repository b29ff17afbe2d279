package actor_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/mailbox"
)

// parentVersion is a process that traps exits, runs the runIn functions it
// is sent, and passes every ExitMsg it receives to the channel it was
// started with: the test decides what becomes of a child's queue and name.
var parentVersion = actor.Define("parent", "v1", actor.Funcs[chan actor.ExitMsg]{
	Init: func(ctx *actor.Context, args any) (chan actor.ExitMsg, error) {
		ctx.TrapExit(true)
		return args.(chan actor.ExitMsg), nil
	},
	Handle: func(ctx *actor.Context, exits chan actor.ExitMsg, msg any) (chan actor.ExitMsg, error) {
		switch m := msg.(type) {
		case runIn:
			m(ctx)
		case actor.ExitMsg:
			exits <- m
		}
		return exits, nil
	},
})

type keepRig struct {
	t      *testing.T
	sys    *actortest.System
	parent actor.PID
	exits  chan actor.ExitMsg
}

func newKeepRig(t *testing.T) *keepRig {
	sys := newSys(t)
	require.NoError(t, sys.Load(parentVersion))
	exits := make(chan actor.ExitMsg, 16)
	parent, err := sys.Spawn("parent", exits)
	require.NoError(t, err)
	return &keepRig{t: t, sys: sys, parent: parent, exits: exits}
}

// in runs f in the parent and returns what it returns.
func (r *keepRig) in(f func(ctx *actor.Context) (actor.PID, error)) (actor.PID, error) {
	type result struct {
		pid actor.PID
		err error
	}
	out := make(chan result, 1)
	require.NoError(r.t, r.sys.Send(r.parent, runIn(func(ctx *actor.Context) {
		pid, err := f(ctx)
		out <- result{pid, err}
	})))
	res := <-out
	return res.pid, res.err
}

// spawnLinked spawns a "worker" linked to the parent.
func (r *keepRig) spawnLinked(opts ...actor.SpawnOption) (actor.PID, error) {
	return r.in(func(ctx *actor.Context) (actor.PID, error) { return ctx.SpawnLink("worker", nil, opts...) })
}

// crash makes pid crash after the messages queued before the crash: it
// blocks pid, queues crash and then the given messages by name, releases
// it and returns the ExitMsg the parent received.
func (r *keepRig) crash(pid actor.PID, name string, queued ...any) actor.ExitMsg {
	release := hold(r.t, r.sys, pid)
	require.NoError(r.t, r.sys.Send(pid, crash{Err: errBoom}))
	for _, m := range queued {
		require.NoError(r.t, r.sys.SendNamed(name, m))
	}
	release()
	m := <-r.exits
	require.Equal(r.t, pid, m.From)
	return m
}

var errBoom = errors.New("boom")

func keepOpts(name string, more ...actor.SpawnOption) []actor.SpawnOption {
	return append([]actor.SpawnOption{actor.WithName(name), actor.WithHandoff(), actor.WithKeepName()}, more...)
}

func seen(t *testing.T, sys *actortest.System, name string) []any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	v, err := sys.CallNamed(ctx, name, getSeen{})
	require.NoError(t, err)
	return v.([]any)
}

// The name of a process spawned WithKeepName is reserved for its parent
// when it exits: sends by name queue (none refused), a call waits, Whereis
// finds no process, Register is refused and the old PID is gone. The
// replacement takes the name and handles the handed-over messages, then
// those sent in the gap, then new ones.
func TestKeepNameQueuesTheGapForTheReplacement(t *testing.T) {
	r := newKeepRig(t)
	sys := r.sys
	letters := deadLetters(sys)
	first, err := r.spawnLinked(keepOpts("k")...)
	require.NoError(t, err)
	ex := r.crash(first, "k", "q1", "q2")
	require.ErrorIs(t, ex.Reason, errBoom)
	require.NotNil(t, ex.Reserved)
	assert.Equal(t, "k", ex.Reserved.Name())
	assert.Equal(t, first, ex.Reserved.From())
	assert.Equal(t, []any{"q1", "q2"}, ex.Queued.Messages())

	// The gap.
	_, ok := sys.Whereis("k")
	assert.False(t, ok, "no process holds a reserved name")
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, sys.Register("k", other), actor.ErrNameTaken)
	_, err = sys.Spawn("worker", nil, actor.WithName("k"))
	assert.ErrorIs(t, err, actor.ErrNameTaken)
	assert.ErrorIs(t, sys.Unregister("k"), actor.ErrUnknownName)
	assert.ErrorIs(t, sys.Send(first, "by-pid"), actor.NoProc, "the old PID is gone, as in OTP")
	require.NoError(t, sys.SendNamed("k", "g1"))
	require.NoError(t, sys.SendNamed("k", "g2"))
	answer := make(chan any, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		defer cancel()
		v, err := sys.CallNamed(ctx, "k", echo{V: "called"})
		if err != nil {
			v = err
		}
		answer <- v
	}()
	require.Eventually(t, func() bool { return ex.Reserved.Len() == 3 }, actortest.DefaultWait, 100*time.Microsecond)

	second, err := r.spawnLinked(keepOpts("k", actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))...)
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	pid, ok := sys.Whereis("k")
	assert.True(t, ok)
	assert.Equal(t, second, pid)
	assert.Equal(t, "called", <-answer)
	require.NoError(t, sys.SendNamed("k", "n1"))
	assert.Equal(t, []any{"q1", "q2", "g1", "g2", "n1"}, seen(t, sys, "k"))
	assert.Zero(t, ex.Reserved.Len())
	assert.Empty(t, filterLetters(letters(), "q1", "q2", "g1", "g2", "n1"))
}

// filterLetters returns the dead letters whose message is one of msgs.
func filterLetters(letters []actor.DeadLetter, msgs ...any) []actor.DeadLetter {
	var out []actor.DeadLetter
	for _, d := range letters {
		for _, m := range msgs {
			if d.Message == m {
				out = append(out, d)
			}
		}
	}
	return out
}

// Releasing a reservation frees the name and reports what was queued in
// it: dead letters with the reason, the caller waiting in the gap gets an
// *ExitError with it.
func TestReleaseReservationReportsTheGap(t *testing.T) {
	r := newKeepRig(t)
	sys := r.sys
	letters := deadLetters(sys)
	first, err := r.spawnLinked(keepOpts("k")...)
	require.NoError(t, err)
	ex := r.crash(first, "k")
	require.NoError(t, sys.SendNamed("k", "g1"))
	callErr := make(chan error, 1)
	go func() {
		_, err := sys.CallNamed(context.Background(), "k", echo{V: 1})
		callErr <- err
	}()
	require.NoError(t, sys.SendNamed("k", "g2"))
	require.Eventually(t, func() bool { return ex.Reserved.Len() == 3 }, actortest.DefaultWait, 100*time.Microsecond)

	errGone := errors.New("not restarted")
	_, _ = r.in(func(ctx *actor.Context) (actor.PID, error) {
		ctx.System().ReleaseReservation(ex.Reserved, errGone)
		return actor.PID{}, nil
	})
	assert.True(t, isExit(<-callErr, errGone), "the call in the gap fails with the release's reason")
	got := filterLetters(letters(), "g1", "g2")
	require.Len(t, got, 2)
	for _, d := range got {
		assert.Equal(t, first, d.To)
		assert.ErrorIs(t, d.Reason, errGone)
	}
	assert.ErrorIs(t, sys.SendNamed("k", "after"), actor.ErrUnknownName)
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Register("k", other), "the name is free again")
	// A released reservation is spent: passing it on registers the name as
	// WithName would (taken here).
	_, err = r.spawnLinked(keepOpts("k", actor.WithReservation(ex.Reserved))...)
	assert.ErrorIs(t, err, actor.ErrNameTaken)
	sys.ReleaseReservation(ex.Reserved, errGone) // twice: nothing more
}

// A parent that exits while it holds a reservation, however it exits,
// releases it: nothing queued is lost, the name is freed.
func TestReservationReleasedWhenTheParentExits(t *testing.T) {
	for _, tc := range []struct {
		name string
		// exit ends the parent, which has the child's exit in one of
		// three states, and returns the reason the queue is reported with.
		exit func(t *testing.T, r *keepRig, child actor.PID) (want error)
	}{
		{"exit signal not served yet", func(t *testing.T, r *keepRig, child actor.PID) error {
			// The parent is busy: the child's exit signal waits in its
			// system lane, behind a kill.
			gate, entered := make(chan struct{}), make(chan struct{})
			require.NoError(t, r.sys.Send(r.parent, runIn(func(*actor.Context) { close(entered); <-gate })))
			<-entered
			pw, cw := r.sys.Watch(r.parent), r.sys.Watch(child)
			require.NoError(t, r.sys.Kill(r.parent))
			require.NoError(t, r.sys.Send(child, crash{Err: errBoom}))
			<-cw.Done()
			require.NoError(t, r.sys.SendNamed("k", "g1"))
			close(gate)
			<-pw.Done()
			return errBoom
		}},
		{"exit message queued", func(t *testing.T, r *keepRig, child actor.PID) error {
			ctx := context.Background()
			require.NoError(t, r.sys.Suspend(ctx, r.parent)) // serves signals only
			cw := r.sys.Watch(child)
			require.NoError(t, r.sys.Send(child, crash{Err: errBoom}))
			<-cw.Done()
			require.NoError(t, r.sys.SendNamed("k", "g1"))
			pw := r.sys.Watch(r.parent)
			require.NoError(t, r.sys.Kill(r.parent))
			<-pw.Done()
			return errBoom
		}},
		{"exit message handled, reservation kept", func(t *testing.T, r *keepRig, child actor.PID) error {
			cw := r.sys.Watch(child)
			require.NoError(t, r.sys.Send(child, crash{Err: errBoom}))
			<-cw.Done()
			<-r.exits // the parent handled it and keeps the reservation
			require.NoError(t, r.sys.SendNamed("k", "g1"))
			pw := r.sys.Watch(r.parent)
			require.NoError(t, r.sys.Kill(r.parent))
			<-pw.Done()
			return actor.Killed
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newKeepRig(t)
			letters := deadLetters(r.sys)
			child, err := r.spawnLinked(keepOpts("k")...)
			require.NoError(t, err)
			want := tc.exit(t, r, child)
			got := filterLetters(letters(), "g1")
			require.Len(t, got, 1, "the message sent in the gap is reported")
			assert.ErrorIs(t, got[0].Reason, want)
			assert.ErrorIs(t, r.sys.SendNamed("k", "after"), actor.ErrUnknownName)
			_, err = r.sys.Spawn("worker", nil, actor.WithName("k"))
			assert.NoError(t, err, "the name is free")
		})
	}
}

// A replacement whose Init fails gives the name and every message back to
// the reservation, in order, for the next attempt.
func TestFailedInitGivesTheReservationBack(t *testing.T) {
	r := newKeepRig(t)
	sys := r.sys
	first, err := r.spawnLinked(keepOpts("k")...)
	require.NoError(t, err)
	ex := r.crash(first, "k", "q1")
	require.NoError(t, sys.SendNamed("k", "g1"))

	errInit := errors.New("init failed")
	_, err = r.in(func(ctx *actor.Context) (actor.PID, error) {
		return ctx.SpawnLink("worker", errInit, keepOpts("k", actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))...)
	})
	require.ErrorIs(t, err, errInit)
	_, ok := sys.Whereis("k")
	assert.False(t, ok)
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, sys.Register("k", other), actor.ErrNameTaken, "still reserved")
	require.NoError(t, sys.SendNamed("k", "g2"))
	assert.Equal(t, 3, ex.Reserved.Len(), "the backlog, the gap and what came after, all back in the reservation")

	_, err = r.spawnLinked(keepOpts("k", actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))...)
	require.NoError(t, err)
	require.NoError(t, sys.SendNamed("k", "n1"))
	assert.Equal(t, []any{"q1", "g1", "g2", "n1"}, seen(t, sys, "k"))
}

// The queue of a reservation has the bound of the exited process's
// mailbox, with its overflow policy.
func TestReservationKeepsTheMailboxBound(t *testing.T) {
	for _, policy := range []mailbox.Policy{mailbox.Reject, mailbox.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			r := newKeepRig(t)
			letters := deadLetters(r.sys)
			first, err := r.spawnLinked(keepOpts("k", actor.WithMailbox(2, policy))...)
			require.NoError(t, err)
			ex := r.crash(first, "k")
			require.NoError(t, r.sys.SendNamed("k", 1))
			require.NoError(t, r.sys.SendNamed("k", 2))
			err = r.sys.SendNamed("k", 3)
			var want []any
			if policy == mailbox.Reject {
				assert.ErrorIs(t, err, actor.ErrMailboxFull)
				want = []any{1, 2}
				assert.Empty(t, filterLetters(letters(), 3), "refused at the send: no dead letter")
			} else {
				assert.NoError(t, err)
				want = []any{2, 3}
				assert.Len(t, filterLetters(letters(), 1), 1)
			}
			_, err = r.spawnLinked(keepOpts("k", actor.WithMailbox(2, policy), actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))...)
			require.NoError(t, err)
			assert.Equal(t, want, seen(t, r.sys, "k"))
		})
	}
}

// WithKeepName keeps the name only for a parent linked to the process:
// spawned without a link (or unlinked), its name is freed at exit.
func TestKeepNameNeedsTheLinkToTheParent(t *testing.T) {
	r := newKeepRig(t)
	pid, err := r.in(func(ctx *actor.Context) (actor.PID, error) {
		return ctx.Spawn("worker", nil, keepOpts("k")...)
	})
	require.NoError(t, err)
	w := r.sys.Watch(pid)
	require.NoError(t, r.sys.Send(pid, crash{Err: errBoom}))
	<-w.Done()
	assert.ErrorIs(t, r.sys.SendNamed("k", 1), actor.ErrUnknownName)
}

// Messages sent by name from several goroutines while the process behind
// the name crashes and is replaced again and again all reach an
// incarnation, once, in each sender's order: none is refused, whatever
// the moment of the send (before the exit, in the gap, during the
// replacement's start, after).
func TestSendNamedAcrossRestartsIsNeverRefused(t *testing.T) {
	r := newKeepRig(t)
	sys := r.sys
	letters := deadLetters(sys)
	var mu sync.Mutex
	handled := map[int][]int{} // by sender, in the order handled
	cancel, err := sys.OnHandled(func(_ actor.PID, msg any) {
		if m, ok := msg.(sent); ok {
			mu.Lock()
			handled[m.sender] = append(handled[m.sender], m.seq)
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	defer cancel()
	const senders, crashes = 3, 50
	spawn := func(ex *actor.ExitMsg) actor.PID {
		opts := keepOpts("k")
		if ex != nil {
			opts = append(opts, actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))
		}
		pid, err := r.spawnLinked(opts...)
		require.NoError(t, err)
		return pid
	}
	pid := spawn(nil)
	// The senders yield after each send and the crashes go on until they
	// are done, so that sends land in every phase of many restarts.
	const perSender = 2000
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				assert.NoError(t, sys.SendNamed("k", sent{sender: s, seq: i}))
				runtime.Gosched()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	n := 0
	for finished := false; !finished || n < crashes; n++ {
		select {
		case <-done:
			finished = true
		default:
		}
		w := sys.Watch(pid)
		require.NoError(t, sys.SendNamed("k", crash{Err: errBoom}))
		<-w.Done()
		ex := <-r.exits
		pid = spawn(&ex)
	}
	t.Logf("%d restarts", n)
	seen(t, sys, "k") // answered once everything sent before it is handled
	mu.Lock()
	defer mu.Unlock()
	for s := range senders {
		want := make([]int, perSender)
		for i := range want {
			want[i] = i
		}
		require.Equal(t, want, handled[s], "sender %d: each message once, in order", s)
	}
	assert.Empty(t, letters(), "nothing refused or dead-lettered")
}

// sent is a message numbered by its sender.
type sent struct{ sender, seq int }

// A send by name that found the process just before it exited queues its
// message where the name went: the reservation, not a dead letter.
func TestSendNamedThatFoundTheExitingProcessFollowsTheName(t *testing.T) {
	r := newKeepRig(t)
	sys := r.sys
	letters := deadLetters(sys)
	resolved, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	actor.OnNameResolved(sys.System, func(name string) {
		if name == "late" {
			once.Do(func() {
				close(resolved)
				<-proceed
			})
		}
	})
	// The name the test sends to is "late"; the rig's sends use "k".
	first, err := r.spawnLinked(keepOpts("late")...)
	require.NoError(t, err)
	sendErr := make(chan error, 1)
	go func() { sendErr <- sys.SendNamed("late", "held") }()
	<-resolved // it found first under the name
	w := sys.Watch(first)
	require.NoError(t, sys.Send(first, crash{Err: errBoom}))
	<-w.Done()
	ex := <-r.exits
	close(proceed)
	require.NoError(t, <-sendErr)
	assert.Equal(t, 1, ex.Reserved.Len(), "queued in the reservation")
	_, err = r.spawnLinked(keepOpts("late", actor.WithBacklog(ex.Queued), actor.WithReservation(ex.Reserved))...)
	require.NoError(t, err)
	assert.Equal(t, []any{"held"}, seen(t, sys, "late"))
	assert.Empty(t, filterLetters(letters(), "held"))
}
