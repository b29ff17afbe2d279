package actor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// loopRemote joins two systems in one process the way package cluster
// joins nodes: each sees the other as node 1. Translating a PID is all
// there is to it: the peer's local PID p is NewPID(1, p.ID()) here.
type loopRemote struct {
	peer *actor.System
	down error // when set, every request fails with it (the connection is lost)
}

func local(p actor.PID) actor.PID { return actor.NewPID(0, p.ID()) }
func remote(p actor.PID) actor.PID {
	if p.IsZero() {
		return p
	}
	return actor.NewPID(1, p.ID())
}

func (r *loopRemote) Send(to actor.PID, msg any) error {
	if r.down != nil {
		return r.down
	}
	return r.peer.Send(local(to), msg)
}

func (r *loopRemote) Call(ctx context.Context, to actor.PID, req any) (any, error) {
	return r.peer.Call(ctx, local(to), req)
}

func (r *loopRemote) Link(from, to actor.PID) error {
	if r.down != nil {
		return r.down
	}
	_ = r.peer.RemoteLink(remote(from), local(to)) // a dead target answers with an exit signal
	return nil
}

func (r *loopRemote) Unlink(from, to actor.PID) { r.peer.RemoteUnlink(remote(from), local(to)) }

func (r *loopRemote) Monitor(from, to actor.PID, ref actor.Ref) error {
	if r.down != nil {
		return r.down
	}
	r.peer.RemoteMonitor(remote(from), local(to), actor.NewRef(1, ref.ID()))
	return nil
}

func (r *loopRemote) Demonitor(from, to actor.PID, ref actor.Ref) {
	r.peer.RemoteDemonitor(local(to), actor.NewRef(1, ref.ID()))
}

func (r *loopRemote) Exit(from, to actor.PID, reason error, link bool) error {
	return r.peer.RemoteExit(remote(from), local(to), reason, link)
}

func (r *loopRemote) Down(from, to actor.PID, ref actor.Ref, reason error) {
	r.peer.RemoteDown(remote(from), local(to), actor.NewRef(0, ref.ID()), reason)
}

// pair returns two systems joined by loopRemotes.
func pair(t *testing.T) (a, b *actortest.System, ra, rb *loopRemote) {
	a, b = newSys(t), newSys(t)
	ra, rb = &loopRemote{peer: b.System}, &loopRemote{peer: a.System}
	detachA, err := a.AttachRemote(ra)
	require.NoError(t, err)
	t.Cleanup(detachA)
	detachB, err := b.AttachRemote(rb)
	require.NoError(t, err)
	t.Cleanup(detachB)
	return a, b, ra, rb
}

func TestRemotePIDAccessors(t *testing.T) {
	p := actor.NewPID(3, 42)
	assert.Equal(t, uint32(3), p.Node())
	assert.Equal(t, uint64(42), p.ID())
	assert.Equal(t, "<3.42.0>", p.String())
	q, err := actor.ParsePID(p.String())
	require.NoError(t, err)
	assert.Equal(t, p, q)
	r := actor.NewRef(2, 7)
	assert.Equal(t, "#Ref<2.7>", r.String())
	assert.Equal(t, "#Ref<7>", actor.NewRef(0, 7).String())
	assert.NotEqual(t, r, actor.NewRef(0, 7), "refs of two nodes never collide")
}

func TestRemoteWithoutRemoteIsDead(t *testing.T) {
	sys := newSys(t)
	far := actor.NewPID(1, 1)
	require.ErrorIs(t, sys.Send(far, "x"), actor.NoProc)
	_, err := call(t, sys, far, echo{1})
	require.True(t, isExit(err, actor.NoProc), "%v", err)
	require.ErrorIs(t, sys.Exit(far, actor.Kill), actor.NoProc)
}

func TestAttachRemoteOnce(t *testing.T) {
	sys := newSys(t)
	_, err := sys.AttachRemote(nil)
	require.Error(t, err)
	detach, err := sys.AttachRemote(&loopRemote{peer: sys.System})
	require.NoError(t, err)
	_, err = sys.AttachRemote(&loopRemote{peer: sys.System})
	require.ErrorIs(t, err, actor.ErrRemoteAttached)
	detach()
	detach, err = sys.AttachRemote(&loopRemote{peer: sys.System})
	require.NoError(t, err)
	detach()
}

func TestRemoteSendAndCall(t *testing.T) {
	a, b, _, _ := pair(t)
	w, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	far := remote(w)
	for i := range 100 {
		require.NoError(t, a.Send(far, i))
	}
	got, err := call(t, a, far, getSeen{})
	require.NoError(t, err)
	want := make([]any, 100)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got, "per-sender order")

	// A process sends through its Context as well.
	p := actortest.NewProbe(t, a.System)
	require.NoError(t, b.Send(w, tee{To: remote(p.PID())}))
	require.NoError(t, a.Send(far, "hello"))
	p.Expect("hello")
}

func TestRemoteLinkBothWays(t *testing.T) {
	a, b, _, _ := pair(t)

	// A local process linked to a remote one dies of its crash.
	w, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	p := actortest.NewProbe(t, a.System)
	p.Link(remote(w))
	boomErr := errors.New("boom")
	require.NoError(t, b.Send(w, crash{Err: boomErr}))
	p.ExpectExit(remote(w), boomErr)

	// And the other way: the remote end sees the local process's exit.
	w2, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	_, err = call(t, b, w2, trap{})
	require.Error(t, err) // trap does not reply
	local2, err := a.Spawn("worker", nil)
	require.NoError(t, err)
	_, err = call(t, b, w2, linkTo{PID: remote(local2)})
	require.ErrorIs(t, err, actor.ErrNoReply)
	gone := a.Watch(local2)
	require.NoError(t, a.Exit(local2, actor.Kill))
	<-gone.Done() // its exit has told the link's far end
	seen, err := call(t, b, w2, getSeen{})
	require.NoError(t, err)
	require.Len(t, seen, 1)
	e := seen.([]any)[0].(actor.ExitMsg)
	assert.Equal(t, remote(local2), e.From)
	assert.ErrorIs(t, e.Reason, actor.Killed)
}

func TestRemoteLinkToDeadAndUnlink(t *testing.T) {
	a, b, _, _ := pair(t)
	w, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	require.NoError(t, b.Stop(context.Background(), w))
	p := actortest.NewProbe(t, a.System)
	p.Link(remote(w)) // asynchronous, as in OTP: the answer is an exit signal
	p.ExpectExit(remote(w), actor.NoProc)

	w2, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	p.Link(remote(w2))
	p.Do(func(ctx *actor.Context) { ctx.Unlink(remote(w2)) })
	// The unlink reached w2 before the crash below: nothing arrives.
	info, err := b.Info(context.Background(), w2)
	require.NoError(t, err)
	assert.Empty(t, info.Links)
	require.NoError(t, b.Send(w2, crash{Err: errors.New("late")}))
	p.Do(func(ctx *actor.Context) { ctx.Monitor(remote(w2)) })
	d := p.Recv()
	require.IsType(t, actor.Down{}, d, "the monitor's Down, and no exit signal")
}

func TestRemoteMonitor(t *testing.T) {
	a, b, _, _ := pair(t)
	w, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	p := actortest.NewProbe(t, a.System)
	ref := p.Monitor(remote(w))
	require.NoError(t, b.Exit(w, actor.Kill))
	d := p.ExpectDown(remote(w), actor.Killed)
	assert.Equal(t, ref, d.Ref)

	// Monitoring a dead remote process gives noproc.
	p.Monitor(remote(w))
	p.ExpectDown(remote(w), actor.NoProc)

	// A remote process monitoring a local one.
	lw, err := a.Spawn("worker", nil)
	require.NoError(t, err)
	q := actortest.NewProbe(t, b.System)
	q.Monitor(remote(lw))
	require.NoError(t, a.Stop(context.Background(), lw))
	q.ExpectDown(remote(lw), actor.Normal)

	// A demonitor withdraws it on the far side.
	w2, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	ref2 := p.Monitor(remote(w2))
	p.Do(func(ctx *actor.Context) { ctx.Demonitor(ref2) })
	require.NoError(t, b.Stop(context.Background(), w2))
	p.Monitor(remote(w2))
	p.ExpectDown(remote(w2), actor.NoProc) // the only Down
}

func TestRemoteUnreachable(t *testing.T) {
	a, b, ra, _ := pair(t)
	w, err := b.Spawn("worker", nil)
	require.NoError(t, err)
	ra.down = actor.NoConnection
	require.ErrorIs(t, a.Send(remote(w), "x"), actor.NoConnection)
	p := actortest.NewProbe(t, a.System)
	p.Link(remote(w)) // trapping: an ExitMsg, not an error
	p.ExpectExit(remote(w), actor.NoConnection)
	p.Monitor(remote(w))
	p.ExpectDown(remote(w), actor.NoConnection)

	lw, err := a.Spawn("worker", nil)
	require.NoError(t, err)
	_, err = call(t, a, lw, linkTo{PID: remote(w)})
	require.ErrorIs(t, err, actor.NoConnection)
}
