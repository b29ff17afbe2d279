package mailbox_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/mailbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// signal is a system message that carries its mark (PushSystemMarked),
// as the runtime's exit signal does.
type signal struct {
	name string
	at   mailbox.Mark
}

// pushSignal pushes a signal named name.
func pushSignal(m *mailbox.Mailbox, name string) (schedule bool, err error) {
	s := &signal{name: name}
	return m.PushSystemMarked(s, &s.at)
}

// nextSignal takes the next message, which must be a signal, and returns
// its name and mark.
func nextSignal(t *testing.T, m *mailbox.Mailbox) (string, mailbox.Mark) {
	t.Helper()
	v, lane, ok := m.Next()
	require.True(t, ok)
	require.Equal(t, mailbox.System, lane)
	s, isSignal := v.(*signal)
	require.True(t, isSignal, "%v", v)
	return s.name, s.at
}

// drain takes every message the owner may take now.
func drain(m *mailbox.Mailbox) (msgs []any, lanes []mailbox.Lane) {
	for {
		msg, lane, ok := m.Next()
		if !ok {
			return msgs, lanes
		}
		msgs = append(msgs, msg)
		lanes = append(lanes, lane)
	}
}

func TestSystemLaneServedFirst(t *testing.T) {
	for _, capacity := range []int{0, 8} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start()
		for i := range 3 {
			_, _, err := m.PushUser(i)
			require.NoError(t, err)
		}
		_, err := m.PushSystem("sig-a")
		require.NoError(t, err)

		msg, lane, ok := m.Next()
		require.True(t, ok)
		assert.Equal(t, "sig-a", msg)
		assert.Equal(t, mailbox.System, lane)

		msg, lane, ok = m.Next()
		require.True(t, ok)
		assert.Equal(t, 0, msg)
		assert.Equal(t, mailbox.User, lane)

		// A signal arriving mid-batch still overtakes queued user messages.
		_, err = m.PushSystem("sig-b")
		require.NoError(t, err)
		msgs, lanes := drain(&m)
		assert.Equal(t, []any{"sig-b", 1, 2}, msgs, "capacity %d", capacity)
		assert.Equal(t, []mailbox.Lane{mailbox.System, mailbox.User, mailbox.User}, lanes)
	}
}

// A user message pushed after a signal is never taken before it, also
// when the owner, running, found the system lane empty just before the
// signal came and then finds the message: it looks at the system lane
// again before it takes a user message. (The runtime counts on it: a call
// made after a child's exit is complete is served after the exit.) The
// owner keeps looking while a producer pushes pairs, so that its looks
// fall between the two pushes of a pair.
func TestSignalNotOvertakenByALaterMessage(t *testing.T) {
	const n = 50000
	for _, capacity := range []int{0, 1 << 20} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start() // the owner below runs throughout: no push schedules it
		var bad []int
		done := make(chan struct{})
		go func() {
			defer close(done)
			signal := -1 // the last signal taken
			for users := 0; users < n; {
				v, lane, ok := m.Peek() // never idles the mailbox
				switch {
				case !ok:
					runtime.Gosched()
				case lane == mailbox.System:
					signal = v.(int)
				default:
					users++
					if i := v.(int); i > signal {
						bad = append(bad, i)
					}
				}
			}
		}()
		for i := range n {
			_, err := m.PushSystem(i)
			require.NoError(t, err)
			_, _, err = m.PushUser(i)
			require.NoError(t, err)
		}
		<-done
		assert.Empty(t, bad, "capacity %d: user messages taken before the signal pushed ahead of them", capacity)
	}
}

func TestScheduleOncePerIdlePeriod(t *testing.T) {
	var m mailbox.Mailbox
	sched, _, err := m.PushUser(1)
	require.NoError(t, err)
	assert.True(t, sched, "first push into an idle mailbox schedules the owner")
	sched, _, _ = m.PushUser(2)
	assert.False(t, sched, "owner already scheduled")
	sched, _ = m.PushSystem("s")
	assert.False(t, sched)

	msgs, _ := drain(&m)
	assert.Equal(t, []any{"s", 1, 2}, msgs)

	sched, _, _ = m.PushUser(3)
	assert.True(t, sched, "after Next reported idle, the next push schedules again")
}

func TestStartAndIdle(t *testing.T) {
	var m mailbox.Mailbox
	m.Start()
	sched, _, _ := m.PushUser("during-init")
	assert.False(t, sched, "a starting owner is not scheduled by pushes")
	assert.False(t, m.Idle(), "Idle refuses while there is work")
	msgs, _ := drain(&m)
	assert.Equal(t, []any{"during-init"}, msgs)

	m.Start()
	assert.True(t, m.Idle())
	sched, _, _ = m.PushUser("later")
	assert.True(t, sched)
}

func TestRejectPolicy(t *testing.T) {
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: 2, Overflow: mailbox.Reject})
	m.Start()
	for i := range 2 {
		_, _, err := m.PushUser(i)
		require.NoError(t, err)
	}
	_, evicted, err := m.PushUser(2)
	require.ErrorIs(t, err, mailbox.ErrFull)
	assert.Nil(t, evicted)
	// Signals are never refused.
	_, err = m.PushSystem("sig")
	require.NoError(t, err)

	msgs, _ := drain(&m)
	assert.Equal(t, []any{"sig", 0, 1}, msgs, "the rejected message was not queued")

	_, _, err = m.PushUser(3)
	require.NoError(t, err, "room again once the owner took messages")
}

func TestDropOldestPolicy(t *testing.T) {
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: 3, Overflow: mailbox.DropOldest})
	m.Start()
	var dropped []any
	for i := range 7 {
		_, evicted, err := m.PushUser(i)
		require.NoError(t, err)
		if evicted != nil {
			dropped = append(dropped, evicted)
		}
	}
	assert.Equal(t, []any{0, 1, 2, 3}, dropped, "the oldest messages are handed back, in order")
	msgs, _ := drain(&m)
	assert.Equal(t, []any{4, 5, 6}, msgs)
}

func TestSuspendKeepsUserMessagesQueued(t *testing.T) {
	for _, capacity := range []int{0, 16} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start()
		_, _, _ = m.PushUser("u1")
		_, _, _ = m.PushUser("u2")
		// Owner takes one message, so an unbounded mailbox holds a batch.
		msg, _, _ := m.Next()
		require.Equal(t, "u1", msg)

		m.Suspend()
		assert.True(t, m.Suspended())
		_, _, _ = m.PushUser("u3")
		msgs, _ := drain(&m)
		assert.Empty(t, msgs, "suspended: no user message is served (capacity %d)", capacity)

		// While suspended and idle, user pushes do not wake the owner;
		// system pushes do.
		sched, _, _ := m.PushUser("u4")
		assert.False(t, sched)
		sched, _ = m.PushSystem("resume")
		assert.True(t, sched)
		msg, lane, ok := m.Next()
		require.True(t, ok)
		assert.Equal(t, "resume", msg)
		assert.Equal(t, mailbox.System, lane)

		m.Resume()
		msgs, _ = drain(&m)
		assert.Equal(t, []any{"u2", "u3", "u4"}, msgs, "order kept across the suspension")
	}
}

func TestCloseReturnsQueuedAndRefusesPushes(t *testing.T) {
	var m mailbox.Mailbox
	m.Start()
	_, _, _ = m.PushUser("a")
	_, _, _ = m.PushUser("b")
	msg, _, _ := m.Next() // "a"; "b" now sits in the owner's batch
	require.Equal(t, "a", msg)
	_, _, _ = m.PushUser("c")
	_, _ = m.PushSystem("link")

	sys, user := m.Close()
	assert.Equal(t, []any{"link"}, sys)
	assert.Equal(t, []any{"b", "c"}, user)
	assert.True(t, m.Closed())

	_, _, err := m.PushUser("d")
	assert.ErrorIs(t, err, mailbox.ErrClosed)
	_, err = m.PushSystem("e")
	assert.ErrorIs(t, err, mailbox.ErrClosed)
	sys, user = m.Close()
	assert.Empty(t, sys)
	assert.Empty(t, user)
}

func TestLen(t *testing.T) {
	var m mailbox.Mailbox
	m.Start()
	for i := range 5 {
		_, _, _ = m.PushUser(i)
	}
	_, _ = m.PushSystem("s")
	_, _, _ = m.Next() // system
	_, _, _ = m.Next() // user 0, rest moved to the owner's batch
	u, s := m.Len()
	assert.Equal(t, 4, u)
	assert.Equal(t, 0, s)
}

func TestPolicyString(t *testing.T) {
	assert.Equal(t, "reject", mailbox.Reject.String())
	assert.Equal(t, "drop_oldest", mailbox.DropOldest.String())
	assert.Equal(t, "policy(9)", mailbox.Policy(9).String())
}

// TestConcurrentProducers runs many producers against an owner that is
// started only when a push says so, as the actor runtime does. Every message
// must arrive exactly once, in per-producer order, and the owner must never
// run twice at once.
func TestConcurrentProducers(t *testing.T) {
	const producers, perProducer = 8, 5000
	for _, capacity := range []int{0, 64} {
		var (
			m      mailbox.Mailbox
			owner  sync.Mutex // held while a message is processed
			owners sync.WaitGroup
			mu     sync.Mutex
			next   = make([]int, producers)
			got    int
			bad    []string
		)
		m.Configure(mailbox.Options{Capacity: capacity, Overflow: mailbox.Reject})
		type msg struct{ from, seq int }
		run := func() {
			defer owners.Done()
			for {
				v, _, ok := m.Next()
				if !ok {
					return
				}
				if !owner.TryLock() {
					mu.Lock()
					bad = append(bad, "two owners consumed at once")
					mu.Unlock()
					continue
				}
				x := v.(msg)
				mu.Lock()
				if next[x.from] != x.seq {
					bad = append(bad, "out of order")
				}
				next[x.from] = x.seq + 1
				got++
				mu.Unlock()
				owner.Unlock()
			}
		}
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for s := 0; s < perProducer; {
					sched, _, err := m.PushUser(msg{p, s})
					if err != nil {
						// Bounded and full: the sender sees it and retries.
						continue
					}
					s++
					if sched {
						owners.Add(1)
						// A push may schedule while the previous owner is
						// still returning from Next; what must never
						// overlap is the handling of two messages.
						go run()
					}
				}
			})
		}
		wg.Wait()
		owners.Wait()
		// Everything was either consumed or is still queued (only when a
		// push raced with the owner going idle; then a schedule happened).
		rest, _ := drain(&m)
		assert.Empty(t, rest, "capacity %d", capacity)
		assert.Empty(t, bad, "capacity %d", capacity)
		assert.Equal(t, producers*perProducer, got, "capacity %d", capacity)
	}
}

func TestQueueCompactsWhenNeverEmpty(t *testing.T) {
	// A bounded lane that is never empty must keep bounded memory: push and
	// pop alternately far beyond the capacity and check FIFO all along.
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: 4})
	m.Start()
	_, _, _ = m.PushUser(0)
	for i := 1; i < 100000; i++ {
		_, _, err := m.PushUser(i)
		require.NoError(t, err)
		v, _, ok := m.Next()
		require.True(t, ok)
		require.Equal(t, i-1, v)
	}
}

func TestInsertUserKeepsArrivalOrder(t *testing.T) {
	for _, capacity := range []int{0, 16} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start()
		_, _, _ = m.PushUser("u1")
		_, _, _ = m.PushUser("u2")
		v, _, _ := m.Next() // u1; u2 stays (in the owner's batch when unbounded)
		require.Equal(t, "u1", v)
		_, _ = pushSignal(&m, "sig-a") // arrives after u2
		_, _, _ = m.PushUser("u3")
		_, _ = pushSignal(&m, "sig-b") // arrives after u3
		_, _, _ = m.PushUser("u4")

		name, mark := nextSignal(t, &m)
		require.Equal(t, "sig-a", name)
		m.InsertUser("exit-a", mark)
		name, mark = nextSignal(t, &m)
		require.Equal(t, "sig-b", name)
		m.InsertUser("exit-b", mark)

		msgs, _ := drain(&m)
		assert.Equal(t, []any{"u2", "exit-a", "u3", "exit-b", "u4"}, msgs, "capacity %d", capacity)

		// A mark whose messages were all taken inserts at the head.
		_, _, _ = m.PushUser("u5")
		_, _ = pushSignal(&m, "sig-c")
		_, _, _ = m.PushUser("u6")
		name, mark = nextSignal(t, &m)
		require.Equal(t, "sig-c", name)
		v, _, _ = m.Next()
		require.Equal(t, "u5", v)
		m.InsertUser("exit-c", mark)
		msgs, _ = drain(&m)
		assert.Equal(t, []any{"exit-c", "u6"}, msgs)
	}
}

func TestBacklogMovesWholeAndInOrder(t *testing.T) {
	for _, capacity := range []int{0, 2} {
		var old mailbox.Mailbox
		old.Configure(mailbox.Options{Capacity: capacity, Overflow: mailbox.DropOldest})
		old.Start()
		for i := range 5 {
			_, _, _ = old.PushUser(i)
		}
		v, _, _ := old.Next() // the owner took a batch (unbounded) and one message
		_, _ = old.PushSystem("sig")
		sys, backlog := old.CloseBacklog()
		assert.Equal(t, []any{"sig"}, sys)
		_, _, err := old.PushUser("late")
		assert.ErrorIs(t, err, mailbox.ErrClosed)
		want := []any{1, 2, 3, 4}
		if capacity == 2 {
			want = []any{4} // 0..2 were evicted by drop-oldest, 3 was taken
		}
		require.NotNil(t, v)
		assert.Equal(t, len(want), backlog.Len(), "capacity %d", capacity)
		assert.Equal(t, want, backlog.Messages())

		var next mailbox.Mailbox
		next.Configure(mailbox.Options{Capacity: capacity})
		next.Start()
		next.Adopt(backlog)
		assert.Zero(t, backlog.Len(), "taken over")
		_, _, _ = next.PushUser("new")
		msgs, _ := drain(&next)
		assert.Equal(t, append(want, "new"), msgs, "inherited messages first, in order")
	}
}

func TestNextUserStopsAtSignalsAndSuspension(t *testing.T) {
	for _, capacity := range []int{0, 8} {
		var m mailbox.Mailbox
		m.Configure(mailbox.Options{Capacity: capacity})
		m.Start()
		for i := range 4 {
			_, _, err := m.PushUser(i)
			require.NoError(t, err)
		}
		msg, _, _ := m.Next()
		require.Equal(t, 0, msg)
		msg, ok := m.NextUser()
		require.True(t, ok)
		assert.Equal(t, 1, msg, "capacity %d", capacity)

		// A waiting signal ends the batch; the signal and the rest keep
		// their order for Next.
		_, err := m.PushSystem("sig")
		require.NoError(t, err)
		_, ok = m.NextUser()
		assert.False(t, ok, "a signal is waiting")
		msg, lane, _ := m.Next()
		assert.Equal(t, "sig", msg)
		assert.Equal(t, mailbox.System, lane)

		m.Suspend()
		_, ok = m.NextUser()
		assert.False(t, ok, "suspended")
		m.Resume()
		msg, ok = m.NextUser()
		require.True(t, ok)
		assert.Equal(t, 2, msg)
		msg, ok = m.NextUser()
		require.True(t, ok)
		assert.Equal(t, 3, msg)
		_, ok = m.NextUser()
		assert.False(t, ok, "empty")

		// NextUser never idles the mailbox: a push does not ask for a
		// start while the owner is still running.
		sched, _, _ := m.PushUser(4)
		assert.False(t, sched, "capacity %d", capacity)
		msg, ok = m.NextUser()
		require.True(t, ok)
		assert.Equal(t, 4, msg)
		// Marks stay consistent: an inserted message lands after what was taken.
		_, _, _ = m.PushUser(5)
		m.InsertUser("x", mailbox.Mark(5))
		msgs, _ := drain(&m)
		assert.Equal(t, []any{"x", 5}, msgs)
	}
}

func TestDepthFromAnotherGoroutine(t *testing.T) {
	var m mailbox.Mailbox
	for i := range 4 {
		_, _, err := m.PushUser(i)
		require.NoError(t, err)
	}
	depth := make(chan int)
	go func() { depth <- m.Depth() }()
	assert.Equal(t, 4, <-depth)
	msg, _, ok := m.Next() // takes on all four, one message out
	require.True(t, ok)
	assert.Equal(t, 0, msg)
	assert.Equal(t, 3, m.Depth())
	assert.Equal(t, uint64(1), m.Taken())
	for left := 2; left >= 0; left-- {
		_, _, ok = m.Next() // the lock-free fast path need not publish
		require.True(t, ok)
		d := m.Depth()
		assert.GreaterOrEqual(t, d, left, "never below what is queued")
		assert.LessOrEqual(t, d, 3, "at most one batch high while draining it")
	}
	_, _, ok = m.Next() // empty: idle, published
	require.False(t, ok)
	assert.Equal(t, 0, m.Depth())
	assert.Equal(t, uint64(4), m.Taken())
}
