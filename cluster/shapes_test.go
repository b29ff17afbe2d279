package cluster_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

const resetType = "github.com/graftrt/graft/cluster/internal/testkit.Reset"

// deadLetters collects sys's dead letters.
func deadLetters(t *testing.T, sys *actortest.System) <-chan actor.DeadLetter {
	t.Helper()
	ch := make(chan actor.DeadLetter, 64)
	cancel := sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			ch <- d
		}
	})
	t.Cleanup(cancel)
	return ch
}

// counterNode is a node in this process with the counter loaded on v1, a
// counter process registered as "counter0" and an echo process as "echo";
// v2 is returned, not loaded.
func counterNode(t *testing.T, name string, reg uint16) (*actortest.System, *cluster.Node, *actor.Version) {
	t.Helper()
	sys, n := joinLocal(t, name, reg)
	v1, v2 := testkit.Counter(false)
	require.NoError(t, sys.Load(v1))
	_, err := sys.Spawn("counter", nil, actor.WithName("counter0"))
	require.NoError(t, err)
	_, err = sys.Spawn("echo", nil, actor.WithName("echo"))
	require.NoError(t, err)
	return sys, n, v2
}

func count(t *testing.T, n *cluster.Node, to cluster.Name) int64 {
	t.Helper()
	v, err := n.CallNamed(ctxWait(t), to, int64(0))
	require.NoError(t, err)
	return v.(int64)
}

// A message whose type the target's version does not accept is a dead
// letter on the target's node, with a reason naming the module, the
// versions and the type; a call gets the error. What the version accepts
// is delivered, in order; a module without declarations takes anything.
func TestMessageShapesCheckedAgainstTheTargetsVersion(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b, v2 := counterNode(t, "b@localhost", reg)
	v1, _ := sysB.Current("counter")
	require.NoError(t, testkit.DeclareCounter(a, v1, v2))
	require.NoError(t, testkit.DeclareCounter(b, v1, v2))
	letters := deadLetters(t, sysB)
	c0 := cluster.Name{Name: "counter0", Node: b.Name()}
	pid, err := a.Whereis(ctxWait(t), c0)
	require.NoError(t, err)

	// v1 takes increments; Reset is v2's, by PID and by name.
	require.NoError(t, sysA.Send(pid, int64(1)))
	require.NoError(t, sysA.Send(pid, testkit.Reset{}))
	require.NoError(t, a.SendNamed(c0, testkit.Reset{}))
	require.NoError(t, a.SendNamed(c0, int64(1)))
	assert.Equal(t, int64(2), count(t, a, c0), "the increments, and no Reset, reached v1")

	d := within(t, letters)
	var na *cluster.NotAcceptedError
	require.ErrorAs(t, d.Reason, &na)
	assert.Equal(t, cluster.NotAcceptedError{Module: "counter", Version: "v1", Type: resetType,
		Declared: []string{"v2"}, From: "a@localhost"}, *na)
	assert.EqualError(t, d.Reason, "cluster: counter@v1 does not accept "+resetType+
		" from a@localhost: it is a message of counter@v2, and v1 does not come after v2 in the lineage")
	assert.Equal(t, pid.ID(), d.To.ID())
	assert.Equal(t, testkit.Reset{}, d.Message)
	d = within(t, letters)
	require.ErrorIs(t, d.Reason, cluster.ErrNotAccepted)
	assert.Equal(t, cluster.ToName{Name: c0, Message: testkit.Reset{}}, d.Message, "sent by name: the dead letter says to whom")

	// A call gets the refusal.
	_, err = a.CallNamed(ctxWait(t), c0, testkit.Reset{})
	require.ErrorIs(t, err, cluster.ErrNotAccepted)
	assert.Contains(t, err.Error(), "counter@v1 does not accept "+resetType)
	_, err = sysA.Call(ctxWait(t), pid, testkit.Reset{})
	require.ErrorIs(t, err, cluster.ErrNotAccepted)

	// A registered type no version of counter declares; a basic type,
	// which every version takes, as in the core.
	require.NoError(t, sysA.Send(pid, testkit.Ping{From: "a", N: 1}))
	d = within(t, letters)
	assert.EqualError(t, d.Reason, "cluster: counter@v1 does not accept github.com/graftrt/graft/cluster/internal/testkit.Ping"+
		" from a@localhost: no version of counter declares it")
	require.NoError(t, sysA.Send(pid, "a basic type"))
	assert.Equal(t, int64(4), count(t, a, c0))

	// The echo module declares nothing: anything registered reaches it.
	v, err := a.CallNamed(ctxWait(t), cluster.Name{Name: "echo", Node: b.Name()}, testkit.Reset{})
	require.NoError(t, err)
	assert.Equal(t, testkit.Reset{}, v)

	// On v2 (made current: the process moves at its next message), Reset
	// is accepted, and so are v1's shapes.
	require.NoError(t, sysB.Load(v2))
	require.NoError(t, sysA.Send(pid, testkit.Reset{}))
	require.NoError(t, sysA.Send(pid, int64(1)))
	assert.Equal(t, int64(1), count(t, a, c0))
	v, err = a.CallNamed(ctxWait(t), c0, testkit.Version{})
	require.NoError(t, err)
	assert.Equal(t, "v2", v)

	select {
	case d := <-letters:
		t.Fatalf("unexpected dead letter: %+v", d)
	default:
	}
}

// The receiver checks against the sender's declaration when it has none
// for the type: a node whose build does not know a shape of v2 as one
// still refuses it for its processes on v1.
func TestMessageShapesDeclaredBySender(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b, v2 := counterNode(t, "b@localhost", reg)
	v1, _ := sysB.Current("counter")
	require.NoError(t, testkit.DeclareCounter(a, v1, v2))
	// b declares nothing for counter.
	letters := deadLetters(t, sysB)
	c0 := cluster.Name{Name: "counter0", Node: b.Name()}
	pid, err := a.Whereis(ctxWait(t), c0)
	require.NoError(t, err)

	require.NoError(t, sysA.Send(pid, testkit.Reset{}))
	require.NoError(t, sysA.Send(pid, int64(1)))
	require.NoError(t, sysA.Send(pid, "not declared by the sender: unchecked"))
	assert.Equal(t, int64(2), count(t, a, c0))
	d := within(t, letters)
	var na *cluster.NotAcceptedError
	require.ErrorAs(t, d.Reason, &na)
	assert.True(t, na.BySender)
	assert.Equal(t, []string{"v2"}, na.Declared)
	assert.Contains(t, d.Reason.Error(), "(as the sender declares it)")
	select {
	case d := <-letters:
		t.Fatalf("unexpected dead letter: %+v", d)
	default:
	}

	// Where the receiver declares the type, its own declaration counts:
	// declared for v1 there, Reset reaches v1 (which counts it).
	require.NoError(t, b.RegisterMessages(v1, testkit.Reset{}))
	require.NoError(t, sysA.Send(pid, testkit.Reset{}))
	assert.Equal(t, int64(4), count(t, a, c0))
}

// RegisterMessages refuses what cannot be declared.
func TestRegisterMessagesRejectsBadInput(t *testing.T) {
	_, n := joinLocal(t, "reg@localhost", freePort(t))
	v1, _ := testkit.Counter(false)
	require.ErrorIs(t, n.RegisterMessages(nil, testkit.Reset{}), cluster.ErrBadType)
	require.ErrorIs(t, n.RegisterMessages(actor.Define("", "v1", actor.Funcs[int]{}), testkit.Reset{}), cluster.ErrBadType)
	require.ErrorIs(t, n.RegisterMessages(v1, nil), cluster.ErrBadType)
	require.ErrorIs(t, n.RegisterMessages(v1, &testkit.Reset{}), cluster.ErrBadType)
	require.NoError(t, n.RegisterMessages(v1), "what the version lists in its Types")
	type fresh struct{ X int64 }
	require.NoError(t, n.RegisterMessages(v1, fresh{}), "an unregistered type is registered with EDF")

	// A type the version lists that EDF cannot carry: a codec first.
	type hidden struct{ x int64 }
	listing := func(types ...any) *actor.Version {
		return actor.Define("lists", "v1", actor.Funcs[int]{Types: types})
	}
	err := n.RegisterMessages(listing(hidden{}))
	require.ErrorIs(t, err, cluster.ErrBadType)
	assert.Contains(t, err.Error(), "lists@v1 lists it in its Types")
	require.NoError(t, n.RegisterCodec(hidden{}, "hidden", panicky{}))
	require.NoError(t, n.RegisterMessages(listing(hidden{})))
	require.NoError(t, n.RegisterMessages(listing(&testkit.Ping{})), "a pointer is declared, not registered")
}

// A cluster-wide upgrade, one node per wave: between the waves, a node
// on v2 sends a shape only v2 accepts to a counter still on v1 (a dead
// letter there, with the reason, and accounted for) among increments v1
// accepts (delivered, in order); a node on v1 sends both to a counter on
// v2 (all delivered); a call of the v2 shape to v1 fails. After the last
// wave, the shape is delivered everywhere.
func TestClusterUpgradeMessageShapesDuringTheWaves(t *testing.T) {
	reg := freePort(t)
	_, n := joinLocal(t, "t@localhost", reg)
	startNode(t, "b@localhost", reg, "-letters")
	startNode(t, "c@localhost", reg, "-letters")
	startNode(t, "d@localhost", reg, "-letters")
	on := func(node string) cluster.Name { return cluster.Name{Name: "counter0", Node: node} }
	echo := func(node string) cluster.Name { return cluster.Name{Name: "echo", Node: node} }
	lettersOf := func(ctx context.Context, node string) (string, error) {
		v, err := n.CallNamed(ctx, cluster.Name{Name: "letters", Node: node}, testkit.Letters{})
		if err != nil {
			return "", err
		}
		return v.(string), nil
	}
	// push has from's echo send to counter0 on to ten increments with a
	// Reset after five, and returns the count a call from there saw after
	// them.
	push := func(ctx context.Context, from, to string) (int64, error) {
		v, err := n.CallNamed(ctx, echo(from), testkit.Push{Name: "counter0", Node: to, Count: 10, Before: 5, Reset: true})
		if err != nil {
			return 0, err
		}
		return v.(int64), nil
	}

	type between struct {
		before, toV1, toV2 int64
		callErr            error
		letters            string
	}
	var seen between
	rep, err := n.UpgradeCluster(ctxWait(t), cluster.ClusterUpgrade{
		Plan: toV2, Nodes: bcd, WaveSize: 1,
		Gate: func(ctx context.Context, committed []string) (err error) {
			if len(committed) != 1 {
				return nil
			}
			// b runs v2; c and d run v1.
			v, err := n.CallNamed(ctx, on("c@localhost"), int64(0))
			if err != nil {
				return err
			}
			seen.before = v.(int64)
			if seen.toV1, err = push(ctx, "b@localhost", "c@localhost"); err != nil {
				return err
			}
			if seen.toV2, err = push(ctx, "c@localhost", "b@localhost"); err != nil {
				return err
			}
			_, seen.callErr = n.CallNamed(ctx, on("d@localhost"), testkit.Reset{})
			seen.letters, err = lettersOf(ctx, "c@localhost")
			return err
		},
	})
	require.NoError(t, err)
	require.Equal(t, cluster.ClusterCommitted, rep.Outcome, rep.Reason)

	// c's counter on v1: the call that read it added one, then ten
	// increments; the Reset was refused. Sent 11, refused at send 0,
	// handled 10, dead letters 1.
	assert.Equal(t, seen.before+1+10, seen.toV1, "the increments reached v1, the Reset did not")
	reason := "cluster: counter@v1 does not accept " + resetType + " from b@localhost: " +
		"it is a message of counter@v2, and v1 does not come after v2 in the lineage"
	assert.Equal(t, "testkit.Reset: "+reason, seen.letters, "one dead letter on c, with the reason")
	// b's counter on v2 took the Reset from a node on v1, and the
	// increments: five after the reset.
	assert.Equal(t, int64(5), seen.toV2)
	require.ErrorIs(t, seen.callErr, cluster.ErrNotAccepted)
	assert.Contains(t, seen.callErr.Error(), "counter@v1 does not accept "+resetType+" from t@localhost")

	// Every node on v2: Reset is delivered everywhere, no new dead letter.
	for _, from := range []string{"b@localhost", "c@localhost", "d@localhost"} {
		for _, to := range []string{"b@localhost", "c@localhost", "d@localhost"} {
			if from == to {
				continue
			}
			got, err := push(ctxWait(t), from, to)
			require.NoError(t, err)
			assert.Equal(t, int64(5), got, "%s → %s", from, to)
		}
	}
	for _, node := range []string{"b@localhost", "c@localhost", "d@localhost"} {
		l, err := lettersOf(ctxWait(t), node)
		require.NoError(t, err)
		want := map[string]string{"c@localhost": "testkit.Reset: " + reason}[node]
		assert.Equal(t, want, l, node)
	}
}

// During a rolling upgrade, a process switched to v2 ahead of the
// module's current version (pinned) takes v2's shapes; one still on v1
// does not.
func TestMessageShapesOfAPinnedProcess(t *testing.T) {
	reg := freePort(t)
	_, a := joinLocal(t, "a@localhost", reg)
	sysB, b, v2 := counterNode(t, "b@localhost", reg)
	v1, _ := sysB.Current("counter")
	require.NoError(t, testkit.DeclareCounter(a, v1, v2))
	require.NoError(t, testkit.DeclareCounter(b, v1, v2))
	_, err := sysB.Spawn("counter", nil, actor.WithName("counter1"))
	require.NoError(t, err)
	letters := deadLetters(t, sysB)

	require.NoError(t, sysB.Stage(v2))
	pinned, ok := sysB.Whereis("counter0")
	require.True(t, ok)
	for _, round := range []func() *actor.Round{
		func() *actor.Round {
			return sysB.Prepare([]actor.Request{{PID: pinned, Change: &actor.Change{To: v2}}})
		},
		func() *actor.Round { return sysB.CommitPinned([]actor.PID{pinned}) },
	} {
		r := round()
		require.NoError(t, r.Wait(ctxWait(t), nil))
		require.NoError(t, r.Answer(0).Err)
	}
	pv, ok := sysB.VersionOf(pinned)
	require.True(t, ok)
	require.True(t, pv.Pinned)
	cur, _ := sysB.Current("counter")
	require.Equal(t, "v1", cur.Name())

	c0 := cluster.Name{Name: "counter0", Node: b.Name()}
	c1 := cluster.Name{Name: "counter1", Node: b.Name()}
	for _, to := range []cluster.Name{c0, c1} {
		require.NoError(t, a.SendNamed(to, int64(1)))
		require.NoError(t, a.SendNamed(to, testkit.Reset{}))
	}
	assert.Equal(t, int64(0), count(t, a, c0), "v2, pinned, took the Reset")
	assert.Equal(t, int64(1), count(t, a, c1), "v1 did not")
	d := within(t, letters)
	var na *cluster.NotAcceptedError
	require.ErrorAs(t, d.Reason, &na)
	assert.Equal(t, "v1", na.Version)
}
