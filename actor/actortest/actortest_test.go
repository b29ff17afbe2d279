package actortest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeClockFiresInOrder(t *testing.T) {
	c := actortest.NewFakeClock()
	start := c.Now()
	var fired []string
	c.AfterFunc(3*time.Second, func() { fired = append(fired, "3s") })
	c.AfterFunc(time.Second, func() {
		fired = append(fired, "1s")
		// A timer set by a firing one is honoured within the same Advance.
		c.AfterFunc(time.Second, func() { fired = append(fired, "1s+1s") })
	})
	stopped := c.AfterFunc(2500*time.Millisecond, func() { fired = append(fired, "stopped") })
	tm := c.NewTimer(2 * time.Second)
	assert.True(t, stopped.Stop())
	assert.False(t, stopped.Stop())
	assert.Equal(t, 3, c.Pending())

	c.Advance(2 * time.Second)
	assert.Equal(t, []string{"1s", "1s+1s"}, fired)
	select {
	case at := <-tm.C():
		assert.Equal(t, start.Add(2*time.Second), at)
	default:
		t.Fatal("channel timer did not fire")
	}
	c.Advance(time.Second)
	assert.Equal(t, []string{"1s", "1s+1s", "3s"}, fired)
	assert.Equal(t, start.Add(3*time.Second), c.Now())
	assert.Zero(t, c.Pending())

	assert.False(t, tm.Reset(time.Second), "a fired timer is not active")
	c.Advance(time.Second)
	<-tm.C()
}

func TestFakeClockWaitForTimers(t *testing.T) {
	c := actortest.NewFakeClock()
	armed := make(chan struct{})
	go func() {
		c.NewTimer(time.Minute)
		close(armed)
	}()
	require.NoError(t, c.WaitForTimers(context.Background(), 1))
	<-armed
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, c.WaitForTimers(ctx, 2), context.Canceled)
}

// A background timer fires as the clock moves, but Pending and
// WaitForTimers count only the others.
func TestFakeClockBackgroundTimers(t *testing.T) {
	c := actortest.NewFakeClock()
	fired := 0
	bg := c.AfterFuncBackground(time.Second, func() { fired++ })
	assert.Zero(t, c.Pending())
	assert.Equal(t, 1, c.PendingBackground())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, c.WaitForTimers(ctx, 1), context.Canceled, "a background timer is not waited for")

	c.AfterFunc(2*time.Second, func() {})
	require.NoError(t, c.WaitForTimers(context.Background(), 1))
	c.Advance(time.Second)
	assert.Equal(t, 1, fired)
	assert.Zero(t, c.PendingBackground())
	assert.Equal(t, 1, c.Pending())
	bg.Reset(time.Second)
	assert.Equal(t, 1, c.PendingBackground(), "still a background timer after Reset")
	assert.True(t, bg.Stop())
	assert.Zero(t, c.PendingBackground())
}

func TestProbe(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(actor.Define("fragile", "v1", actor.Funcs[int]{
		Handle: func(_ *actor.Context, n int, msg any) (int, error) {
			return n, errors.New("broken")
		},
	})))
	probe := actortest.NewProbe(t, sys.System)
	require.NoError(t, sys.Send(probe.PID(), "hello"))
	probe.Expect("hello")

	pid, err := sys.Spawn("fragile", nil)
	require.NoError(t, err)
	probe.Link(pid)
	ref := probe.Monitor(pid)
	require.NoError(t, sys.Send(pid, "x"))
	probe.ExpectExit(pid, nil)
	d := probe.ExpectDown(pid, nil)
	assert.Equal(t, ref, d.Ref)
	assert.EqualError(t, d.Reason, "broken")

	_, err = probe.RecvWithin(time.Millisecond)
	assert.Error(t, err, "nothing else arrived")
	assert.Empty(t, probe.Received())
}

// A second System in the same test gets its own probes and clock.
func TestSystemsAreIndependent(t *testing.T) {
	a, b := actortest.NewSystem(t), actortest.NewSystem(t)
	pa, pb := actortest.NewProbe(t, a.System), actortest.NewProbe(t, b.System)
	a.SendAfter(pa.PID(), time.Second, "a")
	b.SendAfter(pb.PID(), time.Second, "b")
	a.Clock.Advance(time.Second)
	pa.Expect("a")
	assert.Empty(t, pb.Received())
	assert.Equal(t, 1, b.Clock.Pending())
	b.Clock.Advance(time.Second)
	pb.Expect("b")
}

// logRecorder is a testing.TB that keeps what the logger writes.
type logRecorder struct {
	*testing.T
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func TestLogLevel(t *testing.T) {
	rec := &logRecorder{T: t}
	sys := actortest.NewSystem(rec, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.DebugLevel)))
	require.NoError(t, sys.Load(actor.Define("quiet", "v1", actor.Funcs[int]{
		Handle: func(_ *actor.Context, n int, _ any) (int, error) { return n, nil },
	})))
	pid, err := sys.Spawn("quiet", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Stop(context.Background(), pid))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Contains(t, strings.Join(rec.lines, "\n"), "process exited", "debug lines reach the test at debug level")
}
