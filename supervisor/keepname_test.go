package supervisor_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Tests of KeepName: a child's registered name kept through its restart.

// Messages for module "kn".
type (
	knCrash struct{ Reason error }
	knBlock struct{ gate, entered chan struct{} }
	knEcho  struct{ V any }
	knSync  struct{} // call: answered once what was sent before is handled
)

// knRec records what every incarnation of module "kn" handles, and lets a
// test fail or ignore its starts.
type knRec struct {
	mu      sync.Mutex
	handled []any // guarded by mu

	starts       atomic.Int32
	fail, ignore atomic.Int32 // starts left to fail, to ignore
}

func (r *knRec) got() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.handled)
}

func (r *knRec) version() *actor.Version {
	return actor.Define("kn", "v1", actor.Funcs[struct{}]{
		Init: func(ctx *actor.Context, args any) (struct{}, error) {
			r.starts.Add(1)
			if r.fail.Add(-1) >= 0 {
				return struct{}{}, errors.New("not now")
			}
			if r.ignore.Add(-1) >= 0 {
				return struct{}{}, actor.Ignore
			}
			return struct{}{}, nil
		},
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			switch m := msg.(type) {
			case knCrash:
				return s, m.Reason
			case knBlock:
				close(m.entered)
				<-m.gate
			case knEcho:
				ctx.Reply(m.V)
			case knSync:
				ctx.Reply(nil)
			default:
				r.mu.Lock()
				r.handled = append(r.handled, msg)
				r.mu.Unlock()
			}
			return s, nil
		},
	})
}

type knRig struct {
	*actortest.System
	t   *testing.T
	rec *knRec
	// letters records the dead letters of messages other than the
	// test's control messages.
	lettersMu sync.Mutex
	letters   []actor.DeadLetter // guarded by lettersMu
	restarted chan actor.PID     // ChildStarted with Restart, "k"
}

func newKnRig(t *testing.T) *knRig {
	// Failed restarts are retried at once and logged each time: the log is
	// kept to fatal errors.
	sys := actortest.NewSystem(t, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.FatalLevel)))
	r := &knRig{System: sys, t: t, rec: &knRec{}, restarted: make(chan actor.PID, 1024)}
	require.NoError(t, sys.Load(r.rec.version()))
	t.Cleanup(sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case actor.DeadLetter:
			switch e.Message.(type) {
			case knCrash, knBlock, knSync:
			default:
				r.lettersMu.Lock()
				r.letters = append(r.letters, e)
				r.lettersMu.Unlock()
			}
		case supervisor.ChildStarted:
			if e.Restart && e.ID == "k" {
				r.restarted <- e.PID
			}
		}
	}))
	return r
}

func (r *knRig) deadLetters() []actor.DeadLetter {
	r.lettersMu.Lock()
	defer r.lettersMu.Unlock()
	return slices.Clone(r.letters)
}

func knSpec(restart supervisor.Restart) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		ID: "k", Restart: restart, Handoff: true, KeepName: true,
		Start: supervisor.StartSpec{Module: "kn", Options: []actor.SpawnOption{actor.WithName("k")}},
	}
}

// start starts a supervisor with flags over specs and returns it with the
// PID of child "k".
func (r *knRig) start(flags supervisor.Flags, specs ...supervisor.ChildSpec) (*supervisor.Handle, actor.PID) {
	h, err := supervisor.Start(r.System.System, flags, specs)
	require.NoError(r.t, err)
	return h, children(r.t, h)["k"]
}

// crashInGap makes child pid crash while its supervisor is suspended (it
// serves signals only), so that the restart waits until resume: the child
// handles what was queued before the crash message, then crashes with
// queued (sent by name after the crash message) in its mailbox. It returns
// once the child has exited.
func (r *knRig) crashInGap(h *supervisor.Handle, pid actor.PID, reason error, queued ...any) {
	t := r.t
	gate, entered := make(chan struct{}), make(chan struct{})
	require.NoError(t, r.Send(pid, knBlock{gate, entered}))
	<-entered
	require.NoError(t, r.Suspend(context.Background(), h.PID()))
	require.NoError(t, r.Send(pid, knCrash{Reason: reason}))
	for _, m := range queued {
		require.NoError(t, r.SendNamed("k", m))
	}
	w := r.Watch(pid)
	close(gate)
	<-w.Done()
}

// callInGap calls "k" by name from another goroutine; the result arrives
// on the returned channel (the answer, or the error).
func (r *knRig) callInGap(v any) <-chan any {
	out := make(chan any, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
		defer cancel()
		got, err := r.CallNamed(ctx, "k", knEcho{V: v})
		if err != nil {
			got = err
		}
		out <- got
	}()
	return out
}

// queued waits until n messages are queued for "k" in the gap.
func (r *knRig) queued(n int) {
	require.Eventually(r.t, func() bool {
		_, got, _ := r.Reserved("k")
		return got == n
	}, actortest.DefaultWait, 100*time.Microsecond)
}

// flush returns once "k" has handled everything sent to it before.
func (r *knRig) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	_, err := r.CallNamed(ctx, "k", knSync{})
	require.NoError(r.t, err)
}

// The restart: sends by name in the gap are queued, none refused; a call
// waits and is answered by the replacement; Whereis finds no process and
// Register is refused; the old PID is gone. The replacement handles the
// handed-over messages, then the gap, then new ones.
func TestKeepNameRestart(t *testing.T) {
	r := newKnRig(t)
	h, first := r.start(lots, knSpec(supervisor.Permanent))
	require.NoError(t, r.SendNamed("k", "before"))
	r.crashInGap(h, first, errors.New("boom"), "q1", "q2")

	_, ok := r.Whereis("k")
	assert.False(t, ok, "Whereis: no process holds the name in the gap")
	other, err := r.Spawn("kn", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, r.Register("k", other), actor.ErrNameTaken)
	assert.ErrorIs(t, r.Send(first, "by-pid"), actor.NoProc)
	require.NoError(t, r.SendNamed("k", "g1"))
	answer := r.callInGap("called")
	r.queued(2)
	require.NoError(t, r.SendNamed("k", "g2"))
	from, n, ok := r.Reserved("k")
	assert.True(t, ok)
	assert.Equal(t, first, from)
	assert.Equal(t, 3, n)

	require.NoError(t, r.Resume(context.Background(), h.PID()))
	second := <-r.restarted
	assert.NotEqual(t, first, second)
	require.NoError(t, r.SendNamed("k", "n1"))
	assert.Equal(t, "called", <-answer)
	r.flush()
	got := r.rec.got()
	assert.Equal(t, []any{"before", "q1", "q2", "g1", "g2", "n1"}, got)
	assert.Empty(t, r.deadLetters())
	pid, ok := r.Whereis("k")
	assert.True(t, ok)
	assert.Equal(t, second, pid)
}

// A child that is not restarted frees its name and reports what was sent
// in the gap: a temporary child, a transient one that exits normally, the
// intensity reached (the supervisor gives up), each with its reason.
func TestKeepNameNotRestarted(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		flags   supervisor.Flags
		restart supervisor.Restart
		reason  error // the child's
		want    error // the dead letters'
	}{
		{"temporary", lots, supervisor.Temporary, errBoom, errBoom},
		{"transient normal", lots, supervisor.Transient, actor.Normal, actor.Normal},
		{"intensity reached", supervisor.Flags{Intensity: 0, Period: time.Hour}, supervisor.Permanent, errBoom, actor.Shutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newKnRig(t)
			h, first := r.start(tc.flags, knSpec(tc.restart))
			r.crashInGap(h, first, tc.reason, "q1")
			require.NoError(t, r.SendNamed("k", "g1"))
			answer := r.callInGap(1)
			// The call is queued before the supervisor decides: it waits
			// for its answer, which only the decision gives.
			r.queued(2)
			sw := r.Watch(h.PID())
			require.NoError(t, r.Resume(context.Background(), h.PID()))
			var ee *actor.ExitError
			got := <-answer
			require.ErrorAs(t, got.(error), &ee, "the call in the gap fails")
			assert.ErrorIs(t, ee.Reason, tc.want)
			letters := r.deadLetters()
			require.Len(t, letters, 2, "the handed-over message and the one sent in the gap")
			for _, d := range letters {
				assert.Contains(t, []any{"q1", "g1"}, d.Message)
				assert.ErrorIs(t, d.Reason, tc.want)
			}
			assert.Empty(t, r.rec.got())
			if tc.name == "intensity reached" {
				<-sw.Done()
			}
			assert.ErrorIs(t, r.SendNamed("k", "after"), actor.ErrUnknownName)
			_, err := r.Spawn("kn", nil, actor.WithName("k"))
			assert.NoError(t, err, "the name is free")
		})
	}
}

// A supervisor killed in the gap releases the name: what was handed over
// and what was sent in the gap are reported, nothing is lost, and the name
// is free.
func TestKeepNameSupervisorKilledInTheGap(t *testing.T) {
	r := newKnRig(t)
	errBoom := errors.New("boom")
	h, first := r.start(lots, knSpec(supervisor.Permanent))
	r.crashInGap(h, first, errBoom, "q1")
	require.NoError(t, r.SendNamed("k", "g1"))
	answer := r.callInGap(1)
	r.queued(2)
	sw := r.Watch(h.PID())
	require.NoError(t, r.Kill(h.PID()))
	<-sw.Done()
	var ee *actor.ExitError
	require.ErrorAs(t, (<-answer).(error), &ee)
	letters := r.deadLetters()
	require.Len(t, letters, 2)
	for _, d := range letters {
		assert.Contains(t, []any{"q1", "g1"}, d.Message)
		// The child's exit was still queued in the supervisor: reported
		// with the child's reason.
		assert.ErrorIs(t, d.Reason, errBoom)
	}
	assert.ErrorIs(t, r.SendNamed("k", "after"), actor.ErrUnknownName)
	_, err := r.Spawn("kn", nil, actor.WithName("k"))
	assert.NoError(t, err, "the name is free")
}

// A restart that fails keeps the name reserved while the child is
// restarting: sends still queue, and the retry that succeeds gets them
// all, in order, after the handed-over ones.
func TestKeepNameRestartFailsThenSucceeds(t *testing.T) {
	r := newKnRig(t)
	h, first := r.start(lots, knSpec(supervisor.Permanent))
	other, err := r.Spawn("kn", nil)
	require.NoError(t, err)
	r.crashInGap(h, first, errors.New("boom"), "q1")
	require.NoError(t, r.SendNamed("k", "g1"))
	r.rec.fail.Store(1 << 20) // fails until told otherwise
	require.NoError(t, r.Resume(context.Background(), h.PID()))
	require.Eventually(t, func() bool { return r.rec.starts.Load() > 5 }, actortest.DefaultWait, 100*time.Microsecond)
	assert.True(t, info(t, h, "k").Restarting)
	// (Whereis finds each attempt while its Init runs, as it finds any
	// process whose name was registered before its Init.)
	require.NoError(t, r.SendNamed("k", "g2"))
	answer := r.callInGap("called")
	require.NoError(t, r.SendNamed("k", "g3"))
	assert.ErrorIs(t, r.Register("k", other), actor.ErrNameTaken, "still reserved while restarting")
	r.rec.fail.Store(0)
	<-r.restarted
	assert.Equal(t, "called", <-answer)
	require.NoError(t, r.SendNamed("k", "n1"))
	r.flush()
	got := r.rec.got()
	assert.Equal(t, []any{"q1", "g1"}, got[:2])
	assert.ElementsMatch(t, []any{"g2", "g3"}, got[2:4]) // the call's goroutine sent between them
	assert.Equal(t, "n1", got[len(got)-1])
	assert.Len(t, got, 5)
	assert.Empty(t, r.deadLetters())
}

// TerminateChild of a restarting child cancels its restart and frees the
// name; what was queued is reported with reason shutdown. A restart that
// is ignored frees it too (reason normal).
func TestKeepNameCancelled(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, r *knRig, h *supervisor.Handle)
		want error
	}{
		{"terminate_child while restarting", func(t *testing.T, r *knRig, h *supervisor.Handle) {
			r.rec.fail.Store(1 << 20)
			require.NoError(t, r.Resume(context.Background(), h.PID()))
			require.Eventually(t, func() bool { return r.rec.starts.Load() > 3 }, actortest.DefaultWait, 100*time.Microsecond)
			require.NoError(t, h.TerminateChild(context.Background(), "k"))
			assert.False(t, info(t, h, "k").Restarting)
		}, actor.Shutdown},
		{"restart ignored", func(t *testing.T, r *knRig, h *supervisor.Handle) {
			r.rec.ignore.Store(1)
			require.NoError(t, r.Resume(context.Background(), h.PID()))
			require.Eventually(t, func() bool { return r.rec.starts.Load() == 2 }, actortest.DefaultWait, 100*time.Microsecond)
			assert.True(t, info(t, h, "k").PID.IsZero())
		}, actor.Normal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newKnRig(t)
			h, first := r.start(lots, knSpec(supervisor.Permanent))
			r.crashInGap(h, first, errors.New("boom"), "q1")
			require.NoError(t, r.SendNamed("k", "g1"))
			tc.end(t, r, h)
			// The decision was made on the supervisor's goroutine, before
			// the call above returned (or before starts moved): the
			// reports are out.
			_, err := h.CountChildren(context.Background())
			require.NoError(t, err)
			letters := r.deadLetters()
			require.Len(t, letters, 2)
			for _, d := range letters {
				assert.Contains(t, []any{"q1", "g1"}, d.Message)
				assert.ErrorIs(t, d.Reason, tc.want)
			}
			assert.ErrorIs(t, r.SendNamed("k", "after"), actor.ErrUnknownName)
			assert.Empty(t, r.rec.got())
		})
	}
}

// The name is never free during a restart: a process trying to take it
// the whole time never gets it, and the supervisor never fails to
// restart the child for want of it.
func TestKeepNameNeverFreeToAConcurrentRegister(t *testing.T) {
	r := newKnRig(t)
	h, pid := r.start(lots, knSpec(supervisor.Permanent))
	other, err := r.Spawn("kn", nil)
	require.NoError(t, err)
	stop := make(chan struct{})
	var took atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.Register("k", other); err == nil {
				took.Add(1)
				_ = r.Unregister("k")
			} else if !errors.Is(err, actor.ErrNameTaken) {
				t.Errorf("register: %v", err)
			}
			runtime.Gosched()
		}
	})
	const restarts = 200
	for range restarts {
		require.NoError(t, r.SendNamed("k", knCrash{Reason: errors.New("boom")}))
		next := <-r.restarted
		assert.NotEqual(t, pid, next)
		pid = next
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, took.Load(), "the name was free during a restart")
	assert.False(t, info(t, h, "k").Restarting)
}

// KeepName needs Handoff and a registered name; under simple_one_for_one
// the name may come with each instance, which keeps its own.
func TestKeepNameSpecValidation(t *testing.T) {
	r := newKnRig(t)
	noHandoff := knSpec(supervisor.Permanent)
	noHandoff.Handoff = false
	_, err := supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{noHandoff})
	var se *supervisor.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "keep_name", se.Field)
	noName := knSpec(supervisor.Permanent)
	noName.Start.Options = nil
	_, err = supervisor.Start(r.System.System, supervisor.Flags{}, []supervisor.ChildSpec{noName})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "keep_name", se.Field)

	h, err := supervisor.Start(r.System.System, supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 100, Period: time.Hour},
		[]supervisor.ChildSpec{noName})
	require.NoError(t, err)
	_, err = h.StartSimpleChild(context.Background(), nil)
	require.ErrorAs(t, err, &se, "an instance without a name")
	pid, err := h.StartSimpleChild(context.Background(), nil, supervisor.SpawnOptions(actor.WithName("k")))
	require.NoError(t, err)
	w := r.Watch(pid)
	require.NoError(t, r.Suspend(context.Background(), h.PID()))
	require.NoError(t, r.Send(pid, knCrash{Reason: errors.New("boom")}))
	<-w.Done()
	require.NoError(t, r.SendNamed("k", "g1"), "the instance's name is kept")
	require.NoError(t, r.Resume(context.Background(), h.PID()))
	r.flush()
	assert.Equal(t, []any{"g1"}, r.rec.got())
}

// Under one_for_all the crashed child keeps its name; a KeepName sibling
// that the strategy shuts down does not (it is shut down, not crashed:
// its queue is reported as for any Handoff sibling, and its name is free
// until it is started again).
func TestKeepNameOneForAll(t *testing.T) {
	r := newKnRig(t)
	sib := knSpec(supervisor.Permanent)
	sib.ID, sib.Start.Options = "s", []actor.SpawnOption{actor.WithName("s")}
	h, first := r.start(supervisor.Flags{Strategy: supervisor.OneForAll, Intensity: 100, Period: time.Hour}, knSpec(supervisor.Permanent), sib)
	r.crashInGap(h, first, errors.New("boom"), "q1")
	require.NoError(t, r.SendNamed("k", "g1"))
	require.NoError(t, r.Resume(context.Background(), h.PID()))
	<-r.restarted
	r.flush()
	assert.Equal(t, []any{"q1", "g1"}, r.rec.got())
	assert.Empty(t, r.deadLetters())
}
